// The Counters submessage as ts-proto writes it (zero counters omitted), for the replies that
// are written field by field.

import type { SgCounters } from "../../engine/kernel-port.js";
import type { ProtoWriter } from "./proto-writer.js";

/** A Counters field `tag`, always present (an entry without counters is all zeros). */
export function writeCounters(w: ProtoWriter, tag: number, c: SgCounters | undefined): void {
  const at = w.fork(tag);
  if (c !== undefined) {
    if (c.packets !== 0n) w.uint32(8).uint64(c.packets);
    if (c.bytes !== 0n) w.uint32(16).uint64(c.bytes);
    if (c.wrongIf !== 0n) w.uint32(24).uint64(c.wrongIf);
  }
  w.join(at);
}

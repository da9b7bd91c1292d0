// One WatchStatsResponse message written straight from the engine's stats views and the rates
// computed for them: RouteStats copies the source/group/iif bytes of its route's cached Route
// encoding (route-wire.ts). Same bytes as WatchStatsResponse.encode of the converted message.

import type { RouteStatsView, VifView } from "../engine/route-engine.js";
import { VifStatus } from "../gen/mfc.js";
import { Timestamp } from "../gen/google/protobuf/timestamp.js";
import { ProtoWriter } from "./proto-writer.js";
import { toVifStatus } from "./proto-views.js";
import { routeWire } from "./route-wire.js";
import { WireReply } from "./wire-reply.js";
import { writeCounters } from "./write-counters.js";

/** Size of the last reply: the next one starts with a buffer that fits (no regrowth). */
let lastSize = 64 * 1024;

export interface WatchStatsPart {
  time: Timestamp;
  /** All routes of the update; this message carries routes[from, to). */
  routes: readonly RouteStatsView[];
  packetsPerSecond: Float64Array;
  bytesPerSecond: Float64Array;
  from: number;
  to: number;
  vifs: readonly VifView[];
  part: number;
  parts: number;
}

export class WatchStatsReply extends WireReply {
  constructor(private readonly m: WatchStatsPart) {
    super();
  }

  encode(): Uint8Array {
    const { m } = this;
    const w = new ProtoWriter(lastSize + (lastSize >> 3));
    w.bytes(10, Timestamp.encode(m.time).finish());
    for (let i = m.from; i < m.to; i++) {
      const { spec, counters } = m.routes[i] as RouteStatsView;
      const wire = routeWire(spec);
      const at = w.fork(18);
      w.raw(wire.route, 0, wire.statsHeadEnd);
      if (spec.table !== 0) w.uint32(56).uint32(spec.table);
      writeCounters(w, 34, counters);
      const pps = m.packetsPerSecond[i] as number;
      const bps = m.bytesPerSecond[i] as number;
      if (pps !== 0) w.uint32(41).double(pps);
      if (bps !== 0) w.uint32(49).double(bps);
      w.join(at);
    }
    for (const vif of m.vifs) w.bytes(26, VifStatus.encode(toVifStatus(vif)).finish());
    if (m.part !== 0) w.uint32(32).uint32(m.part);
    if (m.parts !== 0) w.uint32(40).uint32(m.parts);
    lastSize = w.length;
    return w.finish();
  }
}

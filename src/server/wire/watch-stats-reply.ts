// One WatchStats update written in one pass over the engine's routes: the messages of the
// update (ROUTES_PER_MESSAGE routes each) are filled as the counters are read, each RouteStats
// copying the source/group/iif bytes of its route's cached Route encoding (route-wire.ts).
// Same bytes as WatchStatsResponse.encode of the converted messages.

import type { RouteEngine, StatsFilter } from "../../engine/route-engine.js";
import { VifStatus } from "../../gen/mfc.js";
import { Timestamp } from "../../gen/google/protobuf/timestamp.js";
import type { CounterRates } from "./counter-rates.js";
import { ProtoWriter } from "./proto-writer.js";
import { toVifStatus } from "./proto-views.js";
import { routeWire, statsHeadEnd } from "./route-wire.js";
import { WireReply } from "./wire-reply.js";
import { writeCounters } from "./write-counters.js";

/** Size of the last full message: the next ones start with a buffer that fits. */
let lastSize = 64 * 1024;

/** The messages of one update (at least one), all with the same `time`. */
export function watchStatsReplies(
  engine: Pick<RouteEngine, "forEachStats" | "vifViews">,
  filter: StatsFilter,
  rates: CounterRates,
  time: Timestamp,
  routesPerMessage: number,
): WireReply[] {
  const timeBytes = Timestamp.encode(time).finish();
  const messages: ProtoWriter[] = [];
  let w: ProtoWriter | undefined;
  let inMessage = 0;
  const start = (): ProtoWriter => {
    const next = new ProtoWriter(lastSize + (lastSize >> 3));
    next.bytes(10, timeBytes);
    messages.push(next);
    inMessage = 0;
    return next;
  };
  engine.forEachStats(filter, (spec, counters, learnedFrom) => {
    if (w === undefined || inMessage === routesPerMessage) w = start();
    inMessage++;
    rates.rate(spec, counters);
    const wire = routeWire(spec);
    const at = w.fork(18);
    w.rawLatin1(wire, statsHeadEnd(wire));
    if (spec.table !== 0) w.uint32(56).uint32(spec.table);
    writeCounters(w, 34, counters);
    if (rates.packetsPerSecond !== 0) w.uint32(41).double(rates.packetsPerSecond);
    if (rates.bytesPerSecond !== 0) w.uint32(49).double(rates.bytesPerSecond);
    if (learnedFrom !== undefined) w.uint32(64).uint32(1).string(74, learnedFrom);
    w.join(at);
  });
  rates.end();
  const first = w === undefined ? start() : (messages[0] as ProtoWriter);
  for (const vif of engine.vifViews()) first.bytes(26, VifStatus.encode(toVifStatus(vif)).finish());
  const parts = messages.length;
  lastSize = 0;
  return messages.map((m, part) => {
    if (part !== 0) m.uint32(32).uint32(part);
    m.uint32(40).uint32(parts);
    lastSize = Math.max(lastSize, m.length);
    return new WireReply(m.finish());
  });
}

// ListRoutesResponse written in one pass over the engine's routes: each RouteStatus copies its
// route's cached Route bytes (route-wire.ts) and writes the few per-call fields (state,
// reason, counters, ...) directly; no view outlives its own route's write. Same bytes as
// ListRoutesResponse.encode of the converted message (test/unit/wire-replies.test.ts).

import type { RouteEngine, RouteView } from "../../engine/route-engine.js";
import { ForeignEntry, RouteState, VifStatus } from "../../gen/mfc.js";
import { ProtoWriter } from "./proto-writer.js";
import { toForeignEntry, toVifStatus } from "./proto-views.js";
import { routeWire } from "./route-wire.js";
import { WireReply } from "./wire-reply.js";
import { writeCounters } from "./write-counters.js";

const STATE: Record<RouteView["state"], RouteState> = {
  installed: RouteState.ROUTE_STATE_INSTALLED,
  pending: RouteState.ROUTE_STATE_PENDING,
  drifted: RouteState.ROUTE_STATE_DRIFTED,
};

/** Size of the last reply: the next one starts with a buffer that fits (no regrowth). */
let lastSize = 64 * 1024;

/** The ListRoutes response for the engine's state now (counters read from the kernel). */
export function listRoutesReply(engine: Pick<RouteEngine, "forEachView" | "vifViews" | "foreignViews">): WireReply {
  const w = new ProtoWriter(lastSize + (lastSize >> 3));
  engine.forEachView((view) => writeRouteStatus(w, view));
  for (const vif of engine.vifViews()) w.bytes(18, VifStatus.encode(toVifStatus(vif)).finish());
  for (const entry of engine.foreignViews()) w.bytes(26, ForeignEntry.encode(toForeignEntry(entry)).finish());
  lastSize = w.length;
  return new WireReply(w.finish());
}

/** ListRoutesResponse.routes (field 1): RouteStatus fields in ts-proto's order, defaults omitted. */
function writeRouteStatus(w: ProtoWriter, view: RouteView): void {
  const at = w.fork(10);
  const route = routeWire(view.spec);
  w.uint32(10).uint32(route.length).rawLatin1(route);
  w.uint32(16).uint32(STATE[view.state]);
  if (view.reason !== "") w.string(26, view.reason);
  writeCounters(w, 34, view.counters);
  if (view.owner !== "") w.string(42, view.owner);
  for (const name of view.missing) w.string(50, name);
  for (const name of view.down) w.string(58, name);
  if (view.driftRepairs !== 0) w.uint32(64).uint32(view.driftRepairs);
  if (view.lastDrift !== "") w.string(74, view.lastDrift);
  if (view.learned) w.uint32(80).uint32(1);
  if (view.stopFilter) w.uint32(88).uint32(1);
  if (view.template) w.string(98, view.template);
  w.join(at);
}

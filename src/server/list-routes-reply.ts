// ListRoutesResponse written straight from the engine's views: each RouteStatus copies its
// route's cached Route bytes (route-wire.ts) and writes the few per-call fields (state,
// reason, counters, ...) directly. Same bytes as ListRoutesResponse.encode of the converted
// message (test/unit/list-routes-reply.test.ts), at a fraction of the CPU and garbage.

import type { ForeignView, RouteView, VifView } from "../engine/route-engine.js";
import { ForeignEntry, RouteState, VifStatus } from "../gen/mfc.js";
import { ProtoWriter } from "./proto-writer.js";
import { toForeignEntry, toVifStatus } from "./proto-views.js";
import { routeWire } from "./route-wire.js";
import { writeCounters } from "./write-counters.js";
import { WireReply } from "./wire-reply.js";

const STATE: Record<RouteView["state"], RouteState> = {
  installed: RouteState.ROUTE_STATE_INSTALLED,
  pending: RouteState.ROUTE_STATE_PENDING,
  drifted: RouteState.ROUTE_STATE_DRIFTED,
};

/** Size of the last reply: the next one starts with a buffer that fits (no regrowth). */
let lastSize = 64 * 1024;

export class ListRoutesReply extends WireReply {
  constructor(
    private readonly routes: readonly RouteView[],
    private readonly vifs: readonly VifView[],
    private readonly foreign: readonly ForeignView[],
  ) {
    super();
  }

  encode(): Uint8Array {
    const w = new ProtoWriter(lastSize + (lastSize >> 3));
    for (const view of this.routes) writeRouteStatus(w, view);
    for (const vif of this.vifs) w.bytes(18, VifStatus.encode(toVifStatus(vif)).finish());
    for (const entry of this.foreign) w.bytes(26, ForeignEntry.encode(toForeignEntry(entry)).finish());
    lastSize = w.length;
    return w.finish();
  }
}

/** ListRoutesResponse.routes (field 1): RouteStatus fields in ts-proto's order, defaults omitted. */
function writeRouteStatus(w: ProtoWriter, view: RouteView): void {
  const at = w.fork(10);
  w.bytes(10, routeWire(view.spec).route);
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

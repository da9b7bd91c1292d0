// A route's encoded Route message, cached by the identity of its RouteSpec: the engine never
// mutates a route's spec, it replaces the object when the route changes, so an entry cannot go
// stale and goes away with the spec (WeakMap). ListRoutes and WatchStats copy these bytes
// instead of converting and encoding 10k Route messages per call. Kept as a latin1 string
// (one byte per char), a fraction of a Buffer and its wrapper per route (README "Measured figures
// in the code").

import type { RouteSpec } from "../../engine/route-engine.js";
import { Route } from "../../gen/mfc.js";
import { toRoute } from "./proto-views.js";

const cache = new WeakMap<RouteSpec, string>();

/** The Route message body of `spec` (fields only, no tag or length), as latin1. */
export function routeWire(spec: RouteSpec): string {
  let wire = cache.get(spec);
  if (wire === undefined) {
    wire = Buffer.from(Route.encode(toRoute(spec)).finish()).toString("latin1");
    cache.set(spec, wire);
  }
  return wire;
}

/**
 * End of the source (1), group (2) and iif (3) fields in a routeWire(): RouteStats has these
 * three fields with the same numbers, so WatchStats copies wire[0, statsHeadEnd).
 */
export function statsHeadEnd(wire: string): number {
  let pos = 0;
  // Tags 10/18/26 are one byte, then a varint length; oifs (34) and later fields end it.
  while (pos < wire.length && wire.charCodeAt(pos) <= 26) {
    pos++;
    let len = 0;
    let shift = 0;
    let b: number;
    do {
      b = wire.charCodeAt(pos++);
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    pos += len;
  }
  return pos;
}

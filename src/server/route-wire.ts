// A route's encoded Route message, cached by the identity of its RouteSpec: the engine never
// mutates a route's spec, it replaces the object when the route changes, so an entry cannot go
// stale and goes away with the spec (WeakMap). ListRoutes and WatchStats then copy these bytes
// instead of converting and encoding 10k Route messages per call.

import type { RouteSpec } from "../engine/route-engine.js";
import { routeKeyString } from "../engine/route-key.js";
import { Route } from "../gen/mfc.js";
import { toRoute } from "./proto-views.js";

export interface RouteWire {
  /** The Route message body (fields only, no tag or length). */
  route: Buffer;
  /**
   * End of the source, group and iif fields in `route`: RouteStats has the same three fields
   * with the same numbers, so WatchStats copies route[0, statsHeadEnd).
   */
  statsHeadEnd: number;
  /** routeKeyString(spec), set on first use (WatchStats rates are keyed by it). */
  id?: string;
}

const cache = new WeakMap<RouteSpec, RouteWire>();

/** RouteStatus / RouteStats field tags sharing Route's numbering. */
const OIFS_TAG = 34;

export function routeWire(spec: RouteSpec): RouteWire {
  let wire = cache.get(spec);
  if (wire === undefined) {
    // Buffer.from copies into Node's shared pool: one small slice per route, not one
    // ArrayBuffer each.
    const route = Buffer.from(Route.encode(toRoute(spec)).finish());
    wire = { route, statsHeadEnd: statsHeadEnd(route) };
    cache.set(spec, wire);
  }
  return wire;
}

export function routeWireId(spec: RouteSpec): string {
  const wire = routeWire(spec);
  return (wire.id ??= routeKeyString(spec));
}

/** Offset of the first field after source (1), group (2) and iif (3), all length-delimited. */
function statsHeadEnd(route: Buffer): number {
  let pos = 0;
  while (pos < route.length) {
    const tag = route[pos] as number;
    if (tag >= OIFS_TAG) break;
    // Tags 10/18/26 are one byte, then a varint length.
    let len = 0;
    let shift = 0;
    let b: number;
    pos++;
    do {
      b = route[pos++] as number;
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    pos += len;
  }
  return pos;
}

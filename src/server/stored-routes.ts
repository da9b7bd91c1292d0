// Engine routes ↔ state-file routes. The service buffers a record synchronously right after
// the engine applied a change — so the file's order is the engine's order — and answers only
// after the store's flush() resolved.

import type { RouteSpec, StoredRouteRecord } from "../engine/route-engine.js";
import type { StoredRoute } from "../state/stored-route.js";

export function toStoredRoute(spec: RouteSpec, owner: string): StoredRoute {
  return {
    family: spec.family,
    table: spec.table,
    source: spec.source,
    group: spec.group,
    iif: spec.iif,
    oifs: [...spec.oifs],
    owner,
  };
}

export function fromStoredRoute(route: StoredRoute): StoredRouteRecord {
  return {
    spec: {
      family: route.family,
      table: route.table,
      source: route.source,
      group: route.group,
      iif: route.iif,
      oifs: [...route.oifs],
    },
    owner: route.owner,
  };
}

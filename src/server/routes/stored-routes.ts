// Engine routes ↔ state-file routes. The service buffers a record synchronously right after
// the engine applied a change — so the file's order is the engine's order — and answers only
// after the store's flush() resolved.

import type { RouteSpec, StoredRouteRecord } from "../../engine/route-engine.js";
import { copyRouteFields } from "../../shared/route-fields.js";
import type { StoredRoute } from "../../state/stored-route.js";

export function toStoredRoute(spec: RouteSpec, owner: string): StoredRoute {
  const stored: StoredRoute = { ...copyRouteFields(spec), owner };
  if (spec.rewriteSource !== undefined) stored.rewriteSource = spec.rewriteSource;
  if (spec.setTtl !== undefined) stored.setTtl = spec.setTtl;
  if (spec.oifTtl !== undefined) stored.oifTtl = { ...spec.oifTtl };
  return stored;
}

export function fromStoredRoute(route: StoredRoute): StoredRouteRecord {
  const record: StoredRouteRecord = {
    spec: copyRouteFields(route),
    owner: route.owner,
  };
  if (typeof route.rewriteSource === "string") record.spec.rewriteSource = route.rewriteSource;
  if (typeof route.setTtl === "number") record.spec.setTtl = route.setTtl;
  if (typeof route.oifTtl === "object" && route.oifTtl !== null) {
    record.spec.oifTtl = { ...(route.oifTtl as Record<string, number>) };
  }
  return record;
}

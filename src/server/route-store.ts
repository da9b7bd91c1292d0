// What the service needs from durable state (src/state implements it; `--state-file none` is a
// no-op store). Mutations are buffered synchronously right after the engine applied them — so
// the file's order is the engine's order — and an RPC answers only after flush() resolved.

import type { RouteSpec, StoredRouteRecord } from "../engine/route-engine.js";
import type { AddressFamily, RouteKey } from "../engine/route-key.js";

export interface StoredRoute {
  family: AddressFamily;
  table: number;
  source: string;
  group: string;
  iif: string;
  oifs: string[];
  owner: string;
  [extra: string]: unknown;
}

export interface RouteStore {
  put(route: StoredRoute): void;
  delete(key: RouteKey): void;
  flush(): Promise<void>;
}

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

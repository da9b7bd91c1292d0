// What the engine needs from desired-state storage. StateStore keeps it in a file,
// NullStateStore (--state-file none) only in memory; the engine cannot tell them apart.

import type { RouteKey } from "../engine/route-key.js";
import type { StoredRoute } from "./stored-route.js";

export interface RouteStore {
  /** The file routes are kept in; undefined when they are not persisted. */
  readonly path: string | undefined;
  /** Number of live routes. */
  readonly size: number;
  /** Buffers a route (replacing any with the same key); durable once a later flush() resolves. */
  put(route: StoredRoute): void;
  /** Buffers a removal; false (and nothing buffered) if no route has that key. */
  delete(key: RouteKey): boolean;
  /** Resolves once everything buffered before the call is durable. */
  flush(): Promise<void>;
  /** Flushes, then releases the file. */
  close(): Promise<void>;
  /** The live routes, for diagnostics and tests. */
  routes(): StoredRoute[];
}

// --state-file none: the RouteStore surface without a file, for throwaway labs and tests.
// Routes still tracked so routes()/size answer the same as with a file.

import { routeKeyString, type RouteKey } from "../engine/route-key.js";
import type { RouteStore } from "./route-store.js";
import type { StoredRoute } from "./stored-route.js";

export class NullStateStore implements RouteStore {
  readonly path = undefined;
  private readonly live = new Map<string, StoredRoute>();

  get size(): number {
    return this.live.size;
  }

  put(route: StoredRoute): void {
    // A copy, like the file store's snapshot: later mutation by the caller is not "stored".
    this.live.set(routeKeyString(route), { ...route, oifs: [...route.oifs] });
  }

  delete(key: RouteKey): boolean {
    return this.live.delete(routeKeyString(key));
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  routes(): StoredRoute[] {
    return [...this.live.values()].map((r) => ({ ...r, oifs: [...r.oifs] }));
  }
}

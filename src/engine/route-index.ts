// The routes by identity, and the two lookups the engine's events need: by interface name
// (hot-plug) and by kernel entry key (kernel MFC events name entries by their rewritten source).

import { isTemplateKey } from "../address/index.js";
import { templateIifAmbiguous } from "./route-errors.js";
import { routeKeyString, type RouteKey } from "./route-key.js";
import { kernelKeyString, type Route } from "./route-record.js";
import type { RouteSpec } from "./route-types.js";

export class RouteIndex {
  readonly #routes = new Map<string, Route>();
  /** Route ids by every interface name they mention (hot-plug looks routes up by name). */
  readonly #byName = new Map<string, Set<string>>();
  /** Kernel entry key (with the rewritten source) → route id: kernel events name entries so. */
  readonly #byKernelKey = new Map<string, string>();

  get size(): number {
    return this.#routes.size;
  }

  get(id: string): Route | undefined {
    return this.#routes.get(id);
  }

  has(id: string): boolean {
    return this.#routes.has(id);
  }

  /** Store a route (index() makes its names and kernel key findable). */
  set(id: string, route: Route): void {
    this.#routes.set(id, route);
  }

  delete(id: string): void {
    this.#routes.delete(id);
  }

  values(): IterableIterator<Route> {
    return this.#routes.values();
  }

  /** Interface name → ids of the routes naming it. */
  get byName(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.#byName;
  }

  /**
   * A template named without its iif: the one template with that (source, group), undefined
   * when there is none; FAILED_PRECONDITION listing the iifs when there are several.
   */
  onlyTemplate(key: RouteKey & { iif?: string }): Route | undefined {
    if (key.iif || !isTemplateKey(key)) return undefined;
    const candidates: Route[] = [];
    for (const route of this.#routes.values()) {
      const { spec } = route;
      if (spec.source === key.source && spec.group === key.group && spec.family === key.family && spec.table === key.table) {
        candidates.push(route);
      }
    }
    if (candidates.length <= 1) return candidates[0];
    throw templateIifAmbiguous(key, candidates.map((r) => r.spec.iif).sort());
  }

  byKernel(key: RouteKey): Route | undefined {
    const id = this.#byKernelKey.get(routeKeyString(key));
    return id === undefined ? undefined : this.#routes.get(id);
  }

  /** Another route whose kernel entry would be the same as this spec's. */
  kernelKeyClash(spec: RouteSpec, id: string): Route | undefined {
    if (isTemplateKey(spec)) return undefined;
    const other = this.#byKernelKey.get(spec.rewriteSource === undefined ? id : kernelKeyString(spec));
    return other !== undefined && other !== id ? this.#routes.get(other) : undefined;
  }

  index(route: Route): void {
    const { spec } = route;
    // Without a rewrite the kernel key is the route id (bulk applies index 100k routes).
    if (!isTemplateKey(spec)) this.#byKernelKey.set(spec.rewriteSource === undefined ? route.id : kernelKeyString(spec), route.id);
    this.#indexName(spec.iif, route.id);
    for (const name of spec.oifs) this.#indexName(name, route.id);
  }

  #indexName(name: string, id: string): void {
    let ids = this.#byName.get(name);
    if (!ids) this.#byName.set(name, (ids = new Set()));
    ids.add(id);
  }

  unindex(route: Route): void {
    if (this.#byKernelKey.get(kernelKeyString(route.spec)) === route.id) this.#byKernelKey.delete(kernelKeyString(route.spec));
    for (const name of [route.spec.iif, ...route.spec.oifs]) {
      const ids = this.#byName.get(name);
      ids?.delete(route.id);
      if (ids?.size === 0) this.#byName.delete(name);
    }
  }
}

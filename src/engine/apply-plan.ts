// The pure part of ApplyRoutes: what an apply would add, remove, replace and keep, and whether
// the VIFs it needs fit — decided before anything touches the kernel (a dry run stops here).

import { DomainError } from "./domain-error.js";
import { liveSlot, lookup, type IfindexCache, type KernelTable } from "./kernel-table.js";
import type { KernelTables } from "./kernel-tables.js";
import { emptyApply, kernelKeyTaken, routeLimit, routesOwnedByOthers, vifTableFull } from "./route-errors.js";
import type { RouteIndex } from "./route-index.js";
import { routeKeyString, tableKeyString, type AddressFamily } from "./route-key.js";
import { sameForwarding, type Route } from "./route-record.js";
import { kernelSource, type ApplyOptions, type ApplyResult, type RouteSpec } from "./route-types.js";
import { MAX_VIFS } from "./vif-table.js";

export interface ApplyPlan {
  result: ApplyResult;
  /** Routes of the owner the apply removes. */
  removed: Route[];
  /** Ids of result.added, aligned (each computed once for 100k-route applies). */
  addedIds: string[];
}

/** Diff `owner`'s routes against `specs`; throws for duplicates, other owners' routes and the route limit. */
export function planApply(routes: RouteIndex, owner: string, specs: RouteSpec[], options: ApplyOptions, maxRoutes: number): ApplyPlan {
  if (specs.length === 0 && !options.allowEmpty) throw emptyApply(owner);
  // 100k-route applies: each id is computed once, and plain loops (no per-route closures).
  const wanted = new Map<string, RouteSpec>();
  const conflicts: string[] = [];
  const addedIds: string[] = [];
  const result: ApplyResult = { added: [], removed: [], replaced: [], unchanged: [], dryRun: !!options.dryRun };
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i] as RouteSpec;
    const id = routeKeyString(spec);
    if (wanted.has(id)) {
      throw DomainError.invalid([
        { field: `routes[${i}]`, description: `(${spec.source}, ${spec.group}) appears twice in routes` },
      ]);
    }
    wanted.set(id, spec);
    const clash = routes.kernelKeyClash(spec, id);
    if (clash && clash.owner !== owner) throw kernelKeyTaken(kernelSource(spec), spec.group, clash);
    const existing = routes.get(id);
    if (existing && existing.owner !== owner && conflicts.length < 10) {
      conflicts.push(`(${spec.source}, ${spec.group}) is owned by "${existing.owner}"`);
    }
    if (!existing) {
      result.added.push(spec);
      addedIds.push(id);
    } else if (sameForwarding(existing.spec, spec)) result.unchanged.push(existing.spec);
    else result.replaced.push(spec);
  }
  if (conflicts.length > 0) throw routesOwnedByOthers(owner, conflicts);

  const removed: Route[] = [];
  for (const route of routes.values()) {
    if (route.owner === owner && !wanted.has(route.id)) {
      removed.push(route);
      result.removed.push(route.spec);
    }
  }
  const total = routes.size + result.added.length - removed.length;
  if (result.added.length > 0 && total > maxRoutes) throw routeLimit(maxRoutes, result.added.length);
  return { result, removed, addedIds };
}

/**
 * Throws VIF_TABLE_FULL when the routes left after an apply need more VIFs than a table has:
 * the VIFs of routes the apply keeps as they are, plus one per interface of an added or
 * replaced route (that installs an entry) without a live VIF yet.
 */
export function checkVifCapacity(
  routes: RouteIndex,
  tables: KernelTables,
  result: ApplyResult,
  removed: Route[],
  cache: IfindexCache,
): void {
  const changing = new Set(removed.map((r) => r.id));
  for (const spec of result.replaced) changing.add(routeKeyString(spec));
  const used = new Map<KernelTable, Set<number>>();
  const created = new Map<KernelTable, Map<number, string>>();
  const slotsOf = (table: KernelTable): Set<number> => {
    let slots = used.get(table);
    if (!slots) used.set(table, (slots = new Set()));
    return slots;
  };
  for (const route of routes.values()) {
    if (!route.kernel || changing.has(route.id)) continue;
    const slots = slotsOf(tables.open(route.spec.family, route.spec.table));
    for (const vif of [route.kernel.iifVif, ...route.kernel.oifVifs]) slots.add(vif);
  }
  const need = (table: KernelTable, name: string): void => {
    const ifindex = lookup(table.port, name, cache);
    if (ifindex === undefined) return;
    const slot = liveSlot(table, ifindex);
    if (slot) {
      slotsOf(table).add(slot.vif);
      return;
    }
    let fresh = created.get(table);
    if (!fresh) created.set(table, (fresh = new Map()));
    fresh.set(ifindex, name);
  };
  // A table not open yet is read through a view (a dry run claims nothing), one per table.
  const viewed = new Map<string, KernelTable>();
  const views = (family: AddressFamily, id: number): KernelTable => {
    const key = tableKeyString(family, id);
    let view = viewed.get(key);
    if (!view) viewed.set(key, (view = tables.readView(family, id)));
    return view;
  };
  // No arrays per route: a 100k-route apply goes through here once per route.
  let table: KernelTable | undefined;
  for (const list of [result.added, result.replaced]) {
    for (const spec of list) {
      if (table?.family !== spec.family || table.id !== spec.table) table = views(spec.family, spec.table);
      // Without its iif or any oif the route installs no entry (PENDING) and takes no VIF.
      if (lookup(table.port, spec.iif, cache) === undefined) continue;
      let anyOif = false;
      for (const name of spec.oifs) if (lookup(table.port, name, cache) !== undefined) anyOif = true;
      if (!anyOif) continue;
      need(table, spec.iif);
      for (const name of spec.oifs) need(table, name);
    }
  }
  for (const [table, fresh] of created) {
    const kept = used.get(table)?.size ?? 0;
    if (kept + fresh.size > MAX_VIFS) throw vifTableFull([...fresh.values()], MAX_VIFS - kept);
  }
}

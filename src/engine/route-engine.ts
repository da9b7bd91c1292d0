// The route engine's façade: desired routes (with their owner) and the client mutations on
// them — add, delete, apply, restore — each all-or-nothing. The concepts live in their own files:
//
//   kernel-tables.ts / kernel-table.ts  the tables mfcd holds; VIF allocation, errno handling
//   route-index.ts                      routes by id, by interface name, by kernel entry key
//   route-realizer.ts                   realize(): the one place that writes a route's entry
//   template-learning.ts                templates, learned entries, stop filters, idle expiry
//   reconciler.ts                       link states, interface sync, drift repair
//   route-read-model.ts                 ListRoutes / WatchStats / Diagnose views (open nothing)
//   apply-plan.ts                       the pure diff and VIF capacity check of an apply
//   route-errors.ts                     every error a client can act on, with its reason
//
// Model (after SMCRoute's mroute.c: user rules vs kernel entries, reconciled): a Route is what a
// client asked for; `kernel` is what we wrote for it (or nothing: PENDING). It talks to the
// kernel only through KernelPort, so nearly all logic is testable with a fake.
//
// Invariants:
// - client mutations (add, delete, apply) are all-or-nothing: on failure kernel and memory are
//   as before;
// - MFC entries are rewritten or removed *before* the VIFs they stop using are deleted, and a
//   VIF slot stays reserved while any entry we wrote still names it — also after its
//   interface vanished (the VIF reuse hazard: the stale TTL slot would start forwarding to
//   whichever interface gets the index next);
// - only a write opens (claims) a kernel table: queries and dry runs read through views.

import { DomainError } from "./domain-error.js";
import type { SgCounters } from "./kernel-port.js";
import { routeKeyString, type AddressFamily, type RouteKey } from "./route-key.js";
import { KernelTables } from "./kernel-tables.js";
import { lookup, type IfindexCache, type KernelTable } from "./kernel-table.js";
import { copySpec, newRoute, sameForwarding, type Route } from "./route-record.js";
import {
  DEFAULT_MAX_ROUTES,
  DEFAULT_OWNER,
  kernelSource,
  type AddOptions,
  type ApplyOptions,
  type ApplyResult,
  type ForeignView,
  type LinkState,
  type RestoreResult,
  type RouteEngineOptions,
  type RouteSpec,
  type RouteStatsView,
  type RouteView,
  type StatsFilter,
  type StoredRouteRecord,
  type TableOpener,
  type UpcallEvent,
  type VifView,
} from "./route-types.js";
import {
  interfaceNotFound,
  kernelKeyTaken,
  ownedByOther,
  routeExists,
  routeLimit,
  routeNotFound,
  sgOnTwoIifs,
} from "./route-errors.js";
import { RouteIndex } from "./route-index.js";
import { TemplateLearning, type UpcallOutcome } from "./template-learning.js";
import { RouteReadModel, type FlowSnapshot } from "./route-read-model.js";
import { RouteRealizer } from "./route-realizer.js";
import { finishAdoption } from "./adoption.js";
import { Reconciler } from "./reconciler.js";
import { checkVifCapacity, planApply } from "./apply-plan.js";

// The types callers name come from here (route-engine.js is the engine's entry point).
export * from "./route-types.js";
export { BULK_COUNTERS_AFTER } from "./counters-reader.js";

export class RouteEngine {
  private readonly routes = new RouteIndex();
  private readonly tables: KernelTables;
  private readonly links = new Map<string, LinkState>();
  private readonly maxRoutes: number;
  private readonly learning: TemplateLearning;
  private readonly reads: RouteReadModel;
  private readonly realizer: RouteRealizer;
  private readonly reconciler: Reconciler;

  constructor(
    openTable: TableOpener,
    options: RouteEngineOptions = {},
  ) {
    this.maxRoutes = options.maxRoutes ?? DEFAULT_MAX_ROUTES;
    this.tables = new KernelTables(openTable, options.kernelSupport, options.ifindex);
    this.learning = new TemplateLearning(this.tables, this.routes, this.maxRoutes, this.ourEntries, options.onLearnFailure);
    this.reads = new RouteReadModel(this.routes, this.tables, this.links, this.learning);
    this.realizer = new RouteRealizer(this.learning, this.ourEntries, options.now ?? (() => new Date()));
    this.reconciler = new Reconciler(this.routes, this.tables, this.links, this.learning, this.realizer);
  }

  get size(): number {
    return this.routes.size;
  }

  /** Tables restore() could not open, with the reason (logged by the caller). */
  readonly unopenable: string[] = [];

  /** performance.now() of the last client mutation (background work defers to busy periods). */
  lastChangeAt = 0;

  /**
   * Add a route. The identical route again is a no-op (repairing a missing kernel entry);
   * a different route for the same key needs `replace`, which switches in place.
   */
  add(spec: RouteSpec, options: AddOptions = {}): RouteView {
    this.lastChangeAt = performance.now();
    const owner = options.owner || DEFAULT_OWNER;
    const id = routeKeyString(spec);
    const existing = this.routes.get(id);
    const cache: IfindexCache = new Map();
    if (existing && existing.owner !== owner) throw ownedByOther(existing, owner);
    const unavailable = this.unavailableTable(spec.family, spec.table);
    if (unavailable) throw unavailable;
    // Checks read through a table view: a refused request must not claim a kernel table.
    if (options.requireInterfaces) this.requireInterfaces(this.tables.readView(spec.family, spec.table), [spec], cache);

    if (existing && sameForwarding(existing.spec, spec)) {
      // Controllers retry: nothing changes, except repairing what is broken.
      const table = this.tables.open(spec.family, spec.table); // open already: the route exists
      const broken =
        existing.error !== "" ||
        (existing.kernel !== undefined && table.port.sgCounters(kernelSource(spec), spec.group) === undefined);
      if (broken) this.realizer.realizeQuietly(existing, table, cache, true);
      return this.reads.view(existing, table);
    }
    if (existing && !options.replace && existing.spec.iif !== spec.iif) throw sgOnTwoIifs(spec, existing.spec.iif);
    if (existing && !options.replace) throw routeExists(existing);
    if (!existing && this.routes.size >= this.maxRoutes) throw routeLimit(this.maxRoutes, 1);
    const clash = this.routes.kernelKeyClash(spec, id);
    if (clash) throw kernelKeyTaken(kernelSource(spec), spec.group, clash);
    const table = this.tables.open(spec.family, spec.table);

    if (existing) {
      const before = { spec: existing.spec, missing: existing.missing, error: existing.error };
      this.routes.unindex(existing);
      existing.spec = copySpec(spec);
      this.routes.index(existing);
      try {
        this.realizer.realize(existing, table, cache, false);
      } catch (err) {
        this.routes.unindex(existing);
        Object.assign(existing, before);
        this.routes.index(existing);
        throw err;
      }
      existing.error = "";
      return this.reads.view(existing, table);
    }
    const route = newRoute(id, spec, owner);
    this.realizer.realize(route, table, cache, false);
    this.routes.set(id, route);
    this.routes.index(route);
    return this.reads.view(route, table);
  }

  /** Remove a route and the VIFs nobody uses any more; returns what was removed. */
  delete(key: RouteKey & { iif?: string }): StoredRouteRecord {
    this.lastChangeAt = performance.now();
    const route = this.routes.get(routeKeyString(key)) ?? this.routes.onlyTemplate(key);
    if (!route) throw routeNotFound(key);
    this.realizer.unrealize(route, this.tables.open(key.family, key.table));
    this.routes.delete(route.id);
    this.routes.unindex(route);
    return { spec: route.spec, owner: route.owner };
  }

  /**
   * Make `owner`'s routes exactly `specs`: only the difference touches the kernel (an unchanged
   * route is not rewritten, so its flow never notices). All-or-nothing.
   */
  apply(owner: string, specs: RouteSpec[], options: ApplyOptions = {}): ApplyResult {
    this.lastChangeAt = performance.now();
    owner ||= DEFAULT_OWNER;
    const { result, removed, addedIds } = planApply(this.routes, owner, specs, options, this.maxRoutes);
    this.refuseUnavailable(result.added);
    this.refuseUnavailable(result.replaced);
    const cache: IfindexCache = new Map();
    if (options.requireInterfaces) {
      for (const spec of [...result.added, ...result.replaced]) {
        this.requireInterfaces(this.tables.readView(spec.family, spec.table), [spec], cache);
      }
    }
    // Found part-way, a full VIF table would roll back removals by re-creating their entries
    // (flows interrupted, counters reset): refuse before touching anything.
    checkVifCapacity(this.routes, this.tables, result, removed, cache);
    if (options.dryRun) return result;

    // Removals first: they free VIFs the additions may need. Every step records its undo
    // (additions as a list: one closure per added route would be 100k closures).
    const undo: (() => void)[] = [];
    const addedRoutes: Route[] = [];
    let addedTable: KernelTable | undefined;
    try {
      for (const route of removed) {
        const table = this.tables.open(route.spec.family, route.spec.table);
        this.realizer.unrealize(route, table);
        this.routes.delete(route.id);
        this.routes.unindex(route);
        undo.push(() => {
          this.routes.set(route.id, route);
          this.routes.index(route);
          this.realizer.realizeQuietly(route, table, new Map(), false);
        });
      }
      for (const spec of result.replaced) {
        const route = this.routes.get(routeKeyString(spec)) as Route;
        const table = this.tables.open(spec.family, spec.table);
        const before = { spec: route.spec, missing: route.missing, error: route.error };
        this.routes.unindex(route);
        route.spec = copySpec(spec);
        this.routes.index(route);
        undo.push(() => {
          this.routes.unindex(route);
          Object.assign(route, before);
          this.routes.index(route);
          this.realizer.realizeQuietly(route, table, new Map(), false);
        });
        this.realizer.realize(route, table, cache, false);
        route.error = "";
      }
      for (let i = 0; i < result.added.length; i++) {
        const spec = result.added[i] as RouteSpec;
        if (addedTable?.family !== spec.family || addedTable.id !== spec.table) addedTable = this.tables.open(spec.family, spec.table);
        const route = newRoute(addedIds[i] as string, spec, owner);
        this.realizer.realize(route, addedTable, cache, false);
        this.routes.set(route.id, route);
        this.routes.index(route);
        addedRoutes.push(route);
      }
    } catch (err) {
      for (let i = addedRoutes.length - 1; i >= 0; i--) {
        const route = addedRoutes[i] as Route;
        this.realizer.unrealize(route, this.tableOf(route));
        this.routes.delete(route.id);
        this.routes.unindex(route);
      }
      for (const step of undo.reverse()) step();
      throw err;
    }
    return result;
  }

  /**
   * Bring back persisted routes at startup. Never throws for one route: a route that cannot be
   * installed now stays desired (PENDING with the reason) — a durable route is never dropped.
   */
  restore(records: StoredRouteRecord[], alsoAdopt: { family: AddressFamily; table: number }[] = []): RestoreResult {
    const cache: IfindexCache = new Map();
    let installed = 0;
    let pending = 0;
    this.tables.restoring = true;
    try {
      // Tables mfcd holds anyway, or where a previous mfcd left state: adopted (or cleaned) even
      // when no restored route is in them.
      for (const t of alsoAdopt) this.tables.open(t.family, t.table);
      for (const r of records) {
        const table = this.restoreOne(r, cache);
        if (table === undefined) continue;
        if (table) installed++;
        else pending++;
      }
    } finally {
      this.tables.restoring = false;
    }
    // What the previous mfcd left and no restored route claimed goes now (adoption.ts).
    let adopted = 0;
    let removed = 0;
    for (const table of this.tables.all()) {
      const done = finishAdoption(table);
      adopted += done.adopted;
      removed += done.removed;
    }
    return { installed, pending, adopted, removedLeftovers: removed };
  }

  /** One restored route: true installed, false pending, undefined skipped (known, or its table cannot open). */
  private restoreOne({ spec, owner }: StoredRouteRecord, cache: IfindexCache): boolean | undefined {
    const id = routeKeyString(spec);
    if (this.routes.has(id)) return undefined;
    let table: KernelTable;
    try {
      table = this.tables.open(spec.family, spec.table);
    } catch (err) {
      // The table cannot be opened here (e.g. another router owns it): the route stays in the
      // state file (nothing deletes it) and comes back with a later start.
      this.unopenable.push(`${spec.family}/${spec.table}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
    const route = newRoute(id, spec, owner || DEFAULT_OWNER);
    this.routes.set(id, route);
    this.routes.index(route);
    this.realizer.realizeQuietly(route, table, cache, false);
    // A template is installed when it holds its VIFs (it has no kernel entry of its own).
    return route.kernel !== undefined || route.templateVifs !== undefined;
  }

  /** Every desired route with its owner, for persistence and tests. */
  records(): StoredRouteRecord[] {
    return [...this.routes.values()].map((r) => ({ spec: r.spec, owner: r.owner }));
  }

  get(key: RouteKey & { iif?: string }): RouteView | undefined {
    const route = this.routes.get(routeKeyString(key));
    return route && this.reads.view(route, this.tableOf(route));
  }

  /**
   * NOCACHE: a new flow arrived on a VIF — install a concrete entry from the best matching
   * template, or a stop filter (no oifs) so the kernel stops asking. WRONGVIF: a learned flow
   * moved to another iif a template allows — re-learn it there.
   */
  onUpcall(u: UpcallEvent): UpcallOutcome {
    return this.learning.onUpcall(u);
  }

  /**
   * Remove learned entries and stop filters that carried no packet for `idleMs`; active ones
   * stay. Returns how many went.
   */
  expireLearned(idleMs: number, now = Date.now()): number {
    return this.learning.expireLearned(idleMs, now);
  }

  /** Learned entries and stop filters the kernel refused to install (onUpcall answered "failed"). */
  get learnFailures(): number {
    return this.learning.learnFailures;
  }

  // ---- reconcile (reconciler.ts): links, interface sync, drift ---------------------------

  /** Replace the known link states (startup and after an event overrun). */
  setLinks(links: LinkState[]): void {
    this.reconciler.setLinks(links);
  }

  /** A link appeared or changed (flags, name). */
  noteLink(link: LinkState): void {
    this.reconciler.noteLink(link);
  }

  /** A link was deleted. */
  forgetLink(link: { ifindex: number; name: string }): void {
    this.reconciler.forgetLink(link);
  }

  /** Re-realize the routes whose interfaces appeared, vanished or were renamed; returns how many changed. */
  syncInterfaces(): number {
    return this.reconciler.syncInterfaces();
  }

  /** Compare every route with a dump of its table and repair drift; returns the drifted routes found. */
  checkDrift(): number {
    return this.reconciler.checkDrift();
  }

  /** A kernel MFC event said (source, group) was deleted: put ours back; true when repaired. */
  checkEntry(key: RouteKey): boolean {
    return this.reconciler.checkEntry(key);
  }

  /** Does a kernel MFC event match what we wrote for that route? False: a full check is due. */
  matchesKernelEvent(key: RouteKey, iifIndex: number, oifIndexes: ReadonlyMap<number, number>): boolean {
    return this.reconciler.matchesKernelEvent(key, iifIndex, oifIndexes);
  }

  /** Is the kernel entry (source, group) one of ours (for routing kernel events)? */
  has(key: RouteKey): boolean {
    return this.routes.byKernel(key) !== undefined;
  }

  // ---- reads (route-read-model.ts; they never open a kernel table) ------------------------

  /** What the kernel says about one flow right now, for Diagnose. */
  flowSnapshot(key: RouteKey): FlowSnapshot {
    return this.reads.flowSnapshot(key);
  }

  /** Every route with state and counters, every VIF, and the foreign entries of the last drift check. */
  list(): { routes: RouteView[]; vifs: VifView[]; foreign: ForeignView[] } {
    return this.reads.list();
  }

  /** list()'s routes one at a time, in the same order (ListRoutes streams them). */
  forEachView(visit: (view: RouteView) => void): void {
    this.reads.forEachView(visit);
  }

  /** Kernel entries in our tables that no route explains (from the last drift check). */
  foreignViews(): ForeignView[] {
    return this.reads.foreignViews();
  }

  /** Counters only (cheap per-entry ioctls), for periodic statistics. */
  stats(filter: StatsFilter = {}): { routes: RouteStatsView[]; vifs: VifView[] } {
    return this.reads.stats(filter);
  }

  /** stats()'s routes one at a time, then the entries learned from templates (WatchStats). */
  forEachStats(
    filter: StatsFilter,
    visit: (spec: RouteSpec, counters: SgCounters | undefined, learnedFrom?: string) => void,
  ): void {
    this.reads.forEachStats(filter, visit);
  }

  vifViews(): VifView[] {
    return this.reads.vifViews();
  }

  // ---- internals --------------------------------------------------------------------------

  /** Whether mfcd holds (owns) this kernel table already. Opens nothing. */
  holdsTable(family: AddressFamily, tableId: number): boolean {
    return this.tables.opened(family, tableId) !== undefined;
  }

  /** Open (own) a kernel table now, e.g. one traffic is steered to by an mrule. */
  ensureTable(family: AddressFamily, tableId: number): void {
    const table = this.tables.open(family, tableId);
    if (table.unavailable) throw table.unavailable;
  }

  /**
   * The FAILED_PRECONDITION error when this kernel cannot serve `family`/`tableId` (a missing
   * option), undefined when it can. Opens nothing.
   */
  unavailableTable(family: AddressFamily, tableId: number): DomainError | undefined {
    return this.tables.unavailable(family, tableId);
  }

  private refuseUnavailable(specs: readonly RouteSpec[]): void {
    let family: AddressFamily | undefined;
    let id = -1;
    for (const spec of specs) {
      if (spec.family === family && spec.table === id) continue;
      family = spec.family;
      id = spec.table;
      const err = this.unavailableTable(family, id);
      if (err) throw err;
    }
  }

  /** A route's table (open: routes exist only in tables mfcd holds). */
  private tableOf(route: Route): KernelTable {
    return this.tables.open(route.spec.family, route.spec.table);
  }

  private requireInterfaces(table: KernelTable, specs: RouteSpec[], cache: IfindexCache): void {
    const missing = new Set<string>();
    for (const spec of specs) {
      for (const name of [spec.iif, ...spec.oifs]) if (lookup(table.port, name, cache) === undefined) missing.add(name);
    }
    if (missing.size > 0) throw interfaceNotFound([...missing]);
  }

  /** The "source|group" of every kernel entry mfcd wrote in `table` (routes and learned entries). */
  private readonly ourEntries = (table: KernelTable): Set<string> => {
    const ours = new Set<string>();
    for (const route of this.routes.values()) {
      if (route.kernel && this.tableOf(route) === table) ours.add(`${kernelSource(route.spec)}|${route.spec.group}`);
    }
    for (const l of this.learning.entries()) if (l.table === table) ours.add(`${l.source}|${l.group}`);
    return ours;
  };


}


// The route engine: desired routes (with their owner), VIF allocation and the kernel entries
// that realise them. It talks to the kernel only through KernelPort, so nearly all logic is
// testable with a fake; the server feeds it interface and MFC events and persists its changes.
//
// Model (after SMCRoute's mroute.c: user rules vs kernel entries, reconciled):
// - a Route is what a client asked for; `kernel` is what we wrote for it (or nothing: PENDING);
// - realize(route) computes the entry the route should have *now* from the interfaces that
//   exist, and makes the kernel match it. Everything — add, replace, apply, restore, hot-plug,
//   drift repair — goes through it, so there is one place that writes MFC entries.
//
// Invariants:
// - client mutations (add, delete, apply) are all-or-nothing: on failure kernel and memory are
//   as before;
// - MFC entries are rewritten or removed *before* the VIFs they stop using are deleted, and a
//   VIF slot stays reserved while any entry we wrote still names it — also after its
//   interface vanished (the VIF reuse hazard: the stale TTL slot would start forwarding to
//   whichever interface gets the index next).

import { DomainError } from "./domain-error.js";
import type { KernelMfcEntry, SgCounters } from "./kernel-port.js";
import { routeKeyString, type AddressFamily, type RouteKey } from "./route-key.js";
import { type VifSlot } from "./vif-table.js";
import { isTemplateKey } from "./address-pattern.js";
import { KernelTables } from "./kernel-tables.js";
import {
  acquireVifs,
  delEntry,
  dropVifs,
  liveSlot,
  lookup,
  release,
  type IfindexCache,
  type KernelTable,
} from "./kernel-table.js";
import {
  copySpec,
  DEFAULT_TTL_THRESHOLD,
  newRoute,
  NO_VIFS,
  NONE,
  sameEntry,
  sameForwarding,
  ttlMap,
  usesVif,
  type KernelEntry,
  type Route,
} from "./route-record.js";
import {
  DEFAULT_MAX_ROUTES,
  DEFAULT_OWNER,
  kernelSource,
  type AddOptions,
  type ApplyOptions,
  type ApplyResult,
  type ForeignView,
  type LinkState,
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
import { checkVifCapacity, planApply } from "./apply-plan.js";

// The types callers name come from here (route-engine.js is the engine's entry point).
export * from "./route-types.js";
export { BULK_COUNTERS_AFTER } from "./counters-reader.js";

export class RouteEngine {
  private readonly routes = new RouteIndex();
  private readonly tables: KernelTables;
  private readonly links = new Map<string, LinkState>();
  /** Interface name → ifindex (undefined: absent) as of the last syncInterfaces(). */
  private readonly seenNames = new Map<string, number | undefined>();
  private readonly maxRoutes: number;
  private readonly now: () => Date;

  constructor(
    openTable: TableOpener,
    options: RouteEngineOptions = {},
  ) {
    this.maxRoutes = options.maxRoutes ?? DEFAULT_MAX_ROUTES;
    this.now = options.now ?? (() => new Date());
    this.tables = new KernelTables(openTable, options.kernelSupport, options.ifindex);
    this.learning = new TemplateLearning(this.tables, this.routes, this.maxRoutes, this.ourEntries, options.onLearnFailure);
    this.reads = new RouteReadModel(this.routes, this.tables, this.links, this.learning);
  }

  get size(): number {
    return this.routes.size;
  }

  private readonly learning: TemplateLearning;
  private readonly reads: RouteReadModel;

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
      if (broken) this.realizeQuietly(existing, table, cache, true);
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
        this.realize(existing, table, cache, false);
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
    this.realize(route, table, cache, false);
    this.routes.set(id, route);
    this.routes.index(route);
    return this.reads.view(route, table);
  }

  /** Remove a route and the VIFs nobody uses any more; returns what was removed. */
  delete(key: RouteKey & { iif?: string }): StoredRouteRecord {
    this.lastChangeAt = performance.now();
    const route = this.routes.get(routeKeyString(key)) ?? this.routes.onlyTemplate(key);
    if (!route) throw routeNotFound(key);
    this.unrealize(route, this.tables.open(key.family, key.table));
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
        this.unrealize(route, table);
        this.routes.delete(route.id);
        this.routes.unindex(route);
        undo.push(() => {
          this.routes.set(route.id, route);
          this.routes.index(route);
          this.realizeQuietly(route, table, new Map(), false);
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
          this.realizeQuietly(route, table, new Map(), false);
        });
        this.realize(route, table, cache, false);
        route.error = "";
      }
      for (let i = 0; i < result.added.length; i++) {
        const spec = result.added[i] as RouteSpec;
        if (addedTable?.family !== spec.family || addedTable.id !== spec.table) addedTable = this.tables.open(spec.family, spec.table);
        const route = newRoute(addedIds[i] as string, spec, owner);
        this.realize(route, addedTable, cache, false);
        this.routes.set(route.id, route);
        this.routes.index(route);
        addedRoutes.push(route);
      }
    } catch (err) {
      for (let i = addedRoutes.length - 1; i >= 0; i--) {
        const route = addedRoutes[i] as Route;
        this.unrealize(route, this.tableOf(route));
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
  restore(records: StoredRouteRecord[]): { installed: number; pending: number } {
    const cache: IfindexCache = new Map();
    let installed = 0;
    let pending = 0;
    for (const { spec, owner } of records) {
      const id = routeKeyString(spec);
      if (this.routes.has(id)) continue;
      let table: KernelTable;
      try {
        table = this.tables.open(spec.family, spec.table);
      } catch (err) {
        // The table cannot be opened here (e.g. another router owns it): the route stays in the
        // state file (nothing deletes it) and comes back with a later start.
        this.unopenable.push(`${spec.family}/${spec.table}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      const route = newRoute(id, spec, owner || DEFAULT_OWNER);
      this.routes.set(id, route);
      this.routes.index(route);
      this.realizeQuietly(route, table, cache, false);
      // A template is installed when it holds its VIFs (it has no kernel entry of its own).
      if (route.kernel || route.templateVifs) installed++;
      else pending++;
    }
    return { installed, pending };
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

  // ---- interfaces -------------------------------------------------------------------------

  /** Replace the known link states (startup and after an event overrun). */
  setLinks(links: LinkState[]): void {
    this.links.clear();
    for (const link of links) this.links.set(link.name, { ...link });
  }

  /** A link appeared or changed (flags, name). */
  noteLink(link: LinkState): void {
    for (const [name, known] of this.links) if (known.ifindex === link.ifindex && name !== link.name) this.links.delete(name);
    this.links.set(link.name, { ...link });
  }

  /** A link was deleted. */
  forgetLink(link: { ifindex: number; name: string }): void {
    const known = this.links.get(link.name);
    if (known?.ifindex === link.ifindex) this.links.delete(link.name);
  }

  /**
   * Compare every interface the routes mention, and every VIF, with the kernel's interfaces
   * now, and re-realize the routes affected: a vanished or renamed interface's VIF is retired
   * (its routes rewritten first), a newly appeared one is used. Cheap: one ioctl per distinct
   * name and per VIF. Returns how many routes changed.
   */
  syncInterfaces(): number {
    const dirty = new Set<Route>();
    for (const table of this.tables.all()) {
      for (const slot of table.vifs.all()) {
        if (table.stale.has(slot.vif)) continue;
        if (table.port.ifindex(slot.name) !== slot.ifindex) {
          table.stale.add(slot.vif);
          // Learned entries on a vanished interface go (re-learned by the next upcall).
          for (const l of [...this.learning.entries()]) {
            if (l.table === table && (l.iifVif === slot.vif || l.oifVifs.includes(slot.vif))) this.learning.removeLearned(l);
          }
          for (const route of this.routes.values()) {
            const uses = route.kernel ?? route.templateVifs;
            if (uses && usesVif(uses, slot.vif) && this.tableOf(route) === table) dirty.add(route);
          }
        }
      }
    }
    const cache: IfindexCache = new Map();
    // Routes on retired VIFs first, so the slots are free before anything allocates.
    let changed = 0;
    for (const route of dirty) if (this.realizeQuietly(route, this.tableOf(route), cache, false)) changed++;
    // Then every name whose existence changed since the last sync (or that is new to us), and
    // routes whose last background install failed. Unchanged names cost one ioctl.
    for (const [name, ids] of this.routes.byName) {
      const first = this.routes.get(ids.values().next().value as string);
      if (!first) continue;
      const now = lookup(this.tableOf(first).port, name, cache);
      if (this.seenNames.has(name) && this.seenNames.get(name) === now) continue;
      this.seenNames.set(name, now);
      for (const id of ids) {
        const route = this.routes.get(id);
        if (!route || dirty.has(route)) continue;
        // Only routes whose view of this name is out of date (restore and apply already
        // realized most of them with the same answer): no kernel call for the rest.
        if ((now !== undefined) === !route.missing.includes(name) && route.error === "") continue;
        if (this.realizeQuietly(route, this.tableOf(route), cache, false)) changed++;
      }
    }
    for (const name of this.seenNames.keys()) if (!this.routes.byName.has(name)) this.seenNames.delete(name);
    for (const route of this.routes.values()) {
      if (route.error !== "" && this.realizeQuietly(route, this.tableOf(route), cache, false)) changed++;
    }
    return changed;
  }

  // ---- drift ------------------------------------------------------------------------------

  /**
   * Compare every route with a full dump of its kernel table; re-install entries that were
   * removed or altered behind our back (counting the repair), and remember kernel entries
   * nobody asked for (reported, never deleted). Returns the number of drifted routes found.
   */
  checkDrift(): number {
    this.syncInterfaces();
    let drifted = 0;
    for (const table of this.tables.all()) {
      const dump = table.port.dumpMfc();
      if (!dump) continue;
      const seen = new Set<string>();
      for (const route of this.routes.values()) {
        if (this.tableOf(route) !== table) continue;
        const key = `${kernelSource(route.spec)}|${route.spec.group}`;
        const entry = dump.get(key);
        if (!route.kernel) continue;
        seen.add(key);
        const reason = entry ? this.difference(route, entry, table) : "kernel entry was removed behind mfcd's back";
        if (reason) {
          drifted++;
          this.repair(route, table, reason);
        }
      }
      for (const l of this.learning.entries()) if (l.table === table) seen.add(`${l.source}|${l.group}`);
      table.foreign = [];
      table.foreignVifs = new Set();
      for (const [key, entry] of dump) {
        if (seen.has(key)) continue;
        const name = (vif: number) => table.vifs.get(vif)?.name ?? `vif ${vif}`;
        table.foreign.push({
          family: table.family,
          table: table.id,
          source: entry.source,
          group: entry.group,
          iif: name(entry.parent),
          oifs: [...entry.oifs.keys()].map(name),
          counters: entry.counters,
        });
        for (const vif of [entry.parent, ...entry.oifs.keys()]) if (!table.vifs.get(vif)) table.foreignVifs.add(vif);
      }
    }
    return drifted;
  }

  /**
   * A kernel MFC event said (source, group) was deleted: if we have an entry there, put it
   * back. Returns true when a repair happened.
   */
  checkEntry(key: RouteKey): boolean {
    const route = this.routes.byKernel(key);
    if (!route?.kernel) return false;
    const table = this.tableOf(route);
    if (table.port.sgCounters(kernelSource(route.spec), key.group) !== undefined) return false;
    this.repair(route, table, "kernel entry was removed behind mfcd's back");
    return true;
  }

  /**
   * Does a kernel MFC event (interfaces by ifindex) match what we wrote for that route?
   * False means a full check is due (the event may also just be stale: checkDrift decides).
   */
  matchesKernelEvent(key: RouteKey, iifIndex: number, oifIndexes: ReadonlyMap<number, number>): boolean {
    const route = this.routes.byKernel(key);
    if (!route) return false;
    if (!route.kernel) return false;
    const table = this.tableOf(route);
    const ifindexOf = (vif: number) => table.vifs.get(vif)?.ifindex;
    if (ifindexOf(route.kernel.iifVif) !== iifIndex) return false;
    const { oifVifs, ttls } = route.kernel;
    let live = 0;
    for (let i = 0; i < oifVifs.length; i++) {
      const ifindex = ifindexOf(oifVifs[i] as number);
      if (ifindex === undefined) continue;
      live++;
      if (oifIndexes.get(ifindex) !== ttls[i]) return false;
    }
    return live === oifIndexes.size;
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

  /**
   * Make the kernel hold the entry `route` should have now. Throws (with kernel and VIFs
   * unchanged) on failure. `force` rewrites the entry even if we believe it is right (repair).
   * Returns true when something changed.
   */
  private realize(route: Route, table: KernelTable, cache: IfindexCache, force: boolean): boolean {
    if (table.unavailable) throw table.unavailable;
    if (isTemplateKey(route.spec)) return this.learning.realizeTemplate(route, table, cache);
    const { spec } = route;
    // Hot path of bulk applies and restores: plain arrays, no per-route Maps or closures.
    const iifIndex = lookup(table.port, spec.iif, cache);
    let missing: string[] = iifIndex === undefined ? [spec.iif] : NONE;
    const oifNames: string[] = [];
    const oifIndexes: number[] = [];
    for (const name of spec.oifs) {
      const ifindex = lookup(table.port, name, cache);
      if (ifindex === undefined) {
        if (missing === NONE) missing = [];
        missing.push(name);
      } else {
        oifNames.push(name);
        oifIndexes.push(ifindex);
      }
    }
    route.missing = missing;
    if (iifIndex === undefined || oifNames.length === 0) {
      // Nothing to forward: no entry (the route waits for its interfaces).
      return this.unrealize(route, table);
    }

    let created: number[] = NO_VIFS;
    let iifSlot = liveSlot(table, iifIndex);
    let allLive = iifSlot !== undefined;
    for (let i = 0; allLive && i < oifIndexes.length; i++) allLive = liveSlot(table, oifIndexes[i] as number) !== undefined;
    if (!allLive) {
      const resolved = new Map<string, number>([[spec.iif, iifIndex]]);
      oifNames.forEach((name, i) => resolved.set(name, oifIndexes[i] as number));
      created = acquireVifs(table, [spec.iif, ...oifNames], resolved, this.ourEntries);
      iifSlot = liveSlot(table, iifIndex);
    }
    const oifVifs = oifIndexes.map((ifindex) => (liveSlot(table, ifindex) as VifSlot).vif);
    const ttls = oifNames.map((name) => spec.oifTtl?.[name] ?? DEFAULT_TTL_THRESHOLD);
    const next: KernelEntry = { source: kernelSource(spec), iifVif: (iifSlot as VifSlot).vif, oifVifs, ttls };
    const before = route.kernel;
    if (!force && before && sameEntry(before, next)) return false;
    try {
      // In place: the kernel replaces an existing (S,G) atomically, a stream loses no packet.
      table.port.addMfc(next.source, spec.group, next.iifVif, ttlMap(next));
    } catch (err) {
      dropVifs(table, created);
      throw err;
    }
    (table.vifs.get(next.iifVif) as VifSlot).refs++;
    for (const vif of oifVifs) (table.vifs.get(vif) as VifSlot).refs++;
    // An explicit route takes over a flow a template taught (or a stop filter): the entry was
    // rewritten in place above. Only now drop the learned entry's VIF references: they may be
    // the last ones on a VIF the new entry uses (a stop filter's iif).
    if (this.learning.size > 0) this.learning.forgetLearned(table, next.source, spec.group);
    route.kernel = next;
    if (before && before.source !== next.source) delEntry(table, before.source, spec.group);
    if (before) release(table, [before.iifVif, ...before.oifVifs]);
    return true;
  }

  /** realize() for background work (hot-plug, restore, repair): failures become the route's reason. */
  private realizeQuietly(route: Route, table: KernelTable, cache: IfindexCache, force: boolean): boolean {
    try {
      const changed = this.realize(route, table, cache, force);
      route.error = "";
      return changed;
    } catch (err) {
      // A table this kernel cannot serve: the route waits (PENDING) with the missing option.
      route.error = table.unavailable ? table.unavailable.message : `could not install: ${err instanceof Error ? err.message : String(err)}`;
      return false;
    }
  }

  /** Remove the route's kernel entry (if any) and release its VIFs. */
  private unrealize(route: Route, table: KernelTable): boolean {
    if (isTemplateKey(route.spec)) return this.learning.releaseTemplate(route, table);
    const before = route.kernel;
    if (!before) return false;
    delEntry(table, before.source, route.spec.group);
    route.kernel = undefined;
    release(table, [before.iifVif, ...before.oifVifs]);
    return true;
  }

  private repair(route: Route, table: KernelTable, reason: string): void {
    route.lastDrift = `${this.now().toISOString()}: ${reason}`;
    route.driftRepairs++;
    this.realizeQuietly(route, table, new Map(), true);
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


  /** Human-readable difference between what we installed and what the kernel holds. */
  private difference(route: Route, entry: KernelMfcEntry, table: KernelTable): string {
    const kernel = route.kernel as KernelEntry;
    const name = (vif: number) => table.vifs.get(vif)?.name ?? `vif ${vif}`;
    const problems: string[] = [];
    if (entry.parent !== kernel.iifVif) {
      problems.push(`kernel iif is ${name(entry.parent)}, expected ${name(kernel.iifVif)}`);
    }
    const expected = new Set(kernel.oifVifs);
    const missing = kernel.oifVifs.filter(
      (vif, i) => !table.stale.has(vif) && entry.oifs.get(vif) !== kernel.ttls[i],
    );
    const extra = [...entry.oifs.keys()].filter((vif) => !expected.has(vif));
    if (missing.length) problems.push(`kernel entry lacks oif ${missing.map(name).join(",")}`);
    if (extra.length) problems.push(`kernel entry has extra oif ${extra.map(name).join(",")}`);
    return problems.join("; ");
  }
}


// The route engine: desired routes, VIF allocation and the kernel entries that realise them.
// It talks to the kernel only through KernelPort, so nearly all logic is testable with a fake.
//
// Invariants:
// - every mutation is all-or-nothing: on any failure, kernel and memory are as before;
// - MFC entries are rewritten or removed *before* VIFs they stop using are deleted, and an index
//   still referenced by any kernel entry is never handed to a new interface (the VIF reuse
//   hazard: the stale TTL slot would start forwarding to the newcomer).

import { DomainError } from "./domain-error.js";
import type { KernelMfcEntry, KernelPort, SgCounters, VifCounters } from "./kernel-port.js";
import { routeKeyString, tableKeyString, type AddressFamily, type RouteKey } from "./route-key.js";
import { MAX_VIFS, VifTable, type VifSlot } from "./vif-table.js";

/** A route as the client asked for it (already validated). */
export interface RouteSpec extends RouteKey {
  iif: string;
  oifs: string[];
}

export type RouteState = "installed" | "pending" | "drifted";

export interface RouteView {
  spec: RouteSpec;
  state: RouteState;
  /** Why the route is not installed as asked; empty when it is. */
  reason: string;
  counters: SgCounters;
}

export interface VifView {
  vif: number;
  name: string;
  ifindex: number;
  refs: number;
  counters: VifCounters;
}

export interface RouteStatsView {
  spec: RouteSpec;
  /** undefined when the kernel has no entry for the route. */
  counters: SgCounters | undefined;
}

export interface StatsFilter {
  source?: string;
  group?: string;
}

/** Opens (or returns the already open) kernel table for a family and table id. */
export type TableOpener = (family: AddressFamily, table: number) => KernelPort;

interface InstalledRoute {
  spec: RouteSpec;
  iifVif: number;
  oifVifs: number[];
}

interface TableState {
  port: KernelPort;
  vifs: VifTable;
}

const ZERO_SG: SgCounters = { packets: 0n, bytes: 0n, wrongIf: 0n };
const ZERO_VIF: VifCounters = { inPackets: 0n, inBytes: 0n, outPackets: 0n, outBytes: 0n };
/** Kernel semantics: forward on an oif when the packet's TTL > threshold; 1 = any TTL ≥ 2. */
const DEFAULT_TTL_THRESHOLD = 1;

export class RouteEngine {
  private readonly routes = new Map<string, InstalledRoute>();
  private readonly tables = new Map<string, TableState>();
  /** Route id → how its kernel entry differs, as of the last checkDrift(). */
  private readonly driftReasons = new Map<string, string>();

  constructor(private readonly openTable: TableOpener) {}

  get size(): number {
    return this.routes.size;
  }

  /**
   * Install a route. Identical re-add is a no-op (re-installing only a missing kernel entry);
   * a different route for the same key needs `replace`, which switches in place.
   */
  add(spec: RouteSpec, options: { replace?: boolean } = {}): RouteView {
    const id = routeKeyString(spec);
    const existing = this.routes.get(id);
    const table = this.table(spec.family, spec.table);

    if (existing && sameForwarding(existing.spec, spec)) {
      if (table.port.sgCounters(spec.source, spec.group) === undefined || this.driftReasons.has(id)) {
        table.port.addMfc(spec.source, spec.group, existing.iifVif, ttlMap(existing.oifVifs));
        this.driftReasons.delete(id);
      }
      return this.view(existing, table);
    }
    if (existing && !options.replace) {
      throw new DomainError(
        "already-exists",
        `route (${spec.source}, ${spec.group}) already exists from ${existing.spec.iif} to ` +
          `${existing.spec.oifs.join(",")}; set replace=true to switch it`,
        { reason: "ROUTE_EXISTS", metadata: { source: spec.source, group: spec.group } },
      );
    }

    const names = [spec.iif, ...spec.oifs];
    const ifindexes = this.resolve(table.port, names);
    const created = this.acquireVifs(table, names, ifindexes);
    const vifOf = (name: string): number => {
      const slot = table.vifs.byIfindex(ifindexes.get(name) as number) as VifSlot;
      return slot.vif;
    };
    const iifVif = vifOf(spec.iif);
    const oifVifs = spec.oifs.map(vifOf);
    try {
      // In place: the kernel replaces an existing (S,G) atomically, a stream loses no packet.
      table.port.addMfc(spec.source, spec.group, iifVif, ttlMap(oifVifs));
    } catch (err) {
      this.dropVifs(table, created);
      throw err;
    }

    const route: InstalledRoute = { spec: copySpec(spec), iifVif, oifVifs };
    for (const vif of [iifVif, ...oifVifs]) (table.vifs.get(vif) as VifSlot).refs++;
    this.routes.set(id, route);
    this.driftReasons.delete(id);
    if (existing) this.release(table, [existing.iifVif, ...existing.oifVifs]);
    return this.view(route, table);
  }

  /** Remove a route and the VIFs nobody uses any more. */
  delete(key: RouteKey): void {
    const id = routeKeyString(key);
    const route = this.routes.get(id);
    if (!route) {
      throw new DomainError("not-found", `no route for (${key.source}, ${key.group})`, {
        reason: "ROUTE_NOT_FOUND",
        metadata: { source: key.source, group: key.group },
      });
    }
    const table = this.table(key.family, key.table);
    if (table.port.sgCounters(key.source, key.group) !== undefined) {
      table.port.delMfc(key.source, key.group);
    }
    this.routes.delete(id);
    this.driftReasons.delete(id);
    this.release(table, [route.iifVif, ...route.oifVifs]);
  }

  get(key: RouteKey): RouteView | undefined {
    const route = this.routes.get(routeKeyString(key));
    return route && this.view(route, this.table(key.family, key.table));
  }

  /**
   * Every route with state and counters as the kernel reports them, and every VIF. Counters
   * and presence come from per-entry ioctls (µs each, any table); whether a present entry
   * *differs* comes from the last checkDrift(), because a full MFC dump costs tens of ms at
   * 10k entries and must not sit on every ListRoutes.
   */
  list(): { routes: RouteView[]; vifs: VifView[] } {
    const routes: RouteView[] = [];
    for (const [id, route] of this.routes) {
      const view = this.view(route, this.table(route.spec.family, route.spec.table));
      const drift = this.driftReasons.get(id);
      if (view.state === "installed" && drift) routes.push({ ...view, state: "drifted", reason: drift });
      else routes.push(view);
    }
    return { routes, vifs: this.vifViews() };
  }

  /**
   * Compare every route with a full dump of its kernel table and remember the differences
   * (iif, oifs or TTLs changed behind our back). Returns the number of drifted routes.
   */
  checkDrift(): number {
    const dumps = new Map<TableState, Map<string, KernelMfcEntry> | undefined>();
    this.driftReasons.clear();
    for (const [id, route] of this.routes) {
      const table = this.table(route.spec.family, route.spec.table);
      if (!dumps.has(table)) dumps.set(table, table.port.dumpMfc());
      const dump = dumps.get(table);
      if (!dump) continue;
      const entry = dump.get(`${route.spec.source}|${route.spec.group}`);
      const reason = entry ? this.difference(route, entry, table) : "kernel entry missing";
      if (reason) this.driftReasons.set(id, reason);
    }
    return this.driftReasons.size;
  }

  /** Counters only (cheap per-entry ioctls), for periodic statistics. */
  stats(filter: StatsFilter = {}): { routes: RouteStatsView[]; vifs: VifView[] } {
    const routes: RouteStatsView[] = [];
    for (const route of this.routes.values()) {
      const { spec } = route;
      if (filter.source && filter.source !== spec.source) continue;
      if (filter.group && filter.group !== spec.group) continue;
      const table = this.table(spec.family, spec.table);
      routes.push({ spec: route.spec, counters: table.port.sgCounters(spec.source, spec.group) });
    }
    return { routes, vifs: this.vifViews() };
  }

  vifViews(): VifView[] {
    const views: VifView[] = [];
    for (const table of this.tables.values()) {
      for (const slot of table.vifs.all()) {
        views.push({
          vif: slot.vif,
          name: slot.name,
          ifindex: slot.ifindex,
          refs: slot.refs,
          counters: table.port.vifCounters(slot.vif) ?? ZERO_VIF,
        });
      }
    }
    return views;
  }

  private table(family: AddressFamily, tableId: number): TableState {
    const id = tableKeyString(family, tableId);
    let table = this.tables.get(id);
    if (!table) {
      table = { port: this.openTable(family, tableId), vifs: new VifTable() };
      this.tables.set(id, table);
    }
    return table;
  }

  private resolve(port: KernelPort, names: string[]): Map<string, number> {
    const ifindexes = new Map<string, number>();
    const missing: string[] = [];
    for (const name of names) {
      const ifindex = port.ifindex(name);
      if (ifindex === undefined) missing.push(name);
      else ifindexes.set(name, ifindex);
    }
    if (missing.length > 0) {
      throw new DomainError(
        "failed-precondition",
        `interface ${missing.map((n) => `"${n}"`).join(", ")} does not exist in mfcd's network namespace`,
        { reason: "INTERFACE_NOT_FOUND", metadata: { interfaces: missing.join(",") } },
      );
    }
    return ifindexes;
  }

  /**
   * Make sure every interface has a VIF, adding the missing ones at the lowest free indexes.
   * Returns the VIFs created (refs 0) so a later failure can drop them again.
   */
  private acquireVifs(table: TableState, names: string[], ifindexes: Map<string, number>): number[] {
    const needed = names.filter((name) => !table.vifs.byIfindex(ifindexes.get(name) as number));
    if (needed.length === 0) return [];
    if (needed.length > table.vifs.freeCount()) {
      throw vifTableFull(needed, table.vifs.freeCount());
    }
    const blocked = this.referencedVifs(table);
    const created: number[] = [];
    try {
      for (const name of needed) {
        const ifindex = ifindexes.get(name) as number;
        for (;;) {
          const [vif] = table.vifs.freeIndexes(1, blocked) ?? [];
          if (vif === undefined) throw vifTableFull(needed, created.length);
          try {
            table.port.addVif(vif, ifindex);
          } catch (err) {
            // A VIF we do not know about (a static one from another socket): skip that index.
            if (isErrno(err, "EADDRINUSE")) {
              blocked.add(vif);
              continue;
            }
            throw err;
          }
          table.vifs.insert(vif, name, ifindex);
          created.push(vif);
          break;
        }
      }
    } catch (err) {
      this.dropVifs(table, created);
      throw err;
    }
    return created;
  }

  /** Indexes some kernel entry not explained by our own VIF table still points at. */
  private referencedVifs(table: TableState): Set<number> {
    const blocked = new Set<number>();
    const dump = table.port.dumpMfc();
    if (!dump) return blocked;
    for (const entry of dump.values()) {
      for (const vif of [entry.parent, ...entry.oifs.keys()]) {
        if (vif < MAX_VIFS && !table.vifs.get(vif)) blocked.add(vif);
      }
    }
    return blocked;
  }

  /** Decrement references and delete VIFs that reached zero (after the MFC no longer uses them). */
  private release(table: TableState, vifs: number[]): void {
    const unused: number[] = [];
    for (const vif of vifs) {
      const slot = table.vifs.get(vif);
      if (!slot) continue;
      slot.refs--;
      if (slot.refs <= 0) unused.push(vif);
    }
    this.dropVifs(table, unused);
  }

  private dropVifs(table: TableState, vifs: number[]): void {
    for (const vif of vifs) {
      try {
        table.port.delVif(vif);
      } catch (err) {
        // Already gone with its interface: the slot is free either way.
        if (!isErrno(err, "EADDRNOTAVAIL")) throw err;
      }
      table.vifs.remove(vif);
    }
  }

  private view(route: InstalledRoute, table: TableState): RouteView {
    const { spec } = route;
    const counters = table.port.sgCounters(spec.source, spec.group);
    if (!counters) return { spec, state: "drifted", reason: "kernel entry missing", counters: ZERO_SG };
    return { spec, state: "installed", reason: "", counters };
  }

  /** Human-readable difference between what we installed and what the kernel holds. */
  private difference(route: InstalledRoute, entry: KernelMfcEntry, table: TableState): string {
    const name = (vif: number) => table.vifs.get(vif)?.name ?? `vif ${vif}`;
    const problems: string[] = [];
    if (entry.parent !== route.iifVif) {
      problems.push(`kernel iif is ${name(entry.parent)}, expected ${route.spec.iif}`);
    }
    const expected = new Set(route.oifVifs);
    const missing = route.oifVifs.filter((vif) => entry.oifs.get(vif) !== DEFAULT_TTL_THRESHOLD);
    const extra = [...entry.oifs.keys()].filter((vif) => !expected.has(vif));
    if (missing.length) problems.push(`kernel entry lacks oif ${missing.map(name).join(",")}`);
    if (extra.length) problems.push(`kernel entry has extra oif ${extra.map(name).join(",")}`);
    return problems.join("; ");
  }
}

function ttlMap(oifVifs: number[]): Map<number, number> {
  return new Map(oifVifs.map((vif) => [vif, DEFAULT_TTL_THRESHOLD]));
}

function sameForwarding(a: RouteSpec, b: RouteSpec): boolean {
  if (a.iif !== b.iif || a.oifs.length !== b.oifs.length) return false;
  const oifs = new Set(a.oifs);
  return b.oifs.every((oif) => oifs.has(oif));
}

function copySpec(spec: RouteSpec): RouteSpec {
  return { ...spec, oifs: [...spec.oifs] };
}

function vifTableFull(needed: string[], free: number): DomainError {
  return new DomainError(
    "resource-exhausted",
    `VIF table full: the kernel allows ${MAX_VIFS} VIFs per table; this route needs ` +
      `${needed.length} new (${needed.join(", ")}) but only ${free} are free`,
    { reason: "VIF_TABLE_FULL", metadata: { limit: String(MAX_VIFS), needed: needed.join(",") } },
  );
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

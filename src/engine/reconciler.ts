// Reconcile what mfcd wrote with the kernel as it is now: link states from rtnetlink, interfaces
// that appeared, vanished or were renamed (their VIFs retired, routes re-realized), and drift —
// entries removed or altered behind mfcd's back are repaired, foreign ones remembered.

import type { KernelMfcEntry } from "./kernel-port.js";
import { lookup, type IfindexCache, type KernelTable } from "./kernel-table.js";
import type { KernelTables } from "./kernel-tables.js";
import type { RouteIndex } from "./route-index.js";
import type { RouteKey } from "./route-key.js";
import { usesVif, type KernelEntry, type Route } from "./route-record.js";
import type { RouteRealizer } from "./route-realizer.js";
import { kernelSource, type LinkState } from "./route-types.js";
import type { TemplateLearning } from "./template-learning.js";

export class Reconciler {
  /** Interface name → ifindex (undefined: absent) as of the last syncInterfaces(). */
  private readonly seenNames = new Map<string, number | undefined>();

  constructor(
    private readonly routes: RouteIndex,
    private readonly tables: KernelTables,
    private readonly links: Map<string, LinkState>,
    private readonly learning: TemplateLearning,
    private readonly realizer: RouteRealizer,
  ) {}

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
    for (const route of dirty) if (this.realizer.realizeQuietly(route, this.tableOf(route), cache, false)) changed++;
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
        if (this.realizer.realizeQuietly(route, this.tableOf(route), cache, false)) changed++;
      }
    }
    for (const name of this.seenNames.keys()) if (!this.routes.byName.has(name)) this.seenNames.delete(name);
    for (const route of this.routes.values()) {
      if (route.error !== "" && this.realizer.realizeQuietly(route, this.tableOf(route), cache, false)) changed++;
    }
    return changed;
  }

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
          this.realizer.repair(route, table, reason);
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
    this.realizer.repair(route, table, "kernel entry was removed behind mfcd's back");
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

  /** A route's table (open: routes exist only in tables mfcd holds). */
  private tableOf(route: Route): KernelTable {
    return this.tables.open(route.spec.family, route.spec.table);
  }

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

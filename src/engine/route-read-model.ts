// The read model behind ListRoutes, WatchStats and Diagnose: views of routes, learned entries,
// VIFs and foreign entries with the kernel's counters. Reads never open a kernel table.

import { bulkCountersReader, readCounters, ZERO_SG, ZERO_VIF, type CountersReader } from "./counters-reader.js";
import { isTemplateKey } from "../address/index.js";
import type { SgCounters } from "./kernel-port.js";
import type { KernelTable } from "./kernel-table.js";
import type { KernelTables } from "./kernel-tables.js";
import { templateTextOf } from "./learned-entry.js";
import type { RouteIndex } from "./route-index.js";
import { routeKeyString, type AddressFamily, type RouteKey } from "./route-key.js";
import { NONE, pendingReason, type Route } from "./route-record.js";
import {
  kernelSource,
  type ForeignView,
  type LinkState,
  type RouteSpec,
  type RouteState,
  type RouteStatsView,
  type RouteView,
  type StatsFilter,
  type VifView,
} from "./route-types.js";
import type { TemplateLearning } from "./template-learning.js";

/** One flow as the kernel reports it now (Diagnose). */
export interface FlowSnapshot {
  route: RouteView | undefined;
  /** MFC counters of the route's kernel entry, or of a foreign entry for the same (S,G). */
  mfc: SgCounters | undefined;
  foreign: boolean;
  vifs: VifView[];
  vifsUsed: number;
}

export class RouteReadModel {
  constructor(
    private readonly routes: RouteIndex,
    private readonly tables: KernelTables,
    private readonly links: ReadonlyMap<string, LinkState>,
    private readonly learning: TemplateLearning,
  ) {}

  /**
   * What the kernel says about one flow right now, for Diagnose: the route (if any), the MFC
   * counters of its kernel entry (or of a foreign entry for the same (S,G)), and the VIFs.
   */
  flowSnapshot(key: RouteKey): FlowSnapshot {
    const table = this.tables.opened(key.family, key.table);
    // Not open: no route of ours is there, and a query must not claim the table to look.
    if (!table) return { route: undefined, mfc: undefined, foreign: false, vifs: [], vifsUsed: 0 };
    const route = this.routes.get(routeKeyString(key));
    const view = route && this.view(route, table);
    const ksource = route ? kernelSource(route.spec) : key.source;
    const mfc = table.port.sgCounters(ksource, key.group);
    const foreign = mfc !== undefined && (!route || !route.kernel);
    return { route: view, mfc, foreign, vifs: this.tableVifViews(table), vifsUsed: table.vifs.all().length };
  }

  /**
   * Every route with state and counters as the kernel reports them, and every VIF. Counters
   * and presence come from per-entry ioctls (µs each, any table); alterations are found by
   * checkDrift() and MFC events, and repaired there.
   */
  list(): { routes: RouteView[]; vifs: VifView[]; foreign: ForeignView[] } {
    const routes: RouteView[] = [];
    this.forEachView((view) => routes.push(view));
    return { routes, vifs: this.vifViews(), foreign: this.foreignViews() };
  }

  /**
   * list()'s routes one at a time, in the same order (routes, then learned entries and stop
   * filters): ListRoutes writes each as it comes instead of holding 10k views at once.
   */
  forEachView(visit: (view: RouteView) => void): void {
    const tableOf = this.tableLookup();
    const counters = bulkCountersReader();
    for (const route of this.routes.values()) visit(this.view(route, tableOf(route.spec), counters));
    if (this.learning.size > 0) for (const view of this.learning.learnedViews()) visit(view);
  }

  /** Kernel entries in our tables that no route explains (from the last drift check). */
  foreignViews(): ForeignView[] {
    return [...this.tables.all()].flatMap((t) => t.foreign);
  }

  /** Counters only (cheap per-entry ioctls), for periodic statistics. */
  stats(filter: StatsFilter = {}): { routes: RouteStatsView[]; vifs: VifView[] } {
    const routes: RouteStatsView[] = [];
    this.forEachStats(filter, (spec, counters) => routes.push({ spec, counters }));
    return { routes, vifs: this.vifViews() };
  }

  /**
   * stats()'s routes one at a time (WatchStats writes each as it comes), then the (S,G) entries
   * learned from templates (with the template's text; stop filters are not flows anyone routes).
   */
  forEachStats(
    filter: StatsFilter,
    visit: (spec: RouteSpec, counters: SgCounters | undefined, learnedFrom?: string) => void,
  ): void {
    const tableOf = this.tableLookup();
    const counters = bulkCountersReader();
    for (const route of this.routes.values()) {
      const { spec } = route;
      if (filter.source && filter.source !== spec.source) continue;
      if (filter.group && filter.group !== spec.group) continue;
      visit(spec, route.kernel ? counters(tableOf(spec), kernelSource(spec), spec.group) : undefined);
    }
    for (const l of this.learning.entries()) {
      const template = templateTextOf(l);
      if (template === undefined) continue;
      if (filter.source && filter.source !== l.source) continue;
      if (filter.group && filter.group !== l.group) continue;
      visit(this.learning.learnedSpec(l), counters(l.table, l.source, l.group) ?? ZERO_SG, template);
    }
  }

  /** table() for a pass over many routes: nearly all share one table, so skip the key string. */
  private tableLookup(): (key: RouteKey) => KernelTable {
    let family: AddressFamily | undefined;
    let id = -1;
    let last: KernelTable | undefined;
    return (key) => {
      if (last === undefined || key.family !== family || key.table !== id) {
        family = key.family;
        id = key.table;
        last = this.tables.open(family, id); // open: routes exist only in tables mfcd holds
      }
      return last;
    };
  }

  vifViews(): VifView[] {
    const views: VifView[] = [];
    for (const table of this.tables.all()) this.pushVifViews(table, views);
    return views;
  }

  private tableVifViews(table: KernelTable): VifView[] {
    const views: VifView[] = [];
    this.pushVifViews(table, views);
    return views;
  }

  private pushVifViews(table: KernelTable, views: VifView[]): void {
    for (const slot of table.vifs.all()) {
      const link = this.links.get(slot.name);
      const live = link?.ifindex === slot.ifindex && !table.stale.has(slot.vif);
      views.push({
        family: table.family,
        table: table.id,
        vif: slot.vif,
        name: slot.name,
        ifindex: slot.ifindex,
        refs: slot.refs,
        counters: table.port.vifCounters(slot.vif) ?? ZERO_VIF,
        up: live && link.up,
        running: live && link.running,
      });
    }
  }

  view(route: Route, table: KernelTable, read: CountersReader = readCounters): RouteView {
    const { spec } = route;
    // ListRoutes builds 10k of these: no intermediate arrays or spreads on the common path.
    let down: string[] = NONE;
    if (this.links.size > 0) {
      for (let i = -1; i < spec.oifs.length; i++) {
        const name = i < 0 ? spec.iif : (spec.oifs[i] as string);
        const link = this.links.get(name);
        if (link !== undefined && (!link.up || !link.running) && !route.missing.includes(name)) {
          if (down === NONE) down = [];
          down.push(name);
        }
      }
    }
    let state: RouteState = "installed";
    let reason = "";
    let counters = ZERO_SG;
    if (isTemplateKey(spec)) {
      if (!route.templateVifs) {
        state = "pending";
        reason = route.error || pendingReason(route);
      } else {
        reason = `template: ${this.learning.taughtBy(route)} (S,G) learned`;
      }
    } else if (!route.kernel) {
      state = "pending";
      reason = route.error || pendingReason(route);
    } else {
      const found = read(table, route.kernel.source, spec.group);
      if (!found) {
        state = "drifted";
        reason = "kernel entry missing";
      } else {
        counters = found;
        if (route.error) {
          state = "drifted";
          reason = route.error;
        } else if (route.missing.length > 0 || down.length > 0) {
          const notes: string[] = [];
          if (route.missing.length > 0) {
            notes.push(
              `oif ${route.missing.join(", ")} does not exist; forwarding to ` +
                `${spec.oifs.filter((o) => !route.missing.includes(o)).join(", ")} only`,
            );
          }
          if (down.length > 0) notes.push(`${down.join(", ")} down or without carrier`);
          reason = notes.join("; ");
        }
      }
    }
    return {
      spec,
      owner: route.owner,
      state,
      reason,
      counters,
      missing: route.missing,
      down,
      driftRepairs: route.driftRepairs,
      lastDrift: route.lastDrift,
    };
  }
}

// The one place that writes a route's kernel entry: realize() makes the kernel hold what the
// route should have now, from the interfaces that exist — add, replace, apply, restore, hot-plug
// and drift repair all go through it. Entries are rewritten or removed before the VIFs they stop
// using are released (the VIF reuse hazard, see route-engine.ts).

import { isTemplateKey } from "../address/index.js";
import { adoptEntry } from "./adoption.js";
import { acquireVifs, delEntry, dropVifs, liveSlot, lookup, release, type IfindexCache, type KernelTable } from "./kernel-table.js";
import { DEFAULT_TTL_THRESHOLD, NO_VIFS, NONE, sameEntry, ttlMap, type KernelEntry, type Route } from "./route-record.js";
import { kernelSource } from "./route-types.js";
import type { TemplateLearning } from "./template-learning.js";
import type { VifSlot } from "./vif-table.js";

export class RouteRealizer {
  constructor(
    private readonly learning: TemplateLearning,
    /** The "source|group" of every entry mfcd wrote in a table (VIF allocation skips foreign VIFs). */
    private readonly ourEntries: (table: KernelTable) => Set<string>,
    /** Wall clock for drift timestamps. */
    private readonly now: () => Date,
  ) {}

  /**
   * Make the kernel hold the entry `route` should have now. Throws (with kernel and VIFs
   * unchanged) on failure. `force` rewrites the entry even if we believe it is right (repair).
   * Returns true when something changed.
   */
  realize(route: Route, table: KernelTable, cache: IfindexCache, force: boolean): boolean {
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
      // Left exactly so by the previous mfcd: kept without a write (counters continue).
      if (before || !adoptEntry(table, route, next)) table.port.addMfc(next.source, spec.group, next.iifVif, ttlMap(next));
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
  realizeQuietly(route: Route, table: KernelTable, cache: IfindexCache, force: boolean): boolean {
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
  unrealize(route: Route, table: KernelTable): boolean {
    if (isTemplateKey(route.spec)) return this.learning.releaseTemplate(route, table);
    const before = route.kernel;
    if (!before) return false;
    delEntry(table, before.source, route.spec.group);
    route.kernel = undefined;
    release(table, [before.iifVif, ...before.oifVifs]);
    return true;
  }

  repair(route: Route, table: KernelTable, reason: string): void {
    route.lastDrift = `${this.now().toISOString()}: ${reason}`;
    route.driftRepairs++;
    this.realizeQuietly(route, table, new Map(), true);
  }
}

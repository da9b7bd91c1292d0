// Template learning: a template ((*,G) or prefix route) holds VIFs so the kernel reports new
// flows; on a NOCACHE upcall the best matching template teaches a concrete (S,G) entry, and a
// flow no template matches gets a stop filter (an entry without oifs). Idle entries expire.

import { parsePattern } from "../address/index.js";
import { ZERO_SG } from "./counters-reader.js";
import { acquireVifs, delEntry, dropVifs, liveSlot, lookup, release, type IfindexCache, type KernelTable } from "./kernel-table.js";
import type { KernelTables } from "./kernel-tables.js";
import { templateMatches, templateText, templateTextOf, type Learned } from "./learned-entry.js";
import type { RouteIndex } from "./route-index.js";
import { tableKeyString } from "./route-key.js";
import { DEFAULT_TTL_THRESHOLD, NONE, sameEntry, type Route } from "./route-record.js";
import type { LearnFailure, RouteSpec, RouteView, UpcallEvent } from "./route-types.js";
import type { VifSlot } from "./vif-table.js";

export type UpcallOutcome = "learned" | "stop-filter" | "relearned" | "ignored" | "failed";

export class TemplateLearning {
  /** Templates holding VIFs (installed): upcalls are matched against these only. */
  private readonly liveTemplates = new Set<Route>();
  /** Learned entries and stop filters by table key + "S|G". */
  private readonly learned = new Map<string, Learned>();
  /** Learned entries by their template (ListRoutes counts them per template without a scan). */
  private readonly learnedBy = new Map<Route, Set<Learned>>();

  /** Learned entries and stop filters the kernel refused to install (onUpcall answered "failed"). */
  learnFailures = 0;

  constructor(
    private readonly tables: KernelTables,
    private readonly routes: RouteIndex,
    /** At most this many learned entries (a flood of spoofed sources must not grow the table forever). */
    private readonly maxLearned: number,
    /** The "source|group" of every entry mfcd wrote in a table (VIF allocation skips foreign VIFs). */
    private readonly ourEntries: (table: KernelTable) => Set<string>,
    private readonly onLearnFailure: ((failure: LearnFailure) => void) | undefined,
  ) {}

  get size(): number {
    return this.learned.size;
  }

  /** Every learned entry and stop filter. */
  entries(): IterableIterator<Learned> {
    return this.learned.values();
  }

  /** How many (S,G) entries `template` taught. */
  taughtBy(template: Route): number {
    return this.learnedBy.get(template)?.size ?? 0;
  }

  /**
   * A template holds VIFs on its iif (so the kernel reports new flows there) and oifs, but has
   * no kernel entry itself: the kernel's own (*,G) entries only match when the iif is also an
   * oif (kernel-facts.md). Concrete (S,G) entries are learned on NOCACHE upcalls.
   */
  realizeTemplate(route: Route, table: KernelTable, cache: IfindexCache): boolean {
    const { spec } = route;
    const names = [spec.iif, ...spec.oifs];
    const resolved = new Map<string, number>();
    const missing: string[] = [];
    for (const name of names) {
      const ifindex = lookup(table.port, name, cache);
      if (ifindex === undefined) missing.push(name);
      else resolved.set(name, ifindex);
    }
    route.missing = missing;
    const presentOifs = spec.oifs.filter((n) => resolved.has(n));
    if (!resolved.has(spec.iif) || presentOifs.length === 0) return this.releaseTemplate(route, table);
    const created = acquireVifs(table, [spec.iif, ...presentOifs], resolved, this.ourEntries);
    const vifOf = (name: string) => (liveSlot(table, resolved.get(name) as number) as VifSlot).vif;
    const next = {
      iifVif: vifOf(spec.iif),
      oifVifs: presentOifs.map(vifOf),
      ttls: presentOifs.map((n) => spec.oifTtl?.[n] ?? DEFAULT_TTL_THRESHOLD),
    };
    const before = route.templateVifs;
    if (before && before.iifVif === next.iifVif && sameEntry({ source: "", ...before }, { source: "", ...next })) {
      return false;
    }
    try {
      for (const vif of [next.iifVif, ...next.oifVifs]) (table.vifs.get(vif) as VifSlot).refs++;
      route.templateVifs = next;
      this.liveTemplates.add(route);
      // What it taught follows the new oifs; stop filters it now matches start forwarding.
      for (const l of [...this.learned.values()]) {
        if (l.table !== table) continue;
        if (l.template === route) this.installLearned(table, l.source, l.group, l.iifVif, route);
        else if (!l.template && templateMatches(route, l.iifVif, l.source, l.group)) {
          this.installLearned(table, l.source, l.group, l.iifVif, route);
        }
      }
    } catch (err) {
      dropVifs(table, created);
      throw err;
    }
    if (before) release(table, [before.iifVif, ...before.oifVifs]);
    return true;
  }

  /** Remove what a template taught and let go of its VIFs. */
  releaseTemplate(route: Route, table: KernelTable): boolean {
    const before = route.templateVifs;
    for (const l of [...(this.learnedBy.get(route) ?? [])]) this.removeLearned(l);
    if (!before) return false;
    route.templateVifs = undefined;
    this.liveTemplates.delete(route);
    // Stop filters exist because templates do: with the table's last template gone, remove them
    // too (no kernel entry behind deleted routes, no VIF held for nobody).
    if (!this.hasTemplateIn(table)) {
      for (const l of [...this.learned.values()]) if (l.table === table && !l.template) this.removeLearned(l);
    }
    release(table, [before.iifVif, ...before.oifVifs]);
    return true;
  }

  /** The most specific installed template of this table matching (S,G) arriving on `vif`. */
  private bestTemplate(table: KernelTable, vif: number, source: string, group: string): Route | undefined {
    let best: Route | undefined;
    let bestLen = -1;
    for (const route of this.liveTemplates) {
      if (this.tables.open(route.spec.family, route.spec.table) !== table || !templateMatches(route, vif, source, group)) continue;
      const { family } = route.spec;
      const len =
        (parsePattern(family, route.spec.source)?.length ?? 0) + (parsePattern(family, route.spec.group)?.length ?? 0);
      if (len > bestLen) {
        best = route;
        bestLen = len;
      }
    }
    return best;
  }

  hasTemplateIn(table: KernelTable): boolean {
    for (const route of this.liveTemplates) if (this.tables.open(route.spec.family, route.spec.table) === table) return true;
    return false;
  }

  /** Write (or rewrite in place) a learned entry, or a stop filter when `template` is undefined. */
  private installLearned(table: KernelTable, source: string, group: string, iifVif: number, template: Route | undefined): void {
    const key = `${tableKeyString(table.family, table.id)}|${source}|${group}`;
    const tv = template?.templateVifs;
    const oifVifs = tv ? tv.oifVifs.filter((v) => v !== iifVif) : [];
    const ttls = tv ? tv.oifVifs.flatMap((v, i) => (v === iifVif ? [] : [tv.ttls[i] ?? DEFAULT_TTL_THRESHOLD])) : [];
    // Dynamic: a learned entry is not in the state file, so it must not outlive mfcd; after a
    // restart the flow's next packet is an upcall again and the entry is re-learned.
    table.port.addMfc(source, group, iifVif, new Map(oifVifs.map((v, i) => [v, ttls[i] ?? DEFAULT_TTL_THRESHOLD])), true);
    for (const vif of [iifVif, ...oifVifs]) (table.vifs.get(vif) as VifSlot).refs++;
    const before = this.learned.get(key);
    if (before) this.unindexLearned(before);
    const learned: Learned = {
      key,
      table,
      source,
      group,
      template,
      iifVif,
      oifVifs,
      ttls,
      lastPackets: before?.lastPackets ?? 0n,
      lastWrongIf: before?.lastWrongIf ?? 0n,
      idleSince: before?.idleSince ?? Date.now(),
    };
    this.learned.set(key, learned);
    if (template) {
      let taught = this.learnedBy.get(template);
      if (!taught) this.learnedBy.set(template, (taught = new Set()));
      taught.add(learned);
    }
    if (before) release(table, [before.iifVif, ...before.oifVifs]);
  }

  removeLearned(l: Learned, deleteEntry = true): void {
    if (deleteEntry) delEntry(l.table, l.source, l.group);
    this.learned.delete(l.key);
    this.unindexLearned(l);
    release(l.table, [l.iifVif, ...l.oifVifs]);
  }

  private unindexLearned(l: Learned): void {
    if (!l.template) return;
    const taught = this.learnedBy.get(l.template);
    taught?.delete(l);
    if (taught?.size === 0) this.learnedBy.delete(l.template);
  }

  /** An explicit route takes over (S,G): forget a learned entry without deleting it (rewritten in place). */
  forgetLearned(table: KernelTable, source: string, group: string): void {
    const l = this.learned.get(`${tableKeyString(table.family, table.id)}|${source}|${group}`);
    if (l) this.removeLearned(l, false);
  }

  /**
   * NOCACHE: a new flow arrived on a VIF — install a concrete entry from the best matching
   * template, or a stop filter (no oifs) so the kernel stops asking. WRONGVIF: a learned flow
   * moved to another iif a template allows — re-learn it there.
   */
  onUpcall(u: UpcallEvent): UpcallOutcome {
    const table = this.tables.opened(u.family, u.table);
    if (!table) return "ignored";
    // Bounded like routes: a flood of spoofed sources must not grow the kernel table forever.
    if (this.learned.size >= this.maxLearned) return "ignored";
    if (this.routes.byKernel(u) !== undefined) return "ignored"; // an explicit route owns it
    if (!table.vifs.get(u.vif) || table.stale.has(u.vif)) return "ignored";
    const existing = this.learned.get(`${tableKeyString(u.family, u.table)}|${u.source}|${u.group}`);
    const template = this.bestTemplate(table, u.vif, u.source, u.group);
    // Without any template in play the upcall machinery stays out of the way (no stop filters):
    // deleting a route must leave no kernel entry behind.
    if (!template && !existing && !this.hasTemplateIn(table)) return "ignored";
    try {
      if (u.type === "nocache") {
        if (existing && existing.iifVif === u.vif) return "ignored";
        this.installLearned(table, u.source, u.group, u.vif, template);
        return template ? "learned" : "stop-filter";
      }
      if (!existing || existing.iifVif === u.vif || !template) return "ignored";
      this.installLearned(table, u.source, u.group, u.vif, template);
      return "relearned";
    } catch (err) {
      // The flow stays unforwarded (the kernel asks again later): counted and reported, not lost.
      this.learnFailures++;
      this.onLearnFailure?.({
        family: u.family,
        table: u.table,
        source: u.source,
        group: u.group,
        template: template && templateText(template.spec),
        error: err instanceof Error ? err.message : String(err),
      });
      return "failed";
    }
  }

  /**
   * Remove learned entries and stop filters that carried no packet for `idleMs`; active ones
   * stay. Returns how many went.
   */
  expireLearned(idleMs: number, now = Date.now()): number {
    let removed = 0;
    for (const l of [...this.learned.values()]) {
      const counters = l.table.port.sgCounters(l.source, l.group);
      if (!counters) {
        this.removeLearned(l, false);
        continue;
      }
      // The kernel's pkt counter also counts packets that matched (S,G) on a wrong interface
      // (ip_mr_forward counts before the iif check): only the difference arrived on the iif.
      const onIif = counters.packets - counters.wrongIf;
      const moved = onIif === l.lastPackets && counters.wrongIf !== l.lastWrongIf && l.template;
      l.lastWrongIf = counters.wrongIf;
      if (moved) {
        // The flow stopped on its iif and arrives elsewhere: drop the entry so the next packet
        // raises a NOCACHE upcall on the new iif and a template allowing it re-learns it there.
        this.removeLearned(l);
        continue;
      }
      if (onIif !== l.lastPackets) {
        l.lastPackets = onIif;
        l.idleSince = now;
      } else if (idleMs > 0 && now - l.idleSince >= idleMs) {
        this.removeLearned(l);
        removed++;
      }
    }
    return removed;
  }

  learnedSpec(l: Learned): RouteSpec {
    const name = (vif: number) => l.table.vifs.get(vif)?.name ?? `vif ${vif}`;
    l.spec ??= { family: l.table.family, table: l.table.id, source: l.source, group: l.group, iif: name(l.iifVif), oifs: l.oifVifs.map(name) };
    return l.spec;
  }

  learnedViews(): RouteView[] {
    const views: RouteView[] = [];
    for (const l of this.learned.values()) {
      const name = (vif: number) => l.table.vifs.get(vif)?.name ?? `vif ${vif}`;
      const templateText = templateTextOf(l);
      views.push({
        spec: this.learnedSpec(l),
        owner: l.template?.owner ?? "mfcd",
        state: "installed",
        reason: templateText
          ? `learned from template ${templateText}`
          : `stop filter: no template matches this flow on ${name(l.iifVif)}; the kernel counts and drops it`,
        counters: l.table.port.sgCounters(l.source, l.group) ?? ZERO_SG,
        missing: NONE,
        down: NONE,
        driftRepairs: 0,
        lastDrift: "",
        learned: templateText !== undefined,
        stopFilter: templateText === undefined,
        template: templateText,
      });
    }
    return views;
  }
}

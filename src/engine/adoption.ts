// Adoption: a restarted mfcd takes over the VIFs and MFC entries its predecessor left in a
// kernel table (written static, they outlive the process: kernel-port.ts leftoverVifs). The
// VIFs keep their indexes; an entry that already is what a restored route needs is kept as it
// is — no write, so its counters continue and the stream never stops; one that differs is
// rewritten in place by the realizer. Whatever no restored route claims is removed once the
// restore is over: an entry entering through one of our VIFs is the leftover of a change that
// was never acknowledged (the kernel is written before the state file), and one whose input VIF
// is gone could forward to the next interface that gets its index (the VIF reuse hazard).
//
// An entry kept without a write may still carry a TTL for a VIF whose interface was deleted
// while no mfcd ran (the kernel removes the VIF, not the TTLs, and its dumps do not show them).
// So every VIF index that was empty at adoption is tainted: before mfcd first hands one out, it
// rewrites every kept entry in place (no packet lost) — the common restart writes nothing.

import { GONE_INPUT_VIF, type KernelMfcEntry } from "./kernel-port.js";
import { delEntry, dropVifs, type KernelTable } from "./kernel-table.js";
import { MAX_VIFS } from "./vif-table.js";
import { ttlMap, type KernelEntry, type Route } from "./route-record.js";

export interface Adoption {
  /** Leftover entries by "source|group", until a route claims one or the restore ends. */
  entries: Map<string, KernelMfcEntry>;
  /** Routes whose entry was kept without a write. */
  kept: Set<Route>;
}

/** Takes over the table's leftover VIFs and reads its entries; false when the port has none to offer. */
export function beginAdoption(table: KernelTable): boolean {
  const vifs = table.port.leftoverVifs?.();
  if (!vifs || vifs.length === 0) return false;
  for (const v of vifs) {
    if (table.vifs.get(v.vif) || v.ifindex <= 0) continue;
    table.vifs.insert(v.vif, v.name, v.ifindex);
    table.port.adoptVif?.(v.vif, v.ifindex);
  }
  const kept = new Set<Route>();
  table.adoption = { entries: table.port.dumpMfc() ?? new Map(), kept };
  const tainted = new Set<number>();
  for (let vif = 0; vif < MAX_VIFS; vif++) if (!table.vifs.get(vif)) tainted.add(vif);
  table.beforeNewVif = (vif) => {
    if (!tainted.has(vif)) return;
    table.beforeNewVif = undefined;
    for (const r of kept) if (r.kernel) table.port.addMfc(r.kernel.source, r.spec.group, r.kernel.iifVif, ttlMap(r.kernel));
  };
  return true;
}

/** True when the kernel already holds exactly `next` for `route` (left by the previous mfcd): claimed, no write needed. */
export function adoptEntry(table: KernelTable, route: Route, next: KernelEntry): boolean {
  const group = route.spec.group;
  const adoption = table.adoption;
  if (!adoption) return false;
  const key = `${next.source}|${group}`;
  const have = adoption.entries.get(key);
  if (!have) return false;
  adoption.entries.delete(key); // claimed either way: rewritten in place if it differs
  if (have.parent !== next.iifVif || have.oifs.size !== next.oifVifs.length) return false;
  for (let i = 0; i < next.oifVifs.length; i++) if (have.oifs.get(next.oifVifs[i] as number) !== next.ttls[i]) return false;
  adoption.kept.add(route);
  return true;
}

/** Ends the adoption: unclaimed leftovers and unused adopted VIFs go. Returns what was adopted and removed. */
export function finishAdoption(table: KernelTable): { adopted: number; removed: number } {
  const adoption = table.adoption;
  if (!adoption) return { adopted: 0, removed: 0 };
  table.adoption = undefined;
  let removed = 0;
  for (const e of adoption.entries.values()) {
    const ours = table.vifs.get(e.parent) !== undefined;
    if (!ours && e.parent !== GONE_INPUT_VIF) continue; // another socket's entry on its own VIFs
    delEntry(table, e.source, e.group);
    removed++;
  }
  dropVifs(table, table.vifs.all().filter((slot) => slot.refs === 0).map((slot) => slot.vif));
  if (adoption.kept.size === 0) table.beforeNewVif = undefined;
  return { adopted: adoption.kept.size, removed };
}

// One kernel multicast routing table (family, table id) as mfcd holds it: its port (MRT_INIT
// socket), the VIF slots mfcd allocated there, the VIFs foreign entries name, and the errno
// handling of its writes.

import type { Adoption } from "./adoption.js";
import type { DomainError } from "./domain-error.js";
import type { KernelPort } from "./kernel-port.js";
import type { AddressFamily } from "./route-key.js";
import type { ForeignView } from "./route-types.js";
import { vifTableFull } from "./route-errors.js";
import type { VifSlot, VifTable } from "./vif-table.js";

export interface KernelTable {
  family: AddressFamily;
  id: number;
  port: KernelPort;
  vifs: VifTable;
  /** Slots whose interface vanished or was renamed: never handed out, freed at refs 0. */
  stale: Set<number>;
  /** VIF indexes that foreign kernel entries name (from the last dump): never handed out. */
  foreignVifs: Set<number>;
  foreign: ForeignView[];
  /** Set when the kernel lacks what this table needs: its port is a stub, nothing installs. */
  unavailable?: DomainError;
  /** What a previous mfcd left here, while the restore claims it (adoption.ts). */
  adoption?: Adoption;
  /** Called before a VIF is created at `vif` (adoption.ts: kept entries are rewritten first). */
  beforeNewVif?: (vif: number) => void;
}

/** Interface name → ifindex lookups for one operation (a bulk apply resolves each name once). */
export type IfindexCache = Map<string, number | undefined>;

export function lookup(port: KernelPort, name: string, cache: IfindexCache): number | undefined {
  if (cache.has(name)) return cache.get(name);
  const ifindex = port.ifindex(name);
  cache.set(name, ifindex);
  return ifindex;
}

/** The VIF of an ifindex, unless that slot is retired (its interface vanished or was renamed). */
export function liveSlot(table: KernelTable, ifindex: number): VifSlot | undefined {
  return table.vifs.findByIfindex(ifindex, table.stale);
}

/**
 * The kernel's own id of a family's default table (RT_TABLE_DEFAULT 253, RT6_TABLE_DFLT 254) is
 * mfcd's table 0: the same kernel table, owned through the same socket.
 */
export const KERNEL_DEFAULT_TABLE_ID: Record<AddressFamily, number> = { ipv4: 253, ipv6: 254 };

export function canonicalTableId(family: AddressFamily, table: number): number {
  return table === KERNEL_DEFAULT_TABLE_ID[family] ? 0 : table;
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * Make sure every named interface has a live VIF, adding the missing ones at the lowest free
 * index that no entry still names. Returns the VIFs created (refs 0) so a later failure can
 * drop them again.
 */
export function acquireVifs(
  table: KernelTable,
  names: string[],
  ifindexes: Map<string, number>,
  ours: (table: KernelTable) => Set<string>,
): number[] {
  const needed = names.filter((name) => !liveSlot(table, ifindexes.get(name) as number));
  if (needed.length === 0) return [];
  if (needed.length > table.vifs.freeCount()) throw vifTableFull(needed, table.vifs.freeCount());
  // A new index must not be one a kernel entry we did not write still names (rare: only
  // when a VIF is created, so the full dump stays off the per-route path).
  refreshForeignVifs(table, ours(table));
  const blocked = new Set(table.foreignVifs);
  const created: number[] = [];
  try {
    for (const name of needed) {
      const ifindex = ifindexes.get(name) as number;
      if (liveSlot(table, ifindex)) continue; // the same interface named twice
      for (;;) {
        const [vif] = table.vifs.freeIndexes(1, blocked) ?? [];
        if (vif === undefined) throw vifTableFull(needed, created.length);
        try {
          table.beforeNewVif?.(vif);
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
    dropVifs(table, created);
    throw err;
  }
  return created;
}

/** Which VIF indexes kernel entries not in `ours` ("source|group" keys) name: never handed out. */
export function refreshForeignVifs(table: KernelTable, ours: Set<string>): void {
  const dump = table.port.dumpMfc();
  if (!dump) return;
  table.foreignVifs = new Set();
  for (const [key, entry] of dump) {
    if (ours.has(key)) continue;
    for (const vif of [entry.parent, ...entry.oifs.keys()]) if (!table.vifs.get(vif)) table.foreignVifs.add(vif);
  }
}

/** Decrement references and delete VIFs that reached zero (after the MFC no longer uses them). */
export function release(table: KernelTable, vifs: number[]): void {
  const unused: number[] = [];
  for (const vif of vifs) {
    const slot = table.vifs.get(vif);
    if (!slot) continue;
    slot.refs--;
    if (slot.refs <= 0) unused.push(vif);
  }
  dropVifs(table, unused);
}

export function dropVifs(table: KernelTable, vifs: number[]): void {
  for (const vif of vifs) {
    try {
      table.port.delVif(vif);
    } catch (err) {
      // Already gone with its interface: the slot is free either way.
      if (!isErrno(err, "EADDRNOTAVAIL")) throw err;
    }
    table.vifs.remove(vif);
    table.stale.delete(vif);
  }
}

export function delEntry(table: KernelTable, source: string, group: string): void {
  try {
    table.port.delMfc(source, group);
  } catch (err) {
    // Already gone (removed behind our back): the goal is reached.
    if (!isErrno(err, "ENOENT")) throw err;
  }
}

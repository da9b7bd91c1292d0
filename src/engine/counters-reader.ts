// How a pass over many routes reads their kernel counters: per entry, or in bulk per busy table.

import type { KernelTable } from "./kernel-table.js";
import type { SgCounters, SgCountersLookup, VifCounters } from "./kernel-port.js";

export const ZERO_SG: SgCounters = { packets: 0n, bytes: 0n, wrongIf: 0n };
export const ZERO_VIF: VifCounters = { inPackets: 0n, inBytes: 0n, outPackets: 0n, outBytes: 0n };

/** How a view reads one kernel entry's counters (undefined: the kernel has no such entry). */
export type CountersReader = (table: KernelTable, source: string, group: string) => SgCounters | undefined;

export const readCounters: CountersReader = (table, source, group) => table.port.sgCounters(source, group);

/**
 * Per-entry reads in a pass over many routes after which a table is read in bulk instead
 * (KernelPort.sgCountersAll: one dump beats this many ioctls well before 10k entries, and a
 * pass over a handful of routes, e.g. a filtered WatchStats, never pays for a dump).
 */
export const BULK_COUNTERS_AFTER = 256;

/** A CountersReader for one pass: per-entry reads, then one bulk read per busy table. */
export function bulkCountersReader(): CountersReader {
  const reads = new Map<KernelTable, number>();
  const bulk = new Map<KernelTable, SgCountersLookup | undefined>();
  return (table, source, group) => {
    const all = bulk.get(table);
    if (all !== undefined) return all.get(source, group);
    if (!bulk.has(table)) {
      const n = (reads.get(table) ?? 0) + 1;
      reads.set(table, n);
      if (n > BULK_COUNTERS_AFTER) {
        // undefined (no bulk read for this table) is remembered too: per-entry reads from now on.
        const taken = table.port.sgCountersAll?.();
        bulk.set(table, taken);
        if (taken !== undefined) return taken.get(source, group);
      }
    }
    return table.port.sgCounters(source, group);
  };
}

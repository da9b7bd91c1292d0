// One kernel multicast routing table (family, table id) as mfcd holds it: its port (MRT_INIT
// socket), the VIF slots mfcd allocated there, the VIFs foreign entries name, and the errno
// handling of its writes.

import type { DomainError } from "./domain-error.js";
import type { KernelPort } from "./kernel-port.js";
import type { AddressFamily } from "./route-key.js";
import type { ForeignView } from "./route-types.js";
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

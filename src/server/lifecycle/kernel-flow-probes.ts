// FlowProbes over the real kernel layer: sysctls, /proc/net/netstat, an rtnetlink route lookup
// back to the source (the kernel's own RPF rule), link flags, the upcall ring and an nft TTL
// probe. Everything refers to mfcd's own network namespace.

import {
  KernelError,
  listLinks,
  MrouteSocket,
  readNetstat,
  localAddresses,
  reversePathOk,
  rpFilter,
  type NftRescueTable,
  type UpcallRing,
} from "../../kernel/index.js";
import type { FlowProbes } from "../diagnostics/index.js";

/** `rings`: the upcall ring of each IPv4 table mfcd reads upcalls of (a VIF index means something only within its table). */
export function kernelFlowProbes(rings: ReadonlyMap<number, UpcallRing>, nft: { table: NftRescueTable } | { why: string }): FlowProbes {
  return {
    links: () => listLinks(),
    rpFilter: (iif) => rpFilter(iif),
    reversePath(source, iif) {
      const link = listLinks().find((l) => l.name === iif);
      if (!link) return undefined;
      const strict = reversePathOk(source, link.ifindex, 1);
      const loose = reversePathOk(source, link.ifindex, 2);
      return { strictOk: strict.ok, looseOk: loose.ok, detail: strict.reason };
    },
    rpFilterDrops: () => readNetstat().TcpExtIPReversePathFilter ?? 0,
    upcalls(source, group, sinceMs, table) {
      const by = { nocache: new Map<number, number>(), wrongvif: new Map<number, number>() };
      for (const u of rings.get(table)?.recent(source, group) ?? []) {
        if (u.at < sinceMs) continue;
        by[u.type].set(u.vif, (by[u.type].get(u.vif) ?? 0) + 1);
      }
      const list = (m: Map<number, number>) => [...m].map(([vif, count]) => ({ vif, count }));
      return { nocache: list(by.nocache), wrongvif: list(by.wrongvif) };
    },
    ttlProbe(flow, windowMs, signal) {
      if (!("table" in nft)) return nft.why;
      return nft.table
        .probeTtl(flow, windowMs, signal)
        .then((r) => ({ le1: Number(r.ttlLe1), gt1: Number(r.ttlGt1) }));
    },
    tableOwner(table) {
      // MRT_INIT answers EADDRINUSE while another socket owns the table; when nobody does, the
      // table is released again at once (MRT_DONE on close flushes only what this socket added:
      // nothing), so no other router is ever kept from it.
      try {
        MrouteSocket.open({ table }).close();
        return undefined;
      } catch (err) {
        if (err instanceof KernelError && err.code === "EADDRINUSE") return err.message;
        throw err;
      }
    },
  };
}

/** For refusing rewrite_source values that are addresses of this host. */
export function isLocalAddress(address: string): boolean {
  return localAddresses().some((a) => a.address === address);
}

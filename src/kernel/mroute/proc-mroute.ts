// Parsers for /proc/net/ip_mr_cache and /proc/net/ip_mr_vif (default table only; the kernel
// prints no other table there). Hand-rolled scanners rather than split/regex: a 10k-entry
// dump must parse in a few milliseconds.
//
// ip_mr_cache line: "GROUP ORIGIN IIF PKTS BYTES WRONG [VIF:TTL ...]", where GROUP and ORIGIN
// are the raw __be32 printed with %08X (so byte-reversed on little-endian hosts: 010101EF is
// 239.1.1.1), IIF is -1 for an unresolved entry (queued packets waiting for a route after a
// NOCACHE upcall; counters then print 0 and no oifs), and only oifs with a TTL in 1..254 on
// existing VIFs are listed.
//
// ip_mr_vif line: "VIF NAME BYTESIN PKTSIN BYTESOUT PKTSOUT FLAGS LOCAL REMOTE" (FLAGS, LOCAL,
// REMOTE hex). With VIFF_USE_IFINDEX, LOCAL holds the ifindex (the union member written as an
// int), otherwise the local address.

import type { KernelMfcEntry, KernelVif, VifCounters } from "../../engine/kernel-port.js";
import { VIFF_USE_IFINDEX } from "../abi/index.js";
import { parseVifRows, scanMrCache } from "./proc-scanner.js";

/** An ip_mr_cache row. Unresolved rows are included with `unresolved: true` and parent -1. */
export interface ProcMfcEntry extends KernelMfcEntry {
  unresolved: boolean;
}

/**
 * An ip_mr_vif or ip6_mr_vif row. The parser leaves `ifindex` 0 where the file has none (IPv4
 * VIFs not added with VIFF_USE_IFINDEX, every IPv6 MIF); the socket's dumpVifs resolves those
 * by name.
 */
export interface ProcVif extends KernelVif {
  flags: number;
  counters: VifCounters;
}

/** Parses /proc/net/ip_mr_cache (text, or its raw bytes to skip a string conversion). */
export function parseIpMrCache(input: string | Uint8Array): ProcMfcEntry[] {
  const out: ProcMfcEntry[] = [];
  scanIpMrCache(input, (e) => out.push(e));
  return out;
}

/** Streaming form of parseIpMrCache: calls `onEntry` per row, in kernel order. */
export function scanIpMrCache(input: string | Uint8Array, onEntry: (e: ProcMfcEntry) => void): void {
  scanMrCache(input, (s) => s.be32(), onEntry);
}

/** Parses /proc/net/ip_mr_vif (text or raw bytes). */
export function parseIpMrVif(input: string | Uint8Array): ProcVif[] {
  return parseVifRows(input, "vif", (s, flags) => {
    const local = s.hex();
    const remote = s.hex();
    if (Number.isNaN(local) || Number.isNaN(remote)) throw s.error("local/remote");
    return flags & VIFF_USE_IFINDEX ? local : 0;
  });
}

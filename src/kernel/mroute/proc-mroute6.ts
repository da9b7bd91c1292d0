// Parsers for /proc/net/ip6_mr_cache and /proc/net/ip6_mr_vif (default table only), on the
// scanner of the IPv4 parsers (proc-scanner.ts): the formats differ only where noted.
//
// ip6_mr_cache line: "GROUP ORIGIN IIF PKTS BYTES WRONG [MIF:TTL ...]" as for IPv4, but GROUP
// and ORIGIN in the kernel's %pI6 form (eight 4-digit groups, "ff3e:0000:...:0001"; returned
// here in canonical RFC 5952 text) and TTL always 1 (mf6cctl has no thresholds).
// ip6_mr_vif line: "MIF NAME BYTESIN PKTSIN BYTESOUT PKTSOUT FLAGS" (FLAGS hex, e.g. 00000,
// or 00001 for the PIM register MIF); no LOCAL/REMOTE columns, so no ifindex.

import { canonicalIpv6 } from "../../address/index.js";
import type { ProcMfcEntry, ProcVif } from "./proc-mroute.js";
import { type Scanner, parseVifRows, scanMrCache } from "./proc-scanner.js";

/** An ip6_mr_cache row. Unresolved rows are included with `unresolved: true` and parent -1. */
export type ProcMfc6Entry = ProcMfcEntry;

/** An ip6_mr_vif row; `ifindex` is 0 (the file has none; Mroute6Socket.dumpVifs fills it in). */
export type ProcMif = ProcVif;

function address(s: Scanner): string {
  const a = canonicalIpv6(s.word());
  if (a === undefined) throw s.error("address");
  return a;
}

/** Parses /proc/net/ip6_mr_cache (text or raw bytes). */
export function parseIp6MrCache(input: string | Uint8Array): ProcMfc6Entry[] {
  const out: ProcMfc6Entry[] = [];
  scanMrCache(input, address, (e) => out.push(e));
  return out;
}

/** Parses /proc/net/ip6_mr_vif (text or raw bytes). */
export function parseIp6MrVif(input: string | Uint8Array): ProcMif[] {
  // ip6_mr_vif prints no ifindex.
  return parseVifRows(input, "mif", () => 0);
}

// Parsers for /proc/net/ip6_mr_cache and /proc/net/ip6_mr_vif (default table only).
//
// ip6_mr_cache line: "GROUP ORIGIN IIF PKTS BYTES WRONG [MIF:TTL ...]", GROUP and ORIGIN in the
// kernel's %pI6 form (eight 4-digit groups, "ff3e:0000:...:0001"; returned here in canonical
// RFC 5952 text), IIF -1 for an unresolved entry (counters 0, no oifs), oifs only for MIFs that
// exist, TTL always 1 (mf6cctl has no thresholds).
// ip6_mr_vif line: "MIF NAME BYTESIN PKTSIN BYTESOUT PKTSOUT FLAGS" (FLAGS hex, e.g. 00000,
// or 00001 for the PIM register MIF); no ifindex column.

import type { KernelMfcEntry, KernelVif, VifCounters } from "../engine/kernel-port.js";
import { canonicalIpv6 } from "../address/index.js";

/** An ip6_mr_cache row. Unresolved rows are included with `unresolved: true` and parent -1. */
export interface ProcMfc6Entry extends KernelMfcEntry {
  unresolved: boolean;
}

/** An ip6_mr_vif row; `ifindex` is 0 (the file has none; Mroute6Socket.dumpVifs fills it in). */
export interface ProcMif extends KernelVif {
  flags: number;
  counters: VifCounters;
}

function rows(input: string | Uint8Array): string[][] {
  const text = typeof input === "string" ? input : Buffer.from(input).toString("latin1");
  const out: string[][] = [];
  for (const line of text.split("\n")) {
    const cols = line.trim().split(/ +/);
    const first = cols[0] ?? "";
    // Header rows start with a word ("Group", "Interface"); data rows with hex/decimal or '-'.
    if (first === "" || !/^[-0-9a-f]/.test(first)) continue;
    out.push(cols);
  }
  return out;
}

function counter(text: string | undefined, line: string[]): bigint {
  if (text === undefined || !/^\d+$/.test(text)) throw new Error(`bad counter in /proc row ${JSON.stringify(line.join(" "))}`);
  return BigInt(text);
}

function address(text: string | undefined, line: string[]): string {
  const a = text === undefined ? undefined : canonicalIpv6(text);
  if (a === undefined) throw new Error(`bad address in /proc row ${JSON.stringify(line.join(" "))}`);
  return a;
}

/** Parses /proc/net/ip6_mr_cache (text or raw bytes). */
export function parseIp6MrCache(input: string | Uint8Array): ProcMfc6Entry[] {
  const out: ProcMfc6Entry[] = [];
  for (const cols of rows(input)) {
    const group = address(cols[0], cols);
    const source = address(cols[1], cols);
    const parent = Number(cols[2]);
    if (!Number.isInteger(parent)) throw new Error(`bad iif in /proc row ${JSON.stringify(cols.join(" "))}`);
    const packets = counter(cols[3], cols);
    const bytes = counter(cols[4], cols);
    const wrongIf = counter(cols[5], cols);
    const oifs = new Map<number, number>();
    for (const oif of cols.slice(6)) {
      const m = /^(\d+):(\d+)$/.exec(oif);
      if (!m) throw new Error(`bad oif in /proc row ${JSON.stringify(cols.join(" "))}`);
      oifs.set(Number(m[1]), Number(m[2]));
    }
    out.push({ source, group, parent, oifs, counters: { packets, bytes, wrongIf }, unresolved: parent < 0 });
  }
  return out;
}

/** Parses /proc/net/ip6_mr_vif (text or raw bytes). */
export function parseIp6MrVif(input: string | Uint8Array): ProcMif[] {
  const out: ProcMif[] = [];
  for (const cols of rows(input)) {
    const vif = Number(cols[0]);
    const name = cols[1];
    const flags = parseInt(cols[6] ?? "", 16);
    if (!Number.isInteger(vif) || name === undefined || !/^[0-9A-Fa-f]+$/.test(cols[6] ?? "")) {
      throw new Error(`bad /proc/net/ip6_mr_vif row ${JSON.stringify(cols.join(" "))}`);
    }
    out.push({
      vif,
      name,
      ifindex: 0,
      flags,
      counters: {
        inBytes: counter(cols[2], cols),
        inPackets: counter(cols[3], cols),
        outBytes: counter(cols[4], cols),
        outPackets: counter(cols[5], cols),
      },
    });
  }
  return out;
}

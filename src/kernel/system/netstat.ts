// SNMP-style counters of a network namespace: /proc/net/netstat (TcpExt, IpExt, MPTcpExt) and
// /proc/net/snmp (Ip, Icmp, IcmpMsg, Tcp, Udp, UdpLite). Both files are pairs of lines, a header
// "Prefix: Name1 Name2 ..." followed by "Prefix: v1 v2 ...". Keys are prefix + name, as nstat
// prints them: TcpExtIPReversePathFilter (multicast dropped by rp_filter, the only trace such
// drops leave), IpExtInMcastPkts, IpInDiscards, ...
//
// /proc/net is a link to /proc/self/net, i.e. the namespace of the process's main thread. The
// reader uses /proc/thread-self/net instead, the namespace of the calling thread, so that it
// works from any thread and, inside inNetns(), reads the entered namespace.

import fs from "node:fs";
import path from "node:path";
import { inNetns } from "../ffi/index.js";
import type { ProcReadOptions } from "./sysctl.js";

export type { ProcReadOptions } from "./sysctl.js";

/**
 * Parses the header/value line pairs of /proc/net/netstat or /proc/net/snmp into
 * { PrefixName: value }. Values are 64-bit counters in the kernel; above 2^53 they lose
 * precision as numbers (years of line-rate traffic). Lines that do not pair up are skipped.
 */
export function parseNetstat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  const lines = text.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = /^(\w+):\s+(.*)$/.exec(lines[i]!);
    const vals = /^(\w+):\s+(.*)$/.exec(lines[i + 1]!);
    if (!head || !vals || head[1] !== vals[1]) continue;
    const names = head[2]!.trim().split(/\s+/);
    const values = vals[2]!.trim().split(/\s+/);
    // A header is made of names; a value line of integers. Skip until a real pair lines up.
    if (names.length !== values.length || !values.every((v) => /^-?\d+$/.test(v))) continue;
    names.forEach((n, j) => (out[head[1]! + n] = Number(values[j])));
    i++;
  }
  return out;
}

function readNetFile(file: "netstat" | "snmp", opts: ProcReadOptions): Record<string, number> {
  const full = path.join(opts.procRoot ?? "/proc", "thread-self/net", file);
  return parseNetstat(inNetns(opts.netns, () => fs.readFileSync(full, "utf8")));
}

/** /proc/net/netstat of the namespace (TcpExt*, IpExt*, MPTcpExt*). */
export function readNetstat(opts: ProcReadOptions = {}): Record<string, number> {
  return readNetFile("netstat", opts);
}

/** /proc/net/snmp of the namespace (Ip*, Icmp*, IcmpMsg*, Tcp*, Udp*, UdpLite*). */
export function readSnmp(opts: ProcReadOptions = {}): Record<string, number> {
  return readNetFile("snmp", opts);
}

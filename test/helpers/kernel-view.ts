// What the kernel shows inside a namespace: raw text of the multicast routing /proc files and
// of `ip mroute`, plus SNMP/netstat counters and sysctls. The /proc mroute files are parsed by
// src/kernel/mroute/proc-mroute.ts (parseIpMrCache / parseIpMrVif), not here.
//
// /proc/net and /proc/sys/net show the network namespace of the *reading thread*: files are read
// in-process with the thread briefly inside `ns` (inNetns), not by spawning `ip netns exec cat` —
// tests poll these, and a process spawn costs ~0.3 s of CPU in a user-mode Linux guest.

import fs from "node:fs";
import { inNetns } from "../../src/kernel/ffi/index.js";
import { ip } from "./netns.js";

/** The text of /proc files as a thread inside `ns` sees them, concatenated. */
function readInNetns(ns: string, files: readonly string[]): Promise<string> {
  return Promise.resolve(inNetns(`/run/netns/${ns}`, () => files.map((f) => fs.readFileSync(f, "utf8")).join("")));
}

/** Raw text of /proc/net/ip_mr_cache in `ns` (default table only). */
export function readMrCache(ns: string): Promise<string> {
  return readInNetns(ns, ["/proc/thread-self/net/ip_mr_cache"]);
}

/** Raw text of /proc/net/ip_mr_vif in `ns` (default table only). */
export function readMrVif(ns: string): Promise<string> {
  return readInNetns(ns, ["/proc/thread-self/net/ip_mr_vif"]);
}

export interface IpMrouteOptions {
  /** `ip -s mroute show`: adds packet/byte counters. */
  stats?: boolean;
  /** `table <id|all>`; default: the main multicast table. */
  table?: number | string;
}

/** Text of `ip [-s] mroute show [table T]` in `ns`. */
export function ipMroute(ns: string, opts: IpMrouteOptions = {}): Promise<string> {
  const args = [...(opts.stats ? ["-s"] : []), "mroute", "show"];
  if (opts.table !== undefined) args.push("table", String(opts.table));
  return ip(args, ns);
}

/**
 * All counters of /proc/net/netstat and /proc/net/snmp in `ns`, keyed by section + field, e.g.
 * `TcpExtIPReversePathFilter`, `IpExtInMcastPkts`, `IpForwDatagrams`, `UdpInDatagrams`.
 */
export async function readNetstat(ns: string): Promise<Record<string, number>> {
  const text = await readInNetns(ns, ["/proc/thread-self/net/netstat", "/proc/thread-self/net/snmp"]);
  const out: Record<string, number> = {};
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  // Each section is a pair of lines: "Prefix: name name ..." then "Prefix: value value ...".
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const head = lines[i]!.trim().split(/\s+/);
    const vals = lines[i + 1]!.trim().split(/\s+/);
    const prefix = head[0]?.replace(/:$/, "") ?? "";
    if (vals[0] !== head[0]) throw new Error(`netstat: unpaired section ${head[0]} / ${vals[0]}`);
    for (let j = 1; j < head.length; j++) {
      const v = vals[j];
      if (v !== undefined) out[`${prefix}${head[j]}`] = Number(v);
    }
  }
  return out;
}

/** One counter, e.g. netstat(router, "TcpExtIPReversePathFilter"). Throws for an unknown key. */
export async function netstat(ns: string, key: string): Promise<number> {
  const all = await readNetstat(ns);
  const v = all[key];
  if (v === undefined) throw new Error(`netstat: no counter ${key} in ${ns}`);
  return v;
}

/** Value of a sysctl in `ns`, e.g. readSysctl(router, "net.ipv4.conf.in0.rp_filter"). */
export async function readSysctl(ns: string, key: string): Promise<string> {
  return (await readInNetns(ns, [`/proc/sys/${key.replace(/\./g, "/")}`])).trim();
}

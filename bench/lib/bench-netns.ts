// Namespaces for the benchmark: `mfcb-<pid>-<n>-<role>`, each a "router" with veth pairs
// v<i> <-> p<i> created inside it (no dummy driver on this kernel), all up. They are recorded
// with the test lab's registry (test/helpers/netns.ts), so they are deleted — with any process
// still inside them — at exit, on SIGINT/SIGTERM/SIGHUP, or by removeBenchNamespaces().

import fs from "node:fs";
import { inNetns } from "../../src/kernel/index.js";
import { addNetns, delNetns, ipBatch, listNetns, ownedNamespaces } from "../../test/helpers/netns.js";

export const BENCH_NS_PREFIX = "mfcb-";
const STALE_RE = /^mfcb-(\d+)-/;
let counter = 0;

export interface BenchNs {
  name: string;
  /** The namespace file, for MrouteSocket.open({ netns }) and inNetns(). */
  path: string;
}

/** Input interface of every benchmark route. */
export const IIF = "v0";
/** Output interfaces of every benchmark route. */
export const OIFS: readonly string[] = ["v1", "v2"];
/** The one group of every benchmark route; routes differ by source. */
export const GROUP = "239.1.1.1";

/** Distinct unicast source for route i (i < 15.8M): 10.a.b.c with c in 1..250. */
export function sourceAt(i: number): string {
  return `10.${1 + Math.floor(i / 62_500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
}

/** Creates namespace `mfcb-<pid>-<n>-<role>` holding veth pairs v0..v<pairs-1> (peers p<i>). */
export async function createBenchNs(role: string, pairs = 3): Promise<BenchNs> {
  counter += 1;
  const name = `${BENCH_NS_PREFIX}${process.pid}-${counter}-${role}`;
  await addNetns(name);
  const lines = ["link set lo up"];
  for (let i = 0; i < pairs; i++) {
    lines.push(`link add v${i} type veth peer name p${i}`);
    lines.push(`link set v${i} multicast on up`);
    lines.push(`link set p${i} up`);
  }
  await ipBatch(lines, name);
  return { name, path: `/run/netns/${name}` };
}

/** Deletes every bench namespace this process still owns (killing processes inside them). */
export async function removeBenchNamespaces(): Promise<void> {
  const mine = ownedNamespaces().filter((n) => n.startsWith(BENCH_NS_PREFIX));
  await Promise.allSettled(mine.map((n) => delNetns(n)));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes `mfcb-<pid>-*` namespaces of bench processes that no longer exist (killed runs). */
export async function sweepStaleBenchNamespaces(): Promise<string[]> {
  const stale = listNetns().filter((name) => {
    const pid = Number(STALE_RE.exec(name)?.[1] ?? Number.NaN);
    return Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid);
  });
  await Promise.allSettled(stale.map((n) => delNetns(n)));
  return stale;
}

/**
 * Resolved entries in the default multicast table of `ns` (lines of /proc/net/ip_mr_cache,
 * read from this thread while it is inside the namespace).
 */
export function kernelEntryCount(ns: BenchNs): number {
  const text = inNetns(ns.path, () => fs.readFileSync("/proc/thread-self/net/ip_mr_cache", "latin1"));
  let count = 0;
  for (const line of text.split("\n").slice(1)) {
    // Unresolved entries (upcall queues) show iif -1; none are expected without traffic.
    if (line.trim() !== "" && line.trim().split(/\s+/)[2] !== "-1") count++;
  }
  return count;
}

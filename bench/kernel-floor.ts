// The raw kernel floor: a tight MRT_ADD_MFC loop through src/kernel (MrouteSocket, koffi,
// struct encoding) from this very process, inside a bench namespace — what mfcd could reach if
// gRPC, validation and the engine cost nothing. Also the floor of a full MFC dump
// (/proc/net/ip_mr_cache read + parse) at one size (the ListRoutes size), the kernel-side
// baseline of ListRoutes. The largest size (100k) is the floor of a bulk ApplyRoutes.

import { MrouteSocket } from "../src/kernel/index.js";
import { GROUP, IIF, OIFS, sourceAt, type BenchNs } from "./lib/bench-netns.js";
import { median, nowNs, summarize, type LatencySummary } from "./lib/stats.js";

export interface FloorAdd {
  routes: number;
  /** Fastest of the repetitions (each on a fresh, empty table): a floor is the best case. */
  seconds: number;
  /** Median of the repetitions, for judging the noise. */
  medianSeconds: number;
  routesPerSec: number;
  usPerOp: number;
  repetitions: number;
}

export interface KernelFloorResult {
  add: FloorAdd[];
  /** dumpMfc() (read + parse of /proc/net/ip_mr_cache) at `dumpSize`, in ms. */
  dumpMs: LatencySummary & { routes: number };
  /**
   * sgCounters() (SIOCGETSGCNT) for every entry at `dumpSize`, in ms per sweep: what one
   * WatchStats update or ListRoutes costs in ioctls alone.
   */
  countersMs: LatencySummary & { routes: number };
}

function openWithVifs(ns: BenchNs): { sock: MrouteSocket; parent: number; oifs: Map<number, number> } {
  const sock = MrouteSocket.open({ netns: ns.path });
  try {
    const names = [IIF, ...OIFS];
    names.forEach((name, vif) => {
      const ifindex = sock.ifindex(name);
      if (ifindex === undefined) throw new Error(`kernel floor: no interface ${name} in ${ns.name}`);
      sock.addVif(vif, ifindex);
    });
    // Same TTL threshold (1) mfcd uses for every oif.
    return { sock, parent: 0, oifs: new Map(OIFS.map((_, i) => [i + 1, 1])) };
  } catch (err) {
    sock.close();
    throw err;
  }
}

/**
 * A tight MRT_ADD_MFC loop at each size (best of `repetitions`, each on an empty table); the dump
 * and counter sweeps at `dumpSize` (one of `sizes`; default the largest).
 */
export function runKernelFloor(
  ns: BenchNs,
  sizes: readonly number[],
  repetitions: number,
  dumpCalls: number,
  dumpSize: number = Math.max(...sizes),
): KernelFloorResult {
  const largest = Math.max(...sizes);
  if (!sizes.includes(dumpSize)) throw new Error(`kernel floor: dump size ${dumpSize} is not one of the sizes`);
  const sources = Array.from({ length: largest }, (_, i) => sourceAt(i));
  const add: FloorAdd[] = [];
  let dumpMs: KernelFloorResult["dumpMs"] | undefined;
  let countersMs: KernelFloorResult["countersMs"] | undefined;

  // Untimed warm-up so that the first measured size does not pay for JIT compilation.
  {
    const { sock, parent, oifs } = openWithVifs(ns);
    try {
      for (let i = 0; i < Math.min(largest, 2000); i++) sock.addMfc(sources[i] as string, GROUP, parent, oifs);
      sock.dumpMfc();
    } finally {
      sock.close();
    }
  }

  for (const size of sizes) {
    const runs: number[] = [];
    for (let rep = 0; rep < repetitions; rep++) {
      const { sock, parent, oifs } = openWithVifs(ns);
      try {
        const t0 = nowNs();
        for (let i = 0; i < size; i++) sock.addMfc(sources[i] as string, GROUP, parent, oifs);
        runs.push((nowNs() - t0) / 1e9);

        if (size === dumpSize && rep === repetitions - 1) {
          const samples: number[] = [];
          for (let k = 0; k < dumpCalls; k++) {
            const d0 = nowNs();
            const dump = sock.dumpMfc();
            samples.push((nowNs() - d0) / 1e6);
            if (dump?.size !== size) throw new Error(`kernel floor: dump has ${dump?.size} entries, expected ${size}`);
          }
          dumpMs = { ...summarize(samples), routes: size };
          const sweeps: number[] = [];
          for (let k = 0; k < 10; k++) {
            const c0 = nowNs();
            for (let i = 0; i < size; i++) {
              if (!sock.sgCounters(sources[i] as string, GROUP)) throw new Error("kernel floor: entry missing");
            }
            sweeps.push((nowNs() - c0) / 1e6);
          }
          countersMs = { ...summarize(sweeps), routes: size };
        }
      } finally {
        sock.close(); // MRT_DONE: the kernel drops the table, the next repetition starts empty.
      }
    }
    const seconds = Math.min(...runs);
    add.push({ routes: size, seconds, medianSeconds: median(runs), routesPerSec: size / seconds, usPerOp: (seconds * 1e6) / size, repetitions });
  }
  if (!dumpMs || !countersMs) throw new Error("kernel floor: no dump measured");
  return { add, dumpMs, countersMs };
}

// `npx tsx bench/list-watch.ts`: only the ListRoutes / WatchStats / RSS part of `npm run bench`
// (session 1 without Health and the AddRoute figures), for iterating on those quickly. One mfcd
// is filled with N routes exactly as the full bench does (sequential AddRoute), then ListRoutes
// p50 and mfcd CPU per call, mfcd CPU idle and with one WatchStats client @1 Hz (repeated
// windows, median), and VmRSS at each step are printed as JSON on stdout.
//
// Options: --routes N (default 10000), --fill seq|apply (default seq, as the bench),
//          --window SEC (default 10), --windows N (default 3), --calls N (ListRoutes, default 30),
//          --settle SEC (idle RSS sampled each second for SEC, default 30),
//          --runtime build|tsx|dist (default build), --profile (mfcd with --cpu-prof into
//          bench/profiles/).

import path from "node:path";
import { parseArgs } from "node:util";
import {
  REPO_ROOT,
  addRoutes,
  benchRoutes,
  listRoutes,
  mfcdMemory,
  prepareMfcd,
  startMfcd,
  warmUp,
  watchStatsCpu,
  type Runtime,
} from "./mfcd.js";
import { createBenchNs, removeBenchNamespaces, sweepStaleBenchNamespaces, kernelEntryCount } from "./lib/bench-netns.js";

const { values } = parseArgs({
  options: {
    routes: { type: "string", default: "10000" },
    fill: { type: "string", default: "seq" },
    window: { type: "string", default: "10" },
    windows: { type: "string", default: "3" },
    calls: { type: "string", default: "30" },
    runtime: { type: "string", default: "build" },
    profile: { type: "boolean", default: false },
    settle: { type: "string", default: "30" },
  },
});
const routes = Number(values.routes);
const windowMs = Number(values.window) * 1000;
const windows = Number(values.windows);
const settleMs = Number(values.settle) * 1000;
const calls = Number(values.calls);
const log = (msg: string) => process.stderr.write(`${msg}\n`);
const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  await sweepStaleBenchNamespaces();
  const entry = await prepareMfcd(values.runtime as Runtime);
  const ns = await createBenchNs("lw");
  const profileDir = path.join(REPO_ROOT, "bench/profiles", new Date().toISOString().replace(/[:.]/g, "-"));
  const m = await startMfcd(ns, entry, { nodeFlags: values.profile ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : [] });
  try {
    const rssEmpty = mfcdMemory(m).rssKiB;
    await warmUp(m, 300, 16);
    if (values.fill === "apply") await m.client.applyRoutes({ routes: benchRoutes(routes) });
    else await addRoutes(m, ns, routes, 1, Math.min(1000, routes));
    if (kernelEntryCount(ns) !== routes) throw new Error("kernel does not hold the routes");
    const rssFilled = mfcdMemory(m).rssKiB;
    const list = await listRoutes(m, routes, calls, 3);
    log(`ListRoutes p50 ${list.latencyMs.p50.toFixed(1)} ms, server CPU ${list.serverCpuMsPerCall.toFixed(1)} ms/call`);
    const rssList = mfcdMemory(m).rssKiB;
    const idle: number[] = [];
    const watched: number[] = [];
    let rssWatch = 0;
    for (let i = 0; i < windows; i++) {
      const w = await watchStatsCpu(m, routes, windowMs, 1000);
      idle.push(w.idleCpuPercent);
      watched.push(w.watchCpuPercent);
      rssWatch = w.rssAfterKiB;
      log(`  window ${i + 1}: idle ${w.idleCpuPercent.toFixed(2)} %, watched ${w.watchCpuPercent.toFixed(2)} % (${w.updatesInWindow} updates)`);
    }
    const final = mfcdMemory(m);
    // Idle, the heap still breathes (the drift backstop's dump every ~35 s, then a GC and V8's
    // memory reducer): the time average of 1 s samples, with the range.
    const samples: number[] = [];
    for (let t = 0; t < settleMs; t += 1000) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      samples.push(mfcdMemory(m).rssKiB);
    }
    const settled = mfcdMemory(m);
    const idleMean = samples.reduce((a, b) => a + b, 0) / samples.length;
    process.stdout.write(
      `${JSON.stringify(
        {
          routes,
          fill: values.fill,
          listP50Ms: list.latencyMs.p50,
          listP99Ms: list.latencyMs.p99,
          listServerCpuMsPerCall: list.serverCpuMsPerCall,
          listResponseBytes: list.responseBytes,
          listClientDecodeP50Ms: list.clientDecodeMs.p50,
          watchCpuPercentMedian: median(watched),
          idleCpuPercentMedian: median(idle),
          watchCpuPercent: watched,
          rssMiB: { empty: mib(rssEmpty), filled: mib(rssFilled), afterList: mib(rssList), afterWatch: mib(rssWatch), final: mib(final.rssKiB), idleMean: mib(idleMean), idleMin: mib(Math.min(...samples)), idleMax: mib(Math.max(...samples)), peak: mib(settled.hwmKiB) },
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await m.stop();
    await removeBenchNamespaces();
  }
}

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});

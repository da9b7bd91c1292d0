// `npm run bench`: mfcd against the raw kernel floor and against smcroute, in throwaway network
// namespaces (`mfcb-<pid>-…`) that are removed at the end, also on error or Ctrl-C.
//
//   1. kernel floor: a tight MRT_ADD_MFC loop through src/kernel from this process (1k, 10k),
//      and a full /proc MFC dump + parse at 10k;
//   2. mfcd (real child process, --log-level warn) over a Unix socket through the SDK:
//      AddRoute sequential to 10k; ListRoutes at 10k; mfcd CPU idle and with one WatchStats
//      client @1 Hz; RSS; then a fresh mfcd for AddRoute with 16 calls in flight to 10k;
//   3. smcroute (Debian): `smcroutectl add` per route to 10k and `smcroutectl -b` at 1k and 10k.
//
// Prints a table (figure | mfcd | baseline | ratio | target | PASS/MISS) on stdout, progress on
// stderr, and writes the same results to bench/results.json. Needs root (namespaces, raw sockets).
//
// Options: --runtime build|tsx|dist (default build: compile the current src/ with tsc),
//          --quick (1/10 of the routes, 3 s CPU windows: for trying the bench itself),
//          --no-smcroute, --profile (mfcd with --cpu-prof into bench/profiles/),
//          --window SEC (CPU window, default 10), --json PATH (default bench/results.json).

import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { runKernelFloor } from "./kernel-floor.js";
import {
  REPO_ROOT,
  addRoutes,
  healthFloor,
  listRoutes,
  mfcdMemory,
  prepareMfcd,
  startMfcd,
  warmUp,
  watchStatsCpu,
  type Runtime,
} from "./mfcd.js";
import { TARGETS, buildRows, headerLine, renderTable, type MfcdResults, type SmcrouteResults } from "./report.js";
import { ensureSmcroute, smcBatch, smcPerRoute } from "./smcroute.js";
import { createBenchNs, removeBenchNamespaces, sweepStaleBenchNamespaces } from "./lib/bench-netns.js";
import { ForeignLoad, machineFacts } from "./lib/procfs.js";
import { nowNs, round } from "./lib/stats.js";

const started = nowNs();
function log(msg: string): void {
  process.stderr.write(`[bench ${((nowNs() - started) / 1e9).toFixed(1).padStart(5)} s] ${msg}\n`);
}

interface Options {
  runtime: Runtime;
  quick: boolean;
  smcroute: boolean;
  profile: boolean;
  windowMs: number;
  json: string;
}

function options(): Options {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      runtime: { type: "string", default: "build" },
      quick: { type: "boolean", default: false },
      "no-smcroute": { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      window: { type: "string" },
      json: { type: "string", default: path.join(REPO_ROOT, "bench/results.json") },
    },
    strict: true,
    allowPositionals: false,
  });
  const runtime = values.runtime ?? "build";
  if (runtime !== "build" && runtime !== "tsx" && runtime !== "dist") {
    throw new Error(`--runtime ${runtime}: expected build, tsx or dist`);
  }
  const quick = values.quick ?? false;
  const windowSec = values.window !== undefined ? Number(values.window) : quick ? 3 : 10;
  if (!(windowSec >= 1 && windowSec <= 60)) throw new Error("--window must be 1..60 seconds");
  return {
    runtime,
    quick,
    smcroute: !(values["no-smcroute"] ?? false),
    profile: values.profile ?? false,
    windowMs: windowSec * 1000,
    json: path.resolve(values.json ?? "bench/results.json"),
  };
}

/** JSON with bigint-safe, rounded numbers. */
function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : typeof v === "number" ? round(v) : v),
    2,
  );
}

async function main(): Promise<number> {
  const opts = options();
  if (process.getuid?.() !== 0) {
    process.stderr.write("bench: needs root (network namespaces, raw IGMP sockets)\n");
    return 1;
  }
  const sizes = opts.quick ? { small: 100, large: 1000 } : { small: 1000, large: 10_000 };
  const inflight = 16;
  const facts = machineFacts();
  const swept = await sweepStaleBenchNamespaces();
  if (swept.length > 0) log(`removed ${swept.length} stale bench namespace(s): ${swept.join(", ")}`);

  try {
    log(`preparing mfcd (runtime ${opts.runtime})`);
    const entry = await prepareMfcd(opts.runtime);
    if (entry.buildSeconds > 0) log(`compiled src/ with tsc in ${entry.buildSeconds.toFixed(1)} s`);

    const [floorNs, mfcdNs, smcNs] = await Promise.all([
      createBenchNs("floor"),
      createBenchNs("mfcd"),
      opts.smcroute ? createBenchNs("smcr") : Promise.resolve(undefined),
    ]);

    // CPU of other processes on the machine while we measure (mfcd's and ours excluded).
    let mfcdPid: number | undefined;
    const foreign = new ForeignLoad(() => [process.pid, process.ppid, ...(mfcdPid === undefined ? [] : [mfcdPid])]);

    // 1. Kernel floor.
    log(`kernel floor: MRT_ADD_MFC loop at ${sizes.small} and ${sizes.large} in ${floorNs.name}`);
    foreign.start();
    const floor = runKernelFloor(floorNs, [sizes.small, sizes.large], 5, 30);
    foreign.stop();
    for (const a of floor.add) log(`  ${a.routes}: ${Math.round(a.routesPerSec)} routes/s, ${a.usPerOp.toFixed(2)} µs/op`);
    log(`  /proc dump+parse at ${sizes.large}: p50 ${floor.dumpMs.p50.toFixed(2)} ms; ${sizes.large}× SIOCGETSGCNT: p50 ${floor.countersMs.p50.toFixed(2)} ms`);

    // 2. mfcd.
    const profileDir = path.join(REPO_ROOT, "bench/profiles", new Date().toISOString().replace(/[:.]/g, "-"));
    const nodeFlags = opts.profile ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : [];
    log(`mfcd #1 in ${mfcdNs.name}: sequential AddRoute, ListRoutes, WatchStats, RSS`);
    const m1 = await startMfcd(mfcdNs, entry, { nodeFlags });
    mfcdPid = m1.daemon.pid;
    let session1: Omit<MfcdResults, "concurrent">;
    try {
      const rssEmptyKiB = mfcdMemory(m1).rssKiB;
      await warmUp(m1, 300, inflight);
      foreign.start();
      const sequential = await addRoutes(m1, mfcdNs, sizes.large, 1, sizes.small);
      log(`  seq: ${Math.round(sequential.routesPerSec)} routes/s, p50 ${sequential.latencyUs.p50.toFixed(0)} µs, p99 ${sequential.latencyUs.p99.toFixed(0)} µs`);
      const afterAddsKiB = mfcdMemory(m1).rssKiB;
      // After the adds, so that both call paths are equally warm.
      const health = await healthFloor(m1, opts.quick ? 500 : 2000);
      log(`  Health.Check: p50 ${health.latencyUs.p50.toFixed(0)} µs, p99 ${health.latencyUs.p99.toFixed(0)} µs`);
      const list = await listRoutes(m1, sizes.large, 30, 3);
      log(`  ListRoutes: p50 ${list.latencyMs.p50.toFixed(1)} ms, p99 ${list.latencyMs.p99.toFixed(1)} ms`);
      const afterListKiB = mfcdMemory(m1).rssKiB;
      log(`  CPU: ${opts.windowMs / 1000} s idle, then ${opts.windowMs / 1000} s with one WatchStats client @1 Hz`);
      const watch = await watchStatsCpu(m1, sizes.large, opts.windowMs, 1000);
      log(`  idle ${watch.idleCpuPercent.toFixed(2)} %, watched ${watch.watchCpuPercent.toFixed(2)} % (${watch.updatesInWindow} updates)`);
      foreign.stop();
      const final = mfcdMemory(m1);
      session1 = {
        runtime: entry.runtime,
        startSeconds: m1.startSeconds,
        rssEmptyKiB,
        health,
        sequential,
        list,
        watch,
        memory: { afterAddsKiB, afterListKiB, finalKiB: final.rssKiB, peakKiB: final.hwmKiB },
      };
    } finally {
      await m1.stop();
    }

    log(`mfcd #2 in ${mfcdNs.name}: AddRoute with ${inflight} in flight`);
    const m2 = await startMfcd(mfcdNs, entry, { nodeFlags });
    mfcdPid = m2.daemon.pid;
    let concurrent;
    try {
      await warmUp(m2, 300, inflight);
      foreign.start();
      concurrent = await addRoutes(m2, mfcdNs, sizes.large, inflight, sizes.small);
      foreign.stop();
      log(`  ${inflight} in flight: ${Math.round(concurrent.routesPerSec)} routes/s, p50 ${concurrent.latencyUs.p50.toFixed(0)} µs`);
    } finally {
      await m2.stop();
      mfcdPid = undefined;
    }
    const mfcd: MfcdResults = { ...session1, concurrent };

    // 3. smcroute.
    let smc: SmcrouteResults = { available: false, reason: "skipped (--no-smcroute)" };
    if (smcNs) {
      const avail = await ensureSmcroute(log);
      if (!avail.ok) {
        smc = { available: false, reason: avail.reason };
        log(`smcroute n/a: ${avail.reason}`);
      } else {
        const { bins } = avail;
        log(`smcroute ${bins.version} in ${smcNs.name}: smcroutectl add (one process per route), 0→${sizes.small} and ${sizes.large - sizes.small}→${sizes.large}`);
        const perRoute = await smcPerRoute(smcNs, bins, sizes.large, sizes.small);
        log(`  per route: ${Math.round(perRoute.first?.routesPerSec ?? 0)} / ${Math.round(perRoute.last?.routesPerSec ?? 0)} routes/s`);
        log(`  smcroutectl -b with ${sizes.small} and ${sizes.large} routes`);
        const batchSmall = await smcBatch(smcNs, bins, sizes.small);
        const batchLarge = await smcBatch(smcNs, bins, sizes.large);
        log(`  batch: ${Math.round(batchSmall.routesPerSec)} / ${Math.round(batchLarge.routesPerSec)} routes/s`);
        smc = { available: true, version: bins.version, installedNow: bins.installedNow, perRoute, batchSmall, batchLarge };
      }
    }

    // Report.
    const rows = buildRows(floor, mfcd, smc, sizes, TARGETS);
    const extra: Record<string, string> = {
      mfcd: `${entry.runtime === "build" ? "compiled src (tsc)" : entry.runtime}`,
      smcroute: smc.available ? smc.version : "n/a",
      "other load": `${foreign.percent().toFixed(0)} % of a core`,
    };
    const header = headerLine(facts, extra);
    const notes = [
      "ratio = mfcd ÷ baseline. Kernel floor = tight MRT_ADD_MFC loop through src/kernel in the bench process",
      `(best of 5 runs on an empty table). mfcd and smcroute: fresh daemon per run, ${inflight} in flight = ${inflight} concurrent SDK calls.`,
      `Health.Check = the same SDK client and server middleware with no work behind it (the gRPC floor).`,
      `smcroutectl add: one process per route, timed 0→${sizes.small} and ${sizes.large - sizes.small}→${sizes.large} (filled by -b in between);`,
      `smcroutectl -b: one batch on stdin; the clock stops when the kernel holds all entries.`,
      smc.available ? "" : `smcroute n/a: ${smc.reason}`,
      foreign.percent() > 20
        ? `WARNING: other processes used ${foreign.percent().toFixed(0)} % of a core while mfcd was measured: latencies and rates are pessimistic.`
        : "",
      opts.quick ? "QUICK MODE: 1/10 of the routes, short CPU windows — not the real figures." : "",
      opts.profile ? `mfcd CPU profiles: ${path.relative(REPO_ROOT, profileDir)}` : "",
    ].filter((s) => s !== "");
    const out = [`mfcd bench — ${header}`, "", renderTable(rows), "", ...notes].join("\n");
    process.stdout.write(out + "\n");

    const results = {
      date: new Date().toISOString(),
      machine: { ...facts, otherLoadPercentOfCore: foreign.percent() },
      config: { ...opts, sizes, inflight, targets: TARGETS },
      durationSeconds: (nowNs() - started) / 1e9,
      kernelFloor: floor,
      mfcd,
      smcroute: smc,
      table: rows,
    };
    fs.writeFileSync(opts.json, toJson(results) + "\n");
    log(`wrote ${path.relative(process.cwd(), opts.json) || opts.json}; total ${((nowNs() - started) / 1e9).toFixed(0)} s`);
    return 0;
  } finally {
    await removeBenchNamespaces();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);

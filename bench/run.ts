// `npm run bench`: mfcd against the raw kernel floor and against smcroute, in throwaway network
// namespaces (`mfcb-<pid>-…`) that are removed at the end, also on error or Ctrl-C.
//
//   1. kernel floor: a tight MRT_ADD_MFC loop through src/kernel from this process (1k, 10k,
//      100k), and a full /proc MFC dump + parse at 10k;
//   2. mfcd (real child process, --log-level warn, --state-file in a temporary directory: the
//      state file is written and fdatasynced as in production, never /var/lib/mfcd) over a Unix
//      socket through the SDK: AddRoute sequential to 10k; ListRoutes at 10k; mfcd CPU idle and
//      with one WatchStats client @1 Hz; RSS; then a fresh mfcd for AddRoute with 16 calls in
//      flight to 10k;
//   3. bulk: a fresh mfcd for one ApplyRoutes of 10k new routes, SIGKILLed, then restarted on
//      its state file (spawn → SERVING with the 10k back in the kernel, against starting with an
//      empty state); a fresh mfcd for one ApplyRoutes of 100k new routes, the same 100k again
//      (all unchanged), RSS;
//   4. smcroute (Debian): `smcroutectl add` per route to 10k and `smcroutectl -b` at 1k, 10k and
//      100k (the last cut off after --smc-cap seconds).
//
// Prints a table (figure | mfcd | baseline | ratio | target | PASS/MISS) on stdout, progress on
// stderr, and writes the same results to bench/results.json. Needs root (namespaces, raw sockets).
//
// Options: --runtime build|tsx|dist (default build: bundle the current src/ as `npm run build` does),
//          --quick (1/10 of the routes, 3 s CPU windows: for trying the bench itself),
//          --no-smcroute, --profile (mfcd with --cpu-prof into bench/profiles/),
//          --window SEC (CPU window, default 10), --json PATH (default bench/results.json),
//          --smc-cap SEC (time cap of the 100k smcroutectl -b, default 60).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { runKernelFloor } from "./kernel-floor.js";
import {
  REPO_ROOT,
  addRoutes,
  applyRoutes,
  benchRoutes,
  startupTimes,
  warmUpApply,
  healthFloor,
  listRoutes,
  mfcdMemory,
  prepareMfcd,
  startMfcd,
  warmUp,
  watchStatsCpu,
  type Runtime,
  type WatchRun,
} from "./mfcd.js";
import {
  TARGETS,
  buildRows,
  headerLine,
  renderTable,
  type ApplyResults,
  type MfcdResults,
  type Sizes,
  type SmcrouteResults,
} from "./report.js";
import { ensureSmcroute, smcBatch, smcPerRoute } from "./smcroute.js";
import { createBenchNs, removeBenchNamespaces, sweepStaleBenchNamespaces } from "./lib/bench-netns.js";
import { ForeignLoad, machineFacts } from "./lib/procfs.js";
import { nowNs, round, sleep } from "./lib/stats.js";

const started = nowNs();
/** WatchStats CPU windows (each preceded by an idle one of the same length). */
const WATCH_WINDOWS = 3;
/** Idle time before the settled RSS figure, and how long it is sampled (1 Hz, mean). */
const SETTLE_MS = 20_000;
const SAMPLE_MS = 10_000;
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
  smcCapMs: number;
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
      "smc-cap": { type: "string", default: "60" },
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
  const capSec = Number(values["smc-cap"] ?? "60");
  if (!(capSec >= 5 && capSec <= 1800)) throw new Error("--smc-cap must be 5..1800 seconds");
  return {
    runtime,
    quick,
    smcroute: !(values["no-smcroute"] ?? false),
    profile: values.profile ?? false,
    windowMs: windowSec * 1000,
    json: path.resolve(values.json ?? "bench/results.json"),
    smcCapMs: capSec * 1000,
  };
}

/** Filesystem type under the temporary directory (where the state files live), e.g. "ext4". */
function tmpFs(): string {
  try {
    const dir = os.tmpdir();
    const mounts = fs
      .readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" "))
      .filter((f) => f.length > 2 && (dir === f[1] || dir.startsWith(`${f[1] === "/" ? "" : f[1]}/`)))
      .sort((a, b) => (b[1]?.length ?? 0) - (a[1]?.length ?? 0));
    return `${dir} (${mounts[0]?.[2] ?? "unknown fs"})`;
  } catch {
    return os.tmpdir();
  }
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
  const sizes: Sizes = opts.quick ? { small: 100, large: 1000, apply: 10_000 } : { small: 1000, large: 10_000, apply: 100_000 };
  const startRuns = opts.quick ? 3 : 5;
  const warmUpRoutes = opts.quick ? 200 : 500;
  const inflight = 16;
  const facts = machineFacts();
  const swept = await sweepStaleBenchNamespaces();
  if (swept.length > 0) log(`removed ${swept.length} stale bench namespace(s): ${swept.join(", ")}`);

  try {
    log(`preparing mfcd (runtime ${opts.runtime})`);
    const entry = await prepareMfcd(opts.runtime);
    if (entry.buildSeconds > 0) log(`bundled src/ (scripts/bundle.mjs) in ${entry.buildSeconds.toFixed(1)} s`);

    const [floorNs, mfcdNs, smcNs] = await Promise.all([
      createBenchNs("floor"),
      createBenchNs("mfcd"),
      opts.smcroute ? createBenchNs("smcr") : Promise.resolve(undefined),
    ]);

    // CPU of other processes on the machine while we measure (mfcd's and ours excluded).
    let mfcdPid: number | undefined;
    const foreign = new ForeignLoad(() => [process.pid, process.ppid, ...(mfcdPid === undefined ? [] : [mfcdPid])]);

    // 1. Kernel floor.
    log(`kernel floor: MRT_ADD_MFC loop at ${sizes.small}, ${sizes.large} and ${sizes.apply} in ${floorNs.name}`);
    foreign.start();
    const floor = runKernelFloor(floorNs, [sizes.small, sizes.large, sizes.apply], 5, 30, sizes.large);
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
      // A steady-state figure: one window may hold a drift backstop pass (~70 ms every ~35 s at
      // 10k) or a major GC of ListRoutes' garbage, so the median of WATCH_WINDOWS is reported.
      log(`  CPU, ${WATCH_WINDOWS}×: ${opts.windowMs / 1000} s idle, then ${opts.windowMs / 1000} s with one WatchStats client @1 Hz`);
      const watches: WatchRun[] = [];
      for (let i = 0; i < WATCH_WINDOWS; i++) {
        const w = await watchStatsCpu(m1, sizes.large, opts.windowMs, 1000);
        log(`  idle ${w.idleCpuPercent.toFixed(2)} %, watched ${w.watchCpuPercent.toFixed(2)} % (${w.updatesInWindow} updates)`);
        watches.push(w);
      }
      const watch = [...watches].sort((a, b) => a.watchCpuPercent - b.watchCpuPercent)[Math.floor(watches.length / 2)] as WatchRun;
      const watchWindowsPercent = watches.map((w) => w.watchCpuPercent);
      foreign.stop();
      const final = mfcdMemory(m1);
      // What a daemon holding 10k routes keeps resident: V8's memory reducer compacts the heap
      // and returns pages some seconds after allocation stops (the figures above still hold
      // ListRoutes' and WatchStats' garbage and heap headroom).
      // Idle, the heap still breathes (the drift backstop's full dump every ~35 s at 10k, then a
      // GC): after SETTLE_MS, the mean of 1 s samples over SAMPLE_MS.
      await sleep(SETTLE_MS);
      const samples: number[] = [];
      for (let t = 0; t < SAMPLE_MS; t += 1000) {
        samples.push(mfcdMemory(m1).rssKiB);
        await sleep(1000);
      }
      const settledKiB = samples.reduce((a, b) => a + b, 0) / samples.length;
      log(
        `  RSS ${(final.rssKiB / 1024).toFixed(1)} MiB right after the watch; idle after ${SETTLE_MS / 1000} s: mean ${(settledKiB / 1024).toFixed(1)} MiB ` +
          `(${(Math.min(...samples) / 1024).toFixed(1)}–${(Math.max(...samples) / 1024).toFixed(1)}) over ${SAMPLE_MS / 1000} s`,
      );
      session1 = {
        runtime: entry.runtime,
        startSeconds: m1.startSeconds,
        rssEmptyKiB,
        health,
        sequential,
        list,
        watch,
        watchWindowsPercent,
        memory: { afterAddsKiB, afterListKiB, finalKiB: final.rssKiB, settledKiB, peakKiB: final.hwmKiB },
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

    // 3. Bulk ApplyRoutes and restart.
    const maxRoutes = Math.max(100_000, 2 * sizes.apply);
    log(`mfcd #3 in ${mfcdNs.name}: one ApplyRoutes of ${sizes.large} new routes, then SIGKILL`);
    const m3 = await startMfcd(mfcdNs, entry, { nodeFlags, maxRoutes });
    mfcdPid = m3.daemon.pid;
    let applySmall;
    try {
      await warmUpApply(m3, warmUpRoutes);
      const routes = benchRoutes(sizes.large);
      foreign.start();
      applySmall = await applyRoutes(m3, mfcdNs, routes, { added: sizes.large, unchanged: 0, kernelEntries: sizes.large });
      foreign.stop();
      log(`  ${Math.round(applySmall.routesPerSec)} routes/s (${(applySmall.seconds * 1000).toFixed(0)} ms); mfcd CPU ${applySmall.serverCpuUsPerRoute.toFixed(1)} µs/route, client ${applySmall.clientCpuUsPerRoute.toFixed(1)} µs/route`);
    } finally {
      await m3.kill();
      mfcdPid = undefined;
    }
    log(`  restart ${startRuns}× on its state file (${(applySmall.stateFileBytes / 1024).toFixed(0)} KiB), SIGKILL after each`);
    // (Not under ForeignLoad: it would count the short-lived mfcd processes as other load.)
    const restore = await startupTimes(mfcdNs, entry, startRuns, sizes.large, { stateFile: m3.stateFile, nodeFlags });
    log(`  spawn → SERVING with ${sizes.large} adopted: p50 ${restore.spawnToServingMs.p50.toFixed(0)} ms, max ${restore.spawnToServingMs.max.toFixed(0)} ms`);
    // The same restart when nothing is left to adopt (SIGTERM before each): every route written again.
    const cleaner = await startMfcd(mfcdNs, entry, { stateFile: m3.stateFile, maxRoutes });
    await cleaner.stop();
    const reAdd = await startupTimes(mfcdNs, entry, startRuns, sizes.large, { stateFile: m3.stateFile, nodeFlags, after: "term" });
    log(`  spawn → SERVING with ${sizes.large} written again: p50 ${reAdd.spawnToServingMs.p50.toFixed(0)} ms, max ${reAdd.spawnToServingMs.max.toFixed(0)} ms`);
    const emptyStart = await startupTimes(mfcdNs, entry, startRuns, 0, { nodeFlags });
    log(`  spawn → SERVING with an empty state: p50 ${emptyStart.spawnToServingMs.p50.toFixed(0)} ms, max ${emptyStart.spawnToServingMs.max.toFixed(0)} ms`);

    log(`mfcd #4 in ${mfcdNs.name}: one ApplyRoutes of ${sizes.apply} new routes, the same again, RSS`);
    const m4 = await startMfcd(mfcdNs, entry, { nodeFlags, maxRoutes });
    mfcdPid = m4.daemon.pid;
    let applyLarge;
    let reapply;
    try {
      await warmUpApply(m4, warmUpRoutes);
      const routes = benchRoutes(sizes.apply);
      foreign.start();
      applyLarge = await applyRoutes(m4, mfcdNs, routes, { added: sizes.apply, unchanged: 0, kernelEntries: sizes.apply });
      log(`  ${Math.round(applyLarge.routesPerSec)} routes/s (${(applyLarge.seconds * 1000).toFixed(0)} ms); mfcd CPU ${applyLarge.serverCpuUsPerRoute.toFixed(1)} µs/route, client ${applyLarge.clientCpuUsPerRoute.toFixed(1)} µs/route; RSS ${(applyLarge.rssKiB / 1024).toFixed(0)} MiB`);
      reapply = await applyRoutes(m4, mfcdNs, routes, { added: 0, unchanged: sizes.apply, kernelEntries: sizes.apply });
      foreign.stop();
      log(`  again, all unchanged: ${(reapply.seconds * 1000).toFixed(0)} ms; RSS ${(reapply.rssKiB / 1024).toFixed(0)} MiB, peak ${(reapply.hwmKiB / 1024).toFixed(0)} MiB`);
    } finally {
      await m4.stop();
      mfcdPid = undefined;
    }
    const apply: ApplyResults = { warmUpRoutes, small: applySmall, large: applyLarge, reapply, restore, reAdd, emptyStart };

    // 4. smcroute.
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
        log(`  smcroutectl -b with ${sizes.apply} routes (cut off after ${opts.smcCapMs / 1000} s)`);
        const batchApply = await smcBatch(smcNs, bins, sizes.apply, opts.smcCapMs);
        log(
          batchApply.capped
            ? `  batch: cut off after ${batchApply.capped.afterSeconds.toFixed(0)} s with ${batchApply.capped.installed} of ${sizes.apply} installed (${Math.round(batchApply.routesPerSec)} routes/s so far)`
            : `  batch: ${Math.round(batchApply.routesPerSec)} routes/s (${batchApply.seconds.toFixed(1)} s)`,
        );
        smc = { available: true, version: bins.version, installedNow: bins.installedNow, perRoute, batchSmall, batchLarge, batchApply };
      }
    }

    // Report.
    const rows = buildRows(floor, mfcd, apply, smc, sizes, TARGETS);
    const extra: Record<string, string> = {
      mfcd: `${entry.runtime === "build" ? "bundled src (esbuild)" : entry.runtime}`,
      smcroute: smc.available ? smc.version : "n/a",
      "other load": `${foreign.percent().toFixed(0)} % of a core`,
    };
    const header = headerLine(facts, extra);
    const notes = [
      "ratio = mfcd ÷ baseline. Kernel floor = tight MRT_ADD_MFC loop through src/kernel in the bench process",
      `(best of 5 runs on an empty table). mfcd and smcroute: fresh daemon per run, ${inflight} in flight = ${inflight} concurrent SDK calls.`,
      `Health.Check = the same SDK client and server middleware with no work behind it (the gRPC floor).`,
      `smcroutectl add: one process per route, timed 0→${sizes.small} and ${sizes.large - sizes.small}→${sizes.large} (filled by -b in between);`,
      `smcroutectl -b: one batch on stdin; the clock stops when the kernel holds all entries (the ${sizes.apply / 1000}k batch is cut off after ${opts.smcCapMs / 1000} s).`,
      `Every mfcd persists to --state-file in a temporary directory on ${tmpFs()} (fdatasync before each OK), as users run it.`,
      `ApplyRoutes: one call of new routes into a fresh mfcd after a ${warmUpRoutes}-route warm-up apply (another owner and group, removed`,
      `again); client clock from the call to the decoded response (sent once the kernel holds the routes and the state file is synced).`,
      `restart: mfcd SIGKILLed after the ${sizes.large / 1000}k apply, then ${startRuns}× spawn (ip netns exec node …) → first health SERVING`,
      `(probed every 2 ms), the kernel holding all ${sizes.large / 1000}k entries at that moment; baseline: the same with an empty state.`,
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
      apply,
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

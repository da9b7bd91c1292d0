// The results table: figure | mfcd | baseline | ratio (mfcd ÷ baseline) | target | PASS/MISS.

import type { KernelFloorResult } from "./kernel-floor.js";
import type { AddRun, ApplyRun, HealthRun, ListRun, StartRun, WatchRun } from "./mfcd.js";
import type { SmcRun } from "./smcroute.js";
import type { MachineFacts } from "./lib/procfs.js";
import { fmt, fmtInt, fmtRatio } from "./lib/stats.js";

export interface Row {
  figure: string;
  mfcd: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: "PASS" | "MISS" | "";
  /** Raw numbers behind the cells, for results.json. */
  values: { mfcd?: number; baseline?: number; ratio?: number; target?: number; unit: string };
}

export interface MfcdResults {
  runtime: string;
  startSeconds: number;
  rssEmptyKiB: number;
  health: HealthRun;
  sequential: AddRun;
  concurrent: AddRun;
  list: ListRun;
  /** The median of the windows below. */
  watch: WatchRun;
  /** WatchStats CPU (% of a core) of every window, in the order measured. */
  watchWindowsPercent: number[];
  memory: {
    afterAddsKiB: number;
    afterListKiB: number;
    /** At the end of the 10k session (after adds, ListRoutes and WatchStats). */
    finalKiB: number;
    /** The same daemon idle: mean of 1 s samples 20–30 s after the last call (what it keeps resident with 10k routes). */
    settledKiB: number;
    peakKiB: number;
  };
}

/** Bulk ApplyRoutes and restart, each on a fresh mfcd with its own state file. */
export interface ApplyResults {
  /** Routes of the JIT warm-up apply (another owner and group, removed again) before each measurement. */
  warmUpRoutes: number;
  /** ApplyRoutes of `small` new routes (10k) into an empty table. */
  small: ApplyRun;
  /** ApplyRoutes of `large` new routes (100k) into an empty table. */
  large: ApplyRun;
  /** The same `large` routes applied again: all unchanged. */
  reapply: ApplyRun;
  /** Starts with the `small` apply's state file (mfcd SIGKILLed after it): its routes adopted. */
  restore: StartRun;
  /** The same starts after a SIGTERM each (nothing left in the kernel): every route written again. */
  reAdd?: StartRun;
  /** Starts with an empty (absent) state file: the bare startup. */
  emptyStart: StartRun;
}

export type SmcrouteResults =
  | { available: false; reason: string }
  | {
      available: true;
      version: string;
      installedNow: boolean;
      perRoute: SmcRun;
      batchSmall: SmcRun;
      batchLarge: SmcRun;
      /** `smcroutectl -b` at the large ApplyRoutes size (100k), time-capped. */
      batchApply: SmcRun;
    };

export interface Targets {
  unaryP50Us: number;
  listP50Ms: number;
  watchCpuPercent: number;
  rssMiB: number;
  /** One ApplyRoutes of new routes, at both sizes (10k and 100k). */
  applyRoutesPerSec: number;
  /** Spawn to SERVING with the 10k-route state restored into the kernel. */
  restoreMs: number;
}

export const TARGETS: Targets = {
  unaryP50Us: 250,
  listP50Ms: 20,
  watchCpuPercent: 3,
  /** The "≤ 100 MB", in MiB (as RSS is printed). */
  rssMiB: 100e6 / 2 ** 20,
  applyRoutesPerSec: 100_000,
  restoreMs: 300,
};

export interface Sizes {
  /** AddRoute segments (1k). */
  small: number;
  /** AddRoute runs, ListRoutes, WatchStats (10k); also the small ApplyRoutes and the restore. */
  large: number;
  /** The large ApplyRoutes (100k). */
  apply: number;
}

const k = (n: number): string => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));

export function buildRows(
  floor: KernelFloorResult,
  m: MfcdResults,
  apply: ApplyResults,
  smc: SmcrouteResults,
  sizes: Sizes,
  targets: Targets = TARGETS,
): Row[] {
  const rows: Row[] = [];
  const floorAt = (n: number) => floor.add.find((a) => a.routes === n);
  const S = k(sizes.small);
  const L = k(sizes.large);

  type Better = "higher" | "lower";
  const row = (
    figure: string,
    unit: string,
    mfcd: number | undefined,
    baseline: { value: number | undefined; label: string } | undefined,
    format: (v: number | undefined) => string,
    target?: { limit: number; better: Better; text: string },
  ): void => {
    const ratio = mfcd !== undefined && baseline?.value !== undefined && baseline.value !== 0 ? mfcd / baseline.value : undefined;
    let verdict: Row["verdict"] = "";
    if (target && mfcd !== undefined && Number.isFinite(mfcd)) {
      verdict = (target.better === "lower" ? mfcd <= target.limit : mfcd >= target.limit) ? "PASS" : "MISS";
    }
    rows.push({
      figure,
      mfcd: format(mfcd),
      baseline: !baseline ? "—" : baseline.value === undefined ? baseline.label : `${format(baseline.value)} ${baseline.label}`,
      ratio: baseline ? fmtRatio(ratio) : "—",
      target: target?.text ?? "—",
      verdict,
      values: { mfcd, baseline: baseline?.value, ratio, target: target?.limit, unit },
    });
  };
  const smcOk = smc.available ? smc : undefined;
  const na = { value: undefined, label: "n/a (no smcroute)" };

  // Throughput against the kernel floor (whole runs from an empty table).
  const seq = m.sequential;
  const conc = m.concurrent;
  const floorRate = (n: number) => ({ value: floorAt(n)?.routesPerSec, label: "kernel floor" });
  row(`AddRoute seq, 0→${S} [routes/s]`, "routes/s", seq.first.routesPerSec, floorRate(sizes.small), fmtInt);
  row(`AddRoute seq, 0→${L} [routes/s]`, "routes/s", seq.routesPerSec, floorRate(sizes.large), fmtInt);
  row(`AddRoute ${conc.inflight} in flight, 0→${S} [routes/s]`, "routes/s", conc.first.routesPerSec, floorRate(sizes.small), fmtInt);
  row(`AddRoute ${conc.inflight} in flight, 0→${L} [routes/s]`, "routes/s", conc.routesPerSec, floorRate(sizes.large), fmtInt);

  // Throughput against smcroute.
  const pr = smcOk?.perRoute;
  const lastSeg = `${k(seq.last.from)}→${k(seq.last.to)}`;
  row(`AddRoute seq, 0→${S} vs smcroutectl add [routes/s]`, "routes/s", seq.first.routesPerSec, pr ? { value: pr.first?.routesPerSec, label: "smcroutectl add" } : na, fmtInt);
  row(`AddRoute seq, ${lastSeg} vs smcroutectl add [routes/s]`, "routes/s", seq.last.routesPerSec, pr ? { value: pr.last?.routesPerSec, label: "smcroutectl add" } : na, fmtInt);
  row(`AddRoute ${conc.inflight} in flight, 0→${S} vs smcroutectl -b [routes/s]`, "routes/s", conc.first.routesPerSec, smcOk ? { value: smcOk.batchSmall.routesPerSec, label: "smcroutectl -b" } : na, fmtInt);
  row(`AddRoute ${conc.inflight} in flight, 0→${L} vs smcroutectl -b [routes/s]`, "routes/s", conc.routesPerSec, smcOk ? { value: smcOk.batchLarge.routesPerSec, label: "smcroutectl -b" } : na, fmtInt);

  // Latency.
  const h = m.health.latencyUs;
  const us = (v: number | undefined) => fmt(v, 0);
  row(`AddRoute seq p50 [µs]`, "µs", seq.latencyUs.p50, { value: h.p50, label: "Health.Check" }, us, {
    limit: targets.unaryP50Us,
    better: "lower",
    text: `≤ ${targets.unaryP50Us} µs`,
  });
  row(`AddRoute seq p99 [µs]`, "µs", seq.latencyUs.p99, { value: h.p99, label: "Health.Check" }, us);
  row(`AddRoute seq p50 vs kernel MRT_ADD_MFC [µs]`, "µs", seq.latencyUs.p50, { value: floorAt(sizes.large)?.usPerOp, label: "kernel floor" }, (v) => fmt(v, 1));
  row(`AddRoute seq p50 vs smcroutectl add p50 [µs]`, "µs", seq.latencyUs.p50, pr ? { value: (pr.latencyMs?.p50 ?? Number.NaN) * 1000, label: "smcroutectl add" } : na, us);
  row(`AddRoute ${conc.inflight} in flight p50 [µs]`, "µs", conc.latencyUs.p50, undefined, us);
  row(`AddRoute ${conc.inflight} in flight p99 [µs]`, "µs", conc.latencyUs.p99, undefined, us);
  row(`mfcd CPU per AddRoute, seq [µs]`, "µs", seq.serverCpuUsPerRoute, { value: m.health.serverCpuUsPerCall, label: "per Health.Check" }, us);
  row(`SDK client CPU per AddRoute, seq [µs]`, "µs", seq.clientCpuUsPerRoute, undefined, us);
  row(`mfcd CPU per AddRoute vs smcrouted per add [µs]`, "µs", seq.serverCpuUsPerRoute, pr ? { value: pr.daemonCpuUsPerRoute, label: "smcrouted" } : na, us);

  // ListRoutes.
  const l = m.list;
  row(`ListRoutes at ${k(l.routes)} p50 [ms]`, "ms", l.latencyMs.p50, { value: floor.dumpMs.p50, label: "/proc dump+parse" }, (v) => fmt(v, 2), {
    limit: targets.listP50Ms,
    better: "lower",
    text: `≤ ${targets.listP50Ms} ms`,
  });
  row(`ListRoutes at ${k(l.routes)} p99 [ms]`, "ms", l.latencyMs.p99, { value: floor.dumpMs.p99, label: "/proc dump+parse" }, (v) => fmt(v, 2));
  const sweep = { value: floor.countersMs.p50, label: `${k(floor.countersMs.routes)}× SIOCGETSGCNT` };
  row(`mfcd CPU per ListRoutes at ${k(l.routes)} [ms]`, "ms", l.serverCpuMsPerCall, sweep, (v) => fmt(v, 2));
  row(`client decode of ListRoutes at ${k(l.routes)} [ms]`, "ms", l.clientDecodeMs.p50, undefined, (v) => fmt(v, 2));

  // WatchStats.
  const w = m.watch;
  row(
    `WatchStats CPU, ${k(w.routes)} routes @${1000 / w.intervalMs} Hz, median of ${m.watchWindowsPercent.length} windows (${m.watchWindowsPercent.map((p) => fmt(p, 1)).join(" / ")}) [% core]`,
    "%",
    w.watchCpuPercent,
    { value: w.idleCpuPercent, label: "mfcd idle" },
    (v) => fmt(v, 2),
    { limit: targets.watchCpuPercent, better: "lower", text: `≤ ${targets.watchCpuPercent} %` },
  );
  // CPU above idle per update: (watched − idle) % of a core × interval.
  const perUpdateMs = ((w.watchCpuPercent - w.idleCpuPercent) / 100) * w.intervalMs;
  row(`mfcd CPU per WatchStats update at ${k(w.routes)} [ms]`, "ms", perUpdateMs, sweep, (v) => fmt(v, 1));

  // Memory.
  const mib = (kib: number | undefined) => (kib === undefined ? undefined : kib / 1024);
  row(`RSS at ${k(seq.routes)} routes, right after ListRoutes + WatchStats [MiB]`, "MiB", mib(m.memory.finalKiB), undefined, (v) => fmt(v, 1));
  row(`RSS at ${k(seq.routes)} routes, idle (mean over 20–30 s after the last call) [MiB]`, "MiB", mib(m.memory.settledKiB), smcOk ? { value: mib(smcOk.batchLarge.rssKiB), label: "smcrouted" } : na, (v) => fmt(v, 1), {
    limit: targets.rssMiB,
    better: "lower",
    text: `≤ ${fmt(targets.rssMiB, 1)} MiB (100 MB)`,
  });
  row(`RSS peak (VmHWM) at ${k(seq.routes)} [MiB]`, "MiB", mib(m.memory.peakKiB), undefined, (v) => fmt(v, 1));
  row(`RSS empty, just started [MiB]`, "MiB", mib(m.rssEmptyKiB), undefined, (v) => fmt(v, 1));

  // Bulk ApplyRoutes (one call each, fresh mfcd with a state file; clock on the client).
  const applyTarget = { limit: targets.applyRoutesPerSec, better: "higher" as const, text: `≥ ${fmtInt(targets.applyRoutesPerSec)}/s` };
  const smcBatchBase = (run: SmcRun | undefined) => {
    if (!run) return na;
    if (!run.capped) return { value: run.routesPerSec, label: "smcroutectl -b" };
    const label = `smcroutectl -b, cut off at ${fmt(run.capped.afterSeconds, 0)} s with ${fmtInt(run.capped.installed)} of ${k(run.routes)} in`;
    return { value: run.routesPerSec, label };
  };
  for (const [a, smcRun] of [
    [apply.small, smcOk?.batchLarge],
    [apply.large, smcOk?.batchApply],
  ] as const) {
    const A = k(a.routes);
    row(`ApplyRoutes ${A} new, one call [routes/s]`, "routes/s", a.routesPerSec, floorRate(a.routes), fmtInt, applyTarget);
    row(`ApplyRoutes ${A} new vs smcroutectl -b [routes/s]`, "routes/s", a.routesPerSec, smcBatchBase(smcRun), fmtInt);
  }
  const big = apply.large;
  const B = k(big.routes);
  const floorBig = floorAt(big.routes);
  row(`ApplyRoutes ${B} new, wall time [ms]`, "ms", big.seconds * 1000, { value: floorBig && floorBig.seconds * 1000, label: "kernel floor" }, (v) => fmt(v, 0));
  row(`ApplyRoutes ${B} again, all unchanged [ms]`, "ms", apply.reapply.seconds * 1000, { value: big.seconds * 1000, label: `${B} new` }, (v) => fmt(v, 0));
  row(`mfcd CPU per route, ApplyRoutes ${B} new [µs]`, "µs", big.serverCpuUsPerRoute, { value: floorBig?.usPerOp, label: "kernel floor" }, (v) => fmt(v, 1));
  row(`SDK client CPU per route, ApplyRoutes ${B} new [µs]`, "µs", big.clientCpuUsPerRoute, undefined, (v) => fmt(v, 1));
  const smcBig = smcOk?.batchApply;
  const smcRss = smcBig
    ? { value: mib(smcBig.rssKiB), label: smcBig.capped ? `smcrouted (${fmtInt(smcBig.capped.installed)} routes)` : "smcrouted" }
    : na;
  row(`RSS after ApplyRoutes ${B} [MiB]`, "MiB", mib(big.rssKiB), smcRss, (v) => fmt(v, 1));
  row(`RSS peak (VmHWM) after ApplyRoutes ${B} again [MiB]`, "MiB", mib(apply.reapply.hwmKiB), undefined, (v) => fmt(v, 1));

  // Restart: SIGKILL, then a fresh mfcd on the same state file.
  const r = apply.restore;
  row(
    `restart after kill -9: spawn → SERVING, ${k(r.routes)} adopted, p50 of ${r.runs} [ms]`,
    "ms",
    r.spawnToServingMs.p50,
    { value: apply.emptyStart.spawnToServingMs.p50, label: "empty state" },
    (v) => fmt(v, 0),
    { limit: targets.restoreMs, better: "lower", text: `≤ ${targets.restoreMs} ms` },
  );
  row(`restart: spawn → SERVING, ${k(r.routes)} restored, max [ms]`, "ms", r.spawnToServingMs.max, { value: apply.emptyStart.spawnToServingMs.max, label: "empty state" }, (v) => fmt(v, 0));
  if (apply.reAdd) {
    row(`restart: spawn → SERVING, ${k(r.routes)} adopted vs written again, p50 [ms]`, "ms", r.spawnToServingMs.p50, { value: apply.reAdd.spawnToServingMs.p50, label: "written again" }, (v) => fmt(v, 0));
  }
  return rows;
}

export function headerLine(facts: MachineFacts, extra: Record<string, string>): string {
  const parts = [
    `nproc ${facts.nproc}`,
    `CPU ${facts.cpuModel}`,
    `kernel ${facts.kernel}`,
    `node ${facts.node}`,
    `mem ${facts.memTotalGiB} GiB`,
    `load1 ${facts.loadAvg1}`,
    ...Object.entries(extra).map(([key, v]) => `${key} ${v}`),
  ];
  return parts.join(" | ");
}

export function renderTable(rows: Row[]): string {
  const head = ["figure", "mfcd", "baseline", "ratio", "target", "PASS/MISS"];
  const cells = rows.map((r) => [r.figure, r.mfcd, r.baseline, r.ratio, r.target, r.verdict]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const right = [false, true, true, true, false, false];
  const line = (c: string[]) =>
    "| " + c.map((v, i) => (right[i] ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))).join(" | ") + " |";
  const sep = "|" + widths.map((w, i) => (right[i] ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2))).join("|") + "|";
  return [line(head), sep, ...cells.map(line)].join("\n");
}

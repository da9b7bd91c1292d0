// The smcroute baseline (Debian's package): smcrouted in its own bench namespace with its own
// veth interfaces, a unique identity, IPC socket and pid file under a temporary directory, and
// `-N` + `phyint … enable` so that only the bench interfaces become VIFs. Routes go in through
// `smcroutectl add` (one process per route) and `smcroutectl -b` (one batch on stdin); the
// kernel table is checked afterwards, and the daemon is stopped (SIGTERM) after every run.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { CommandError, run } from "../test/helpers/netns.js";
import { GROUP, IIF, OIFS, kernelEntryCount, sourceAt, type BenchNs } from "./lib/bench-netns.js";
import { makeTempDir, spawnDaemon, type Daemon } from "./lib/children.js";
import { cpuSeconds, memory } from "./lib/procfs.js";
import { nowNs, sleep, summarize, type LatencySummary } from "./lib/stats.js";

export interface SmcrouteBins {
  smcrouted: string;
  smcroutectl: string;
  version: string;
  /** True when this run installed the package. */
  installedNow: boolean;
}

export type Availability = { ok: true; bins: SmcrouteBins } | { ok: false; reason: string };

const SEARCH = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/local/sbin"];

function which(name: string): string | undefined {
  for (const dir of SEARCH) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

function errText(err: unknown): string {
  if (err instanceof CommandError) return (err.stderr.trim().split("\n").at(-1) ?? err.message).slice(0, 200);
  return err instanceof Error ? err.message : String(err);
}

/** Finds smcrouted/smcroutectl; as root, installs Debian's smcroute package when missing. */
export async function ensureSmcroute(log: (msg: string) => void): Promise<Availability> {
  let installedNow = false;
  if (!which("smcrouted") || !which("smcroutectl")) {
    if (process.getuid?.() !== 0) return { ok: false, reason: "smcroute not installed (and not root to apt-get it)" };
    if (!which("apt-get")) return { ok: false, reason: "smcroute not installed and no apt-get" };
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const install = () => run(["apt-get", "install", "-y", "--no-install-recommends", "smcroute"], { timeoutMs: 240_000, env });
    log("smcroute missing: apt-get install -y smcroute");
    try {
      await install();
    } catch {
      try {
        log("apt-get install failed; apt-get update and retry");
        await run(["apt-get", "update"], { timeoutMs: 240_000, env });
        await install();
      } catch (err) {
        return { ok: false, reason: `apt-get install smcroute failed: ${errText(err)}` };
      }
    }
    installedNow = true;
  }
  const smcrouted = which("smcrouted");
  const smcroutectl = which("smcroutectl");
  if (!smcrouted || !smcroutectl) return { ok: false, reason: "smcrouted/smcroutectl not found after install" };
  let version = "unknown";
  try {
    version = /SMCRoute v?(\S+)/.exec(await run([smcrouted, "-v"]))?.[1] ?? "unknown";
  } catch {
    // keep unknown
  }
  return { ok: true, bins: { smcrouted, smcroutectl, version, installedNow } };
}

interface RunningSmcrouted {
  daemon: Daemon;
  socket: string;
  ctl(args: string[], input?: string): Promise<string>;
  stop(): Promise<void>;
}

let instance = 0;

async function startSmcrouted(ns: BenchNs, bins: SmcrouteBins): Promise<RunningSmcrouted> {
  instance += 1;
  const ident = `mfcb-${process.pid}-${instance}`;
  const dir = makeTempDir();
  const conf = path.join(dir, `${ident}.conf`);
  const socket = path.join(dir, `${ident}.sock`);
  const pidFile = path.join(dir, `${ident}.pid`);
  fs.writeFileSync(conf, [IIF, ...OIFS].map((i) => `phyint ${i} enable`).join("\n") + "\n");
  // -n: foreground (the pid is smcrouted's own, `ip netns exec` execs it); -N: no VIF unless
  // enabled by phyint; -i/-f/-u/-P: nothing shared with a system instance or another run.
  const daemon = spawnDaemon(
    ["ip", "netns", "exec", ns.name, bins.smcrouted, "-n", "-N", "-i", ident, "-f", conf, "-u", socket, "-P", pidFile, "-l", "err"],
    dir,
  );
  const ctl = (args: string[], input?: string) =>
    run([bins.smcroutectl, "-u", socket, ...args], { timeoutMs: 180_000, ...(input === undefined ? {} : { input }) });
  const stop = () => daemon.stop("SIGTERM", 5000);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (daemon.hasExited()) throw new Error(`smcrouted exited at start: ${daemon.stderr().trim() || "(no stderr)"}`);
    if (fs.existsSync(socket)) {
      try {
        const shown = await ctl(["-p", "show", "interfaces"]);
        // All three bench interfaces must have a VIF number.
        const vifs = [IIF, ...OIFS].filter((i) => new RegExp(`\\s${i}\\s+\\d+`).test(shown));
        if (vifs.length === 1 + OIFS.length) break;
      } catch {
        // not ready yet
      }
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`smcrouted not ready within 10 s: ${daemon.stderr().trim()}`);
    }
    await sleep(25);
  }
  return { daemon, socket, ctl, stop };
}

export interface SmcSegment {
  from: number;
  to: number;
  seconds: number;
  routesPerSec: number;
}

export interface SmcRun {
  mode: "per-route" | "batch";
  routes: number;
  /** Batch: the whole run. Per route: the two timed segments together. */
  seconds: number;
  routesPerSec: number;
  /** Per-route mode: `smcroutectl add` into an empty table (0 → 1k). */
  first?: SmcSegment;
  /** Per-route mode: `smcroutectl add` into a nearly full table (e.g. 9k → 10k). */
  last?: SmcSegment;
  /** Per-route mode: one `smcroutectl add` process, ms. */
  latencyMs?: LatencySummary;
  /** smcrouted's own CPU time per timed route, µs. */
  daemonCpuUsPerRoute: number;
  kernelEntries: number;
  /** smcrouted VmRSS with all routes installed (or at the cut-off), KiB. */
  rssKiB: number;
  /**
   * Batch only: the run hit its time cap before the kernel held all `routes`; `installed` is
   * what it held then, and routesPerSec = installed / seconds (the rate of the easier, first
   * part of the batch: an upper bound for the whole).
   */
  capped?: { afterSeconds: number; installed: number };
}

function addArgs(i: number): string[] {
  return ["add", IIF, sourceAt(i), GROUP, ...OIFS];
}

/** Waits (bounded) until the kernel holds `count` entries; returns the count seen last. */
async function settleCount(ns: BenchNs, count: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = kernelEntryCount(ns);
    if (n >= count || Date.now() > deadline) return n;
    await sleep(10);
  }
}

/**
 * `smcroutectl add`, one process per route: timed for 0 → `segment` routes, then (untimed)
 * `smcroutectl -b` up to count − segment, then timed again for the last `segment` routes.
 * One process per route costs milliseconds, so 10k of them would dominate the run; the two
 * segments show the per-route rate into an empty and into a nearly full table.
 */
export async function smcPerRoute(ns: BenchNs, bins: SmcrouteBins, count: number, segment: number): Promise<SmcRun> {
  const d = await startSmcrouted(ns, bins);
  try {
    const n = Math.min(segment, count);
    const samples: number[] = [];
    let cpu = 0;
    const timed = async (from: number, to: number): Promise<SmcSegment> => {
      const cpu0 = cpuSeconds(d.daemon.pid);
      const t0 = nowNs();
      for (let i = from; i < to; i++) {
        const s = nowNs();
        await d.ctl(addArgs(i));
        samples.push((nowNs() - s) / 1e6);
      }
      const entries = await settleCount(ns, to, 10_000);
      const seconds = (nowNs() - t0) / 1e9;
      cpu += cpuSeconds(d.daemon.pid) - cpu0;
      if (entries !== to) throw new Error(`smcroutectl add: kernel holds ${entries} of ${to}`);
      return { from, to, seconds, routesPerSec: (to - from) / seconds };
    };
    const first = await timed(0, n);
    let last = first;
    if (count > n) {
      const fillTo = Math.max(n, count - n);
      if (fillTo > n) {
        const lines = [];
        for (let i = n; i < fillTo; i++) lines.push(addArgs(i).join(" "));
        await d.ctl(["-b"], lines.join("\n") + "\n");
        const filled = await settleCount(ns, fillTo, 60_000);
        if (filled !== fillTo) throw new Error(`smcroutectl -b fill: kernel holds ${filled} of ${fillTo}`);
      }
      last = await timed(fillTo, count);
    }
    const routes = first.to - first.from + (last === first ? 0 : last.to - last.from);
    const seconds = first.seconds + (last === first ? 0 : last.seconds);
    return {
      mode: "per-route",
      routes,
      seconds,
      routesPerSec: routes / seconds,
      first,
      last,
      latencyMs: summarize(samples),
      daemonCpuUsPerRoute: (cpu * 1e6) / routes,
      kernelEntries: kernelEntryCount(ns),
      rssKiB: memory(d.daemon.pid).rssKiB,
    };
  } finally {
    await d.stop();
  }
}

interface BatchExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stderr: string;
}

/**
 * Runs argv with `input` on stdin, SIGKILLed after `timeoutMs`. Unlike run(), a child that dies
 * (or is killed) before reading all of its input is not an error here: the EPIPE on our end of
 * the pipe is expected then.
 */
function runBatch(argv: readonly string[], input: string, timeoutMs: number): Promise<BatchExit> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error("runBatch: empty argv"));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    let timedOut = false;
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
    });
    child.stdin?.on("error", () => undefined);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stderr });
    });
    child.stdin?.end(input);
  });
}

/**
 * `smcroutectl -b` with `count` routes on stdin into a fresh smcrouted; the clock stops when the
 * kernel holds every entry. After `capMs` the batch is cut off (smcroutectl SIGKILLed): the run
 * then reports what the kernel held at that moment, with `capped` set.
 */
export async function smcBatch(ns: BenchNs, bins: SmcrouteBins, count: number, capMs = 180_000): Promise<SmcRun> {
  const d = await startSmcrouted(ns, bins);
  try {
    const input = Array.from({ length: count }, (_, i) => addArgs(i).join(" ")).join("\n") + "\n";
    const cpu0 = cpuSeconds(d.daemon.pid);
    const t0 = nowNs();
    const elapsedMs = () => (nowNs() - t0) / 1e6;
    const batch = await runBatch([bins.smcroutectl, "-u", d.socket, "-b"], input, capMs);
    const cutOff = batch.timedOut;
    if (!cutOff && batch.code !== 0) {
      throw new Error(`smcroutectl -b: exit ${batch.code ?? batch.signal}: ${batch.stderr.trim().split("\n").at(-1) ?? ""}`);
    }
    // The clock stops when the kernel holds every entry, not when smcroutectl exits.
    const kernelEntries = cutOff ? kernelEntryCount(ns) : await settleCount(ns, count, Math.max(10_000, capMs - elapsedMs()));
    const seconds = (nowNs() - t0) / 1e9;
    const cpu = cpuSeconds(d.daemon.pid) - cpu0;
    const capped = cutOff || kernelEntries < count;
    if (!capped && kernelEntries !== count) throw new Error(`smcroutectl -b: kernel holds ${kernelEntries} of ${count}`);
    return {
      mode: "batch",
      routes: count,
      seconds,
      routesPerSec: kernelEntries / seconds,
      daemonCpuUsPerRoute: (cpu * 1e6) / Math.max(1, kernelEntries),
      kernelEntries,
      rssKiB: memory(d.daemon.pid).rssKiB,
      ...(capped ? { capped: { afterSeconds: seconds, installed: kernelEntries } } : {}),
    };
  } finally {
    await d.stop();
  }
}

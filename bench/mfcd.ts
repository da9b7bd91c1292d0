// mfcd as a real child process (`ip netns exec NS node ... --listen unix:... --log-level warn`)
// driven through the SDK over a Unix socket: unary AddRoute (sequential and N in flight),
// ListRoutes, WatchStats CPU and RSS, bulk ApplyRoutes, restart with restore from the state
// file, with mfcd's own CPU time read from /proc/<pid>/stat. Every mfcd persists to a state file
// in the bench's temporary directory (--state-file), never to /var/lib/mfcd.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ApplyRoutesRequest, ApplyRoutesResponse, ListRoutesResponse, type Route } from "../src/gen/mfc.js";
import { createMfcClient, RouteState, type MfcClient } from "../src/sdk/index.js";
import { run } from "../test/helpers/netns.js";
import { GROUP, IIF, OIFS, kernelEntryCount, sourceAt, type BenchNs } from "./lib/bench-netns.js";
import { makeTempDir, removeAtExit, removeIfEmptyAtExit, spawnDaemon, type Daemon } from "./lib/children.js";
import { cpuPercentOver, cpuSeconds, memory, type Memory } from "./lib/procfs.js";
import { nowNs, sleep, summarize, type LatencySummary } from "./lib/stats.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, "..");

/**
 * How mfcd is run: `build` bundles the current src/ into bench/.build/<pid> and runs it (what
 * `npm run build` + the `mfcd` bin run in production, without touching dist/); `tsx` runs src/server/main.ts through `--import tsx`; `dist` runs dist/ as it is.
 */
export type Runtime = "build" | "tsx" | "dist";

export interface MfcdEntry {
  runtime: Runtime;
  /** Arguments after `node`, up to and including the main script. */
  nodeArgs: string[];
  /** Seconds spent compiling (build only). */
  buildSeconds: number;
}

/** Node flags of the installed bin's shebang (`#!/usr/bin/env -S node FLAGS`): measure what users run. */
export function binNodeFlags(): string[] {
  const first = fs.readFileSync(path.join(REPO_ROOT, "src/server/main.ts"), "utf8").split("\n", 1)[0] ?? "";
  const m = /^#!\S*env -S node(.*)$/.exec(first);
  return m?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
}

export async function prepareMfcd(runtime: Runtime): Promise<MfcdEntry> {
  const flags = binNodeFlags();
  if (runtime === "tsx") {
    return { runtime, nodeArgs: [...flags, "--import", "tsx", path.join(REPO_ROOT, "src/server/main.ts")], buildSeconds: 0 };
  }
  if (runtime === "dist") {
    const main = path.join(REPO_ROOT, "dist/server/main.js");
    if (!fs.existsSync(main)) throw new Error(`${main} is missing: run npm run build, or use --runtime build`);
    return { runtime, nodeArgs: [...flags, main], buildSeconds: 0 };
  }
  // Inside the repository so that node_modules (koffi) resolves, and package.json and
  // src/gen/mfc.binpb (reflection) are the repository's: the nearest package.json above the
  // bundle is the package root (src/shared/package-file.ts).
  const dir = path.join(REPO_ROOT, "bench/.build", String(process.pid));
  removeAtExit(dir);
  removeIfEmptyAtExit(path.dirname(dir));
  const t0 = nowNs();
  // The bin as `npm run build` makes it: the esbuild bundle of src/server/main.ts.
  await run([process.execPath, path.join(REPO_ROOT, "scripts/bundle.mjs"), path.join(dir, "dist")], {
    timeoutMs: 180_000,
  });
  return { runtime, nodeArgs: [...flags, path.join(dir, "dist/server/main.js")], buildSeconds: (nowNs() - t0) / 1e9 };
}

export interface RunningMfcd {
  daemon: Daemon;
  client: MfcClient;
  socketPath: string;
  /** The --state-file this mfcd persists to (in the bench's temporary directory). */
  stateFile: string;
  /** Seconds from spawn to health SERVING. */
  startSeconds: number;
  /** SIGTERM (graceful: flush, MRT_DONE), SIGKILL after 10 s. */
  stop(): Promise<void>;
  /** SIGKILL: no shutdown at all; the kernel drops the table when the socket goes. */
  kill(): Promise<void>;
}

export interface StartOptions {
  /** Extra node flags before the script, e.g. --cpu-prof. */
  nodeFlags?: string[];
  readyTimeoutMs?: number;
  /**
   * --state-file (persistence on, as users run mfcd); default `mfcd.state` in this start's own
   * temporary directory. Pass another mfcd's stateFile to restart from its state.
   */
  stateFile?: string;
  /** --max-routes (default: mfcd's own default). */
  maxRoutes?: number;
  /** Period of the readiness poll (socket file, then health Check), ms; default 25. */
  pollMs?: number;
}

export async function startMfcd(ns: BenchNs, entry: MfcdEntry, opts: StartOptions = {}): Promise<RunningMfcd> {
  const dir = makeTempDir();
  const socketPath = path.join(dir, "mfcd.sock");
  const stateFile = opts.stateFile ?? path.join(dir, "mfcd.state");
  const pollMs = opts.pollMs ?? 25;
  const t0 = nowNs();
  // `ip netns exec` execs node, so the child's pid is mfcd's own.
  const daemon = spawnDaemon(
    [
      "ip",
      "netns",
      "exec",
      ns.name,
      process.execPath,
      ...(opts.nodeFlags ?? []),
      ...entry.nodeArgs,
      "--listen",
      `unix:${socketPath}`,
      "--log-level",
      "warn",
      "--state-file",
      stateFile,
      ...(opts.maxRoutes === undefined ? [] : ["--max-routes", String(opts.maxRoutes)]),
    ],
    REPO_ROOT,
  );
  const newClient = () => createMfcClient(`unix:${socketPath}`, { deadlineMs: 30_000 });
  let client = newClient();
  const stop = async (): Promise<void> => {
    client.close();
    await daemon.stop("SIGTERM", 10_000);
  };
  const kill = async (): Promise<void> => {
    client.close();
    await daemon.stop("SIGKILL", 1000);
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  let last = "no socket yet";
  let servedNs: number;
  try {
    for (;;) {
      if (daemon.hasExited()) throw new Error(`mfcd exited before serving: ${daemon.stderr().trim() || "(no stderr)"}`);
      if (fs.existsSync(socketPath)) {
        try {
          const status = await Promise.race([
            client.health(),
            sleep(2000).then(() => "no answer in 2 s"),
          ]);
          if (status === "SERVING") {
            servedNs = nowNs();
            break;
          }
          last = `health ${status}`;
        } catch (err) {
          last = err instanceof Error ? err.message : String(err);
          // A failed connect leaves the channel in reconnect backoff (1 s and more), which
          // would be measured as start time: probe again over a new channel.
          client.close();
          client = newClient();
        }
      }
      if (Date.now() > deadline) throw new Error(`mfcd not SERVING in time (${last}): ${daemon.stderr().trim()}`);
      await sleep(pollMs);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { daemon, client, socketPath, stateFile, startSeconds: (servedNs - t0) / 1e9, stop, kill };
}

export interface Segment {
  /** Routes in the table before and after the segment. */
  from: number;
  to: number;
  seconds: number;
  routesPerSec: number;
}

export interface AddRun {
  routes: number;
  inflight: number;
  seconds: number;
  routesPerSec: number;
  /** The first `segment` routes (an empty table growing to 1k). */
  first: Segment;
  /** The last `segment` routes (e.g. 9k → 10k). */
  last: Segment;
  /** Client-side latency of each AddRoute through the SDK, µs. */
  latencyUs: LatencySummary;
  /** mfcd's own CPU time (utime+stime) per route, µs. */
  serverCpuUsPerRoute: number;
  /** This (the client's) process's CPU time per route: the SDK, grpc-js and HTTP/2, µs. */
  clientCpuUsPerRoute: number;
  /** Resolved entries in the kernel table afterwards. */
  kernelEntries: number;
}

interface AddRequest {
  route: { source: string; group: string; iif: string; oifs: string[] };
  replace: boolean;
}

function requests(count: number, group: string): AddRequest[] {
  return Array.from({ length: count }, (_, i) => ({
    route: { source: sourceAt(i), group, iif: IIF, oifs: [...OIFS] },
    replace: false,
  }));
}

/** `count` AddRoute calls, `inflight` at a time, each request prepared before the clock starts. */
export async function addRoutes(
  m: RunningMfcd,
  ns: BenchNs,
  count: number,
  inflight: number,
  segment: number,
): Promise<AddRun> {
  const reqs = requests(count, GROUP);
  const latencies = new Float64Array(count);
  /** doneAt[n]: ns after the start when the n-th answer arrived. */
  const doneAt = new Float64Array(count + 1);
  let next = 0;
  let done = 0;
  let notInstalled = 0;
  const cpu0 = cpuSeconds(m.daemon.pid);
  const client0 = process.cpuUsage();
  const t0 = nowNs();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const s = nowNs();
      const res = await m.client.addRoute(reqs[i] as AddRequest);
      const e = nowNs();
      latencies[i] = (e - s) / 1e3;
      if (res.route?.state !== RouteState.ROUTE_STATE_INSTALLED) notInstalled++;
      doneAt[++done] = e - t0;
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  const seconds = (nowNs() - t0) / 1e9;
  const cpu = cpuSeconds(m.daemon.pid) - cpu0;
  const client = process.cpuUsage(client0);
  if (notInstalled > 0) throw new Error(`${notInstalled} AddRoute answers were not INSTALLED`);
  const kernelEntries = kernelEntryCount(ns);
  if (kernelEntries !== count) throw new Error(`kernel holds ${kernelEntries} entries after ${count} AddRoute`);
  const seg = (from: number, to: number): Segment => {
    const secs = ((doneAt[to] as number) - (doneAt[from] as number)) / 1e9;
    return { from, to, seconds: secs, routesPerSec: (to - from) / secs };
  };
  const n = Math.min(segment, count);
  return {
    routes: count,
    inflight,
    seconds,
    routesPerSec: count / seconds,
    first: seg(0, n),
    last: seg(count - n, count),
    latencyUs: summarize(Array.from(latencies)),
    serverCpuUsPerRoute: (cpu * 1e6) / count,
    clientCpuUsPerRoute: (client.user + client.system) / count,
    kernelEntries,
  };
}

export interface HealthRun {
  calls: number;
  /** Client-side latency of grpc.health.v1 Check through the SDK: the gRPC floor, µs. */
  latencyUs: LatencySummary;
  serverCpuUsPerCall: number;
}

/**
 * Sequential Health.Check calls over the same channel, through the same client and server
 * middleware as AddRoute, with no work behind them: what any unary call costs here.
 */
export async function healthFloor(m: RunningMfcd, calls: number): Promise<HealthRun> {
  for (let i = 0; i < 200; i++) await m.client.health();
  const samples = new Float64Array(calls);
  const cpu0 = cpuSeconds(m.daemon.pid);
  for (let i = 0; i < calls; i++) {
    const s = nowNs();
    await m.client.health();
    samples[i] = (nowNs() - s) / 1e3;
  }
  const cpu = cpuSeconds(m.daemon.pid) - cpu0;
  return { calls, latencyUs: summarize(Array.from(samples)), serverCpuUsPerCall: (cpu * 1e6) / calls };
}

/**
 * JIT warm-up on a group the measurement never uses: add, delete (sequential and in flight),
 * leaving the table and the VIFs empty again.
 */
export async function warmUp(m: RunningMfcd, count: number, inflight: number): Promise<void> {
  const reqs = requests(count, "239.9.9.9");
  const parallel = async (fn: (i: number) => Promise<unknown>): Promise<void> => {
    let next = 0;
    const w = async (): Promise<void> => {
      while (next < count) await fn(next++);
    };
    await Promise.all(Array.from({ length: inflight }, w));
  };
  const add = (i: number) => m.client.addRoute(reqs[i] as AddRequest);
  const del = (i: number) => m.client.delRoute({ source: sourceAt(i), group: "239.9.9.9" });
  for (let i = 0; i < count; i++) await add(i);
  await m.client.listRoutes({});
  await parallel(del);
  await parallel(add);
  for (let i = 0; i < count; i++) await del(i);
}

export interface ListRun {
  routes: number;
  calls: number;
  latencyMs: LatencySummary;
  /** mfcd CPU per call, ms. */
  serverCpuMsPerCall: number;
  responseBytes: number;
  /** Decoding one response in this (the client's) process, ms. */
  clientDecodeMs: LatencySummary;
}

export async function listRoutes(m: RunningMfcd, expected: number, calls: number, warm: number): Promise<ListRun> {
  for (let i = 0; i < warm; i++) await m.client.listRoutes({});
  const samples: number[] = [];
  let last: ListRoutesResponse | undefined;
  const cpu0 = cpuSeconds(m.daemon.pid);
  for (let i = 0; i < calls; i++) {
    const s = nowNs();
    last = await m.client.listRoutes({});
    samples.push((nowNs() - s) / 1e6);
    if (last.routes.length !== expected) throw new Error(`ListRoutes returned ${last.routes.length}, expected ${expected}`);
  }
  const cpu = cpuSeconds(m.daemon.pid) - cpu0;
  const bytes = last ? ListRoutesResponse.encode(last).finish() : new Uint8Array();
  const decode: number[] = [];
  for (let i = 0; i < 10; i++) {
    const s = nowNs();
    ListRoutesResponse.decode(bytes);
    decode.push((nowNs() - s) / 1e6);
  }
  return {
    routes: expected,
    calls,
    latencyMs: summarize(samples),
    serverCpuMsPerCall: (cpu * 1e3) / calls,
    responseBytes: bytes.length,
    clientDecodeMs: summarize(decode),
  };
}

export interface WatchRun {
  routes: number;
  intervalMs: number;
  windowSeconds: number;
  /** mfcd CPU with nobody watching (drift check and timers only), % of one core. */
  idleCpuPercent: number;
  /** mfcd CPU while one client watches, % of one core. */
  watchCpuPercent: number;
  /** Complete updates the client received inside the measuring window. */
  updatesInWindow: number;
  routesPerUpdate: number;
  /** mfcd VmRSS at the start and the end of the watched window, KiB. */
  rssBeforeKiB: number;
  rssAfterKiB: number;
}

export async function watchStatsCpu(m: RunningMfcd, expected: number, windowMs: number, intervalMs: number): Promise<WatchRun> {
  const pid = m.daemon.pid;
  const idle = await cpuPercentOver(pid, windowMs, sleep);

  const ac = new AbortController();
  let updates = 0;
  let routesInUpdate = 0;
  let lastRoutesPerUpdate = 0;
  let onFirst: () => void = () => undefined;
  const first = new Promise<void>((resolve) => (onFirst = resolve));
  const loop = (async () => {
    try {
      for await (const msg of m.client.watchStats({ intervalMs }, { signal: ac.signal })) {
        routesInUpdate += msg.routes.length;
        if (msg.part === msg.parts - 1) {
          updates++;
          lastRoutesPerUpdate = routesInUpdate;
          routesInUpdate = 0;
          onFirst();
        }
      }
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    }
  })();
  loop.catch(() => undefined);
  await Promise.race([first, loop, sleep(15_000).then(() => Promise.reject(new Error("no WatchStats update in 15 s")))]);
  // Start half an interval after the first (immediate) update: the window then holds exactly
  // windowMs / intervalMs periodic updates.
  await sleep(intervalMs / 2);
  const before = updates;
  const rssBeforeKiB = memory(pid).rssKiB;
  const watch = await cpuPercentOver(pid, windowMs, sleep);
  const rssAfterKiB = memory(pid).rssKiB;
  const inWindow = updates - before;
  ac.abort();
  await loop;
  if (lastRoutesPerUpdate !== expected) throw new Error(`WatchStats update had ${lastRoutesPerUpdate} routes, expected ${expected}`);
  return {
    routes: expected,
    intervalMs,
    windowSeconds: windowMs / 1000,
    idleCpuPercent: idle,
    watchCpuPercent: watch,
    updatesInWindow: inWindow,
    routesPerUpdate: lastRoutesPerUpdate,
    rssBeforeKiB,
    rssAfterKiB,
  };
}

export function mfcdMemory(m: RunningMfcd): Memory {
  return memory(m.daemon.pid);
}

export interface ApplyRun {
  routes: number;
  /** What the call did, from the response. */
  added: number;
  unchanged: number;
  /** Client-side wall time of the one ApplyRoutes call: request encoding to decoded response. */
  seconds: number;
  routesPerSec: number;
  /** mfcd's own CPU time (utime+stime, all threads) during the call, per route, µs. */
  serverCpuUsPerRoute: number;
  /** This (the client's) process's CPU during the call, per route, µs. */
  clientCpuUsPerRoute: number;
  requestBytes: number;
  responseBytes: number;
  /** Resolved entries in the kernel table right after the answer. */
  kernelEntries: number;
  /** mfcd VmRSS / VmHWM right after the answer, KiB. */
  rssKiB: number;
  hwmKiB: number;
  /** Size of the state file right after the answer. */
  stateFileBytes: number;
}

export function benchRoutes(count: number, group: string = GROUP): Route[] {
  return Array.from({ length: count }, (_, i) => ({ source: sourceAt(i), group, iif: IIF, oifs: [...OIFS], oifTtl: {}, table: 0 }));
}

/**
 * One ApplyRoutes of `routes` (prepared before the clock), timed on the client from the call to
 * the decoded response — which mfcd sends only once the kernel holds the routes and the state
 * file is fdatasynced. `expect` is what the response must say; the kernel is counted afterwards.
 */
export async function applyRoutes(
  m: RunningMfcd,
  ns: BenchNs,
  routes: Route[],
  expect: { added: number; unchanged: number; kernelEntries: number },
): Promise<ApplyRun> {
  const request = { routes };
  const cpu0 = cpuSeconds(m.daemon.pid);
  const client0 = process.cpuUsage();
  const t0 = nowNs();
  const res = await m.client.applyRoutes(request);
  const seconds = (nowNs() - t0) / 1e9;
  const cpu = cpuSeconds(m.daemon.pid) - cpu0;
  const client = process.cpuUsage(client0);
  const mem = memory(m.daemon.pid);
  const kernelEntries = kernelEntryCount(ns);
  const got = `added ${res.added}, removed ${res.removed}, replaced ${res.replaced}, unchanged ${res.unchanged}`;
  if (res.added !== expect.added || res.unchanged !== expect.unchanged || res.removed !== 0 || res.replaced !== 0) {
    throw new Error(`ApplyRoutes of ${routes.length}: ${got}; expected added ${expect.added}, unchanged ${expect.unchanged}`);
  }
  if (kernelEntries !== expect.kernelEntries) {
    throw new Error(`kernel holds ${kernelEntries} entries after ApplyRoutes (${got}), expected ${expect.kernelEntries}`);
  }
  const n = routes.length;
  return {
    routes: n,
    added: res.added,
    unchanged: res.unchanged,
    seconds,
    routesPerSec: n / seconds,
    serverCpuUsPerRoute: (cpu * 1e6) / n,
    clientCpuUsPerRoute: (client.user + client.system) / n,
    requestBytes: ApplyRoutesRequest.encode(ApplyRoutesRequest.fromPartial(request)).finish().length,
    responseBytes: ApplyRoutesResponse.encode(res).finish().length,
    kernelEntries,
    rssKiB: mem.rssKiB,
    hwmKiB: mem.hwmKiB,
    stateFileBytes: fs.statSync(m.stateFile).size,
  };
}

/**
 * JIT warm-up of the ApplyRoutes path (client and server) under another owner and group:
 * apply `count`, re-apply them, then remove them all, leaving the table empty.
 */
export async function warmUpApply(m: RunningMfcd, count: number): Promise<void> {
  const owner = "bench-warmup";
  const routes = benchRoutes(count, "239.9.9.9");
  await m.client.applyRoutes({ routes, owner });
  await m.client.applyRoutes({ routes, owner });
  await m.client.applyRoutes({ routes: [], owner, allowEmpty: true });
}

export interface StartRun {
  /** Routes in the state file, restored before SERVING. */
  routes: number;
  runs: number;
  /** Spawn (`ip netns exec … node mfcd`) to the first health SERVING answer, ms. */
  spawnToServingMs: LatencySummary;
  /** Kernel entries counted right after each SERVING (all must be `routes`). */
  kernelEntriesAtServing: number[];
  /** mfcd VmRSS right after SERVING (last run), KiB. */
  rssKiB: number;
  /** mfcd's CPU time (all threads) when it answered SERVING, ms: less noisy than wall time on a shared machine. */
  cpuAtServingMs: LatencySummary;
}

/**
 * `runs` × (spawn mfcd with `stateFile`, or a fresh empty one, wait for SERVING polling every
 * 2 ms, count the kernel's entries at once, SIGKILL). With `stateFile`, every start restores
 * the same `expected` routes (a SIGKILLed mfcd leaves the file as it was).
 */
export async function startupTimes(
  ns: BenchNs,
  entry: MfcdEntry,
  runs: number,
  expected: number,
  opts: { stateFile?: string; nodeFlags?: string[]; after?: "kill" | "term" } = {},
): Promise<StartRun> {
  const ms: number[] = [];
  const counts: number[] = [];
  const cpuMs: number[] = [];
  let rssKiB = 0;
  // kill -9 leaves the routes in the kernel (static): the next start adopts them. SIGTERM
  // removes them: the next start writes every route again, as every restart did before.
  const after = opts.after ?? "kill";
  for (let i = 0; i < runs; i++) {
    const before = kernelEntryCount(ns);
    const left = after === "kill" ? expected : 0;
    if (before !== left) throw new Error(`kernel holds ${before} entries before an mfcd start, expected ${left}`);
    const m = await startMfcd(ns, entry, {
      pollMs: 2,
      ...(opts.stateFile === undefined ? {} : { stateFile: opts.stateFile }),
      ...(opts.nodeFlags === undefined ? {} : { nodeFlags: opts.nodeFlags }),
    });
    try {
      cpuMs.push(cpuSeconds(m.daemon.pid) * 1000);
      const n = kernelEntryCount(ns);
      ms.push(m.startSeconds * 1000);
      counts.push(n);
      rssKiB = memory(m.daemon.pid).rssKiB;
      if (n !== expected) throw new Error(`kernel holds ${n} entries when mfcd answers SERVING, expected ${expected}`);
    } finally {
      // A CPU profile is written only on a clean exit: keep the last one.
      if (after === "term" || (opts.nodeFlags?.length && i === runs - 1)) await m.stop();
      else await m.kill();
    }
  }
  return {
    routes: expected,
    runs,
    spawnToServingMs: summarize(ms),
    kernelEntriesAtServing: counts,
    rssKiB,
    cpuAtServingMs: summarize(cpuMs),
  };
}

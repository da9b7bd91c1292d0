// Runs the real mfcd daemon inside a lab namespace for end-to-end tests: the bin as users run
// it, dist/server/main.js (the esbuild bundle, which global-setup.ts rebuilds from src/ before
// every run), with the node flags of its shebang:
//   ip netns exec NS node FLAGS <repo>/dist/server/main.js --listen unix:<tmp>/mfcd.sock \
//       --state-file <tmp>/mfcd.state
//
// startMfcd() resolves once grpc.health.v1 says SERVING (bounded poll) and hands back an SDK
// client. Every process started here is SIGKILLed when the test process exits (and deleting the
// lab's namespace kills it too); its temporary socket directory is removed by stop().
//
// State file: tests must never write mfcd's default /var/lib/mfcd, so unless the caller passes
// `--state-file` in `args` (or `stateFile`), mfcd keeps its routes in `mfcd.state` next to its
// socket. To restart "the same" daemon (kill -9, then start again with its state), reuse the
// paths: `const socketPath = tempSocketPath()` and pass `{ socketPath }` to each start (the state
// file follows the socket's directory, which only the exit hook removes), or pass
// `stateFile: previous.statePath`.

import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseIpMrCache, parseIpMrVif, type ProcMfcEntry, type ProcVif } from "../../src/kernel/mroute/proc-mroute.js";
import { createMfcClient, type MfcClient } from "../../src/sdk/index.js";
import { readMrCache, readMrVif } from "./kernel-view.js";
import { onProcessExit } from "./netns.js";
import { bound } from "./time-bounds.js";
import { settle } from "./traffic.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Repository root (independent of the working directory). */
export const REPO_ROOT = path.resolve(HERE, "../..");
export const MFCD_MAIN = path.join(REPO_ROOT, "dist/server/main.js");
/** `#!/usr/bin/env -S node FLAGS`: the flags the installed bin runs with. */
const MFCD_NODE_FLAGS = (/^#!\S*env -S node(.*)$/.exec(fs.readFileSync(MFCD_MAIN, "utf8").split("\n", 1)[0] ?? "")?.[1] ?? "")
  .trim()
  .split(/\s+/)
  .filter(Boolean);
const MAX_STDERR = 256 * 1024;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnMfcdOptions {
  /** Extra command-line arguments, after `--listen` (and `--state-file`, if the helper adds it). */
  args?: string[];
  /** Socket path to listen on (default: a fresh `mfcd.sock` in a new temporary directory). */
  socketPath?: string;
  /**
   * State file for `--state-file` (default: `mfcd.state` in the socket's directory). Ignored when
   * `args` already contains `--state-file`. `null` passes no `--state-file` at all, so mfcd uses
   * its own default; that is only allowed with `env.STATE_DIRECTORY` set (a temporary directory),
   * because tests must never write /var/lib/mfcd.
   */
  stateFile?: string | null;
  /** Environment of the daemon (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** A command that execs the rest, inside the namespace (e.g. setpriv dropping root). */
  wrapper?: string[];
  /** The bin to run instead of dist/server/main.js (e.g. a copy an unprivileged user can read). */
  main?: string;
  /** Descriptors of this process to pass as the daemon's fds 3, 4, … (systemd's LISTEN_FDS layout). */
  passFds?: number[];
}

export interface StartMfcdOptions extends SpawnMfcdOptions {
  /** Give up waiting for SERVING after this long (default 20 s; scaled by bound()). */
  readyTimeoutMs?: number;
}

/** A spawned mfcd that may or may not come up (see startMfcd for one that did). */
export interface SpawnedMfcd {
  readonly ns: string;
  readonly socketPath: string;
  /**
   * The state file mfcd was told to use (`--state-file`), or undefined for `--state-file none`
   * and for mfcd's own default (`stateFile: null`).
   */
  readonly statePath: string | undefined;
  readonly proc: ChildProcess;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** The exit status, or a rejection (quoting stderr) if it still runs after `ms` (default 20 s; scaled by bound()). */
  exitWithin(ms?: number): Promise<ExitStatus>;
  /** Everything the daemon wrote on stderr so far (its JSON log lines). */
  stderr(): string;
  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after killAfterMs (10 s; scaled by bound()). */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<ExitStatus>;
}

export interface MfcdProcess extends SpawnedMfcd {
  /** SDK client connected to socketPath (closed by stop()). */
  readonly client: MfcClient;
}

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let hookInstalled = false;

function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  onProcessExit(() => {
    for (const child of live) child.kill("SIGKILL");
    live.clear();
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
    tempDirs.clear();
  });
}

/** A fresh temporary directory for a socket; removed at process exit (or by removeSocketDir). */
export function tempSocketPath(): string {
  installExitHook();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-e2e-"));
  tempDirs.add(dir);
  return path.join(dir, "mfcd.sock");
}

/** A state-file path in a fresh temporary directory; removed at process exit. */
export function tempStatePath(): string {
  return path.join(path.dirname(tempSocketPath()), "mfcd.state");
}

/** The `--state-file` arguments to add (none if `args` has one) and the resulting path. */
function stateArgs(
  socketPath: string,
  opts: SpawnMfcdOptions,
): { extra: string[]; statePath: string | undefined } {
  const args = opts.args ?? [];
  const i = args.findIndex((a) => a === "--state-file" || a.startsWith("--state-file="));
  if (i >= 0) {
    const arg = args[i]!;
    const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[i + 1];
    return { extra: [], statePath: value === undefined || value === "none" ? undefined : path.resolve(REPO_ROOT, value) };
  }
  if (opts.stateFile === null) {
    if (!opts.env?.STATE_DIRECTORY) {
      throw new Error("spawnMfcd: stateFile null (mfcd's default path) needs env.STATE_DIRECTORY, never /var/lib/mfcd");
    }
    return { extra: [], statePath: undefined };
  }
  const statePath = path.resolve(opts.stateFile ?? path.join(path.dirname(socketPath), "mfcd.state"));
  return { extra: ["--state-file", statePath], statePath };
}

function removeSocketDir(socketPath: string): void {
  const dir = path.dirname(socketPath);
  if (!tempDirs.delete(dir)) return; // not ours
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Starts mfcd in `ns` without waiting for it to serve (for tests that expect it to fail). */
export function spawnMfcd(ns: string, opts: SpawnMfcdOptions = {}): SpawnedMfcd {
  installExitHook();
  const ownDir = opts.socketPath === undefined;
  const socketPath = opts.socketPath ?? tempSocketPath();
  const { extra, statePath } = stateArgs(socketPath, opts);
  const argv = [
    "netns",
    "exec",
    ns,
    ...(opts.wrapper ?? []),
    process.execPath,
    ...MFCD_NODE_FLAGS,
    opts.main ?? MFCD_MAIN,
    "--listen",
    `unix:${socketPath}`,
    ...extra,
    ...(opts.args ?? []),
  ];
  // `ip netns exec` execs the command, so proc.pid is node itself and signals reach it.
  const proc = spawn("ip", argv, {
    cwd: REPO_ROOT,
    stdio: ["ignore", "ignore", "pipe", ...(opts.passFds ?? [])],
    ...(opts.env === undefined ? {} : { env: opts.env }),
  });
  live.add(proc);
  let err = "";
  proc.stderr?.setEncoding("utf8");
  proc.stderr?.on("data", (d: string) => {
    if (err.length < MAX_STDERR) err += d;
  });
  const exited = new Promise<ExitStatus>((resolve) => {
    proc.once("error", (e) => {
      err += `spawn failed: ${e.message}\n`;
      live.delete(proc);
      resolve({ code: null, signal: null });
    });
    proc.once("close", (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
  });

  let stopP: Promise<ExitStatus> | undefined;
  return {
    ns,
    socketPath,
    statePath,
    proc,
    exited,
    stderr: () => err,
    async exitWithin(unscaledMs = 20_000) {
      const ms = bound(unscaledMs);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`mfcd in ${ns} still running after ${ms} ms: ${err.trim() || "(no stderr)"}`)),
          ms,
        );
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    stop(signal: NodeJS.Signals = "SIGTERM", killAfterMs = 10_000) {
      stopP ??= (async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
        const timer = setTimeout(() => proc.kill("SIGKILL"), bound(killAfterMs));
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
          if (ownDir) removeSocketDir(socketPath);
        }
      })();
      return stopP;
    },
  };
}

/**
 * Starts mfcd in `ns` and resolves once its health check says SERVING. Rejects (after killing
 * the process) if it exits first or is not serving within readyTimeoutMs, quoting its stderr.
 */
export async function startMfcd(ns: string, opts: StartMfcdOptions = {}): Promise<MfcdProcess> {
  const spawned = spawnMfcd(ns, opts);
  const client = createMfcClient(`unix:${spawned.socketPath}`, { deadlineMs: bound(5000) });
  const timeoutMs = bound(opts.readyTimeoutMs ?? 20_000);
  const deadline = Date.now() + timeoutMs;
  let exitedEarly: ExitStatus | undefined;
  void spawned.exited.then((s) => (exitedEarly = s));
  let lastError = "";
  try {
    for (;;) {
      if (exitedEarly) {
        throw new Error(
          `mfcd in ${ns} exited before serving (code ${String(exitedEarly.code)}, signal ` +
            `${String(exitedEarly.signal)}): ${spawned.stderr().trim() || "(no stderr)"}`,
        );
      }
      if (fs.existsSync(spawned.socketPath)) {
        try {
          const status = await withDeadline(client.health(), bound(1000));
          if (status === "SERVING") break;
          lastError = `health ${status}`;
        } catch (err) {
          lastError = err instanceof Error ? err.message : String(err);
        }
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `mfcd in ${ns} not SERVING within ${timeoutMs} ms (${lastError || "no socket yet"}): ` +
            (spawned.stderr().trim() || "(no stderr)"),
        );
      }
      await settle(50);
    }
  } catch (err) {
    client.close();
    await spawned.stop("SIGKILL");
    throw err;
  }

  const stopSpawned = spawned.stop.bind(spawned);
  return Object.assign(spawned, {
    client,
    stop(signal: NodeJS.Signals = "SIGTERM", killAfterMs = 10_000) {
      const p = stopSpawned(signal, killAfterMs);
      // Close the client only after the exit, so a test can watch its streams end.
      return p.finally(() => client.close());
    },
  });
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Conveniences for end-to-end tests against a running mfcd.

/** Resolved rows of /proc/net/ip_mr_cache in `ns` (unresolved upcall queues left out). */
export async function kernelRoutes(ns: string): Promise<ProcMfcEntry[]> {
  return parseIpMrCache(await readMrCache(ns)).filter((e) => !e.unresolved);
}

/** The resolved kernel entry for (source, group) in `ns`, if any. */
export async function kernelRoute(ns: string, source: string, group: string): Promise<ProcMfcEntry | undefined> {
  return (await kernelRoutes(ns)).find((e) => e.source === source && e.group === group);
}

/** Rows of /proc/net/ip_mr_vif in `ns`. */
export async function kernelVifs(ns: string): Promise<ProcVif[]> {
  return parseIpMrVif(await readMrVif(ns));
}

/** A route as plain names, comparable across ListRoutes, the kernel table and the state file. */
export interface RouteTuple {
  source: string;
  group: string;
  iif: string;
  /** Sorted. */
  oifs: string[];
}

/** Route-like objects as RouteTuples, oifs sorted, the list sorted by (source, group). */
export function routeTuples(
  routes: readonly { source: string; group: string; iif: string; oifs: readonly string[] }[],
): RouteTuple[] {
  return routes
    .map((r) => ({ source: r.source, group: r.group, iif: r.iif, oifs: [...r.oifs].sort() }))
    .sort((a, b) => (a.source === b.source ? cmp(a.group, b.group) : cmp(a.source, b.source)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The resolved entries of /proc/net/ip_mr_cache in `ns` with VIF indexes turned into interface
 * names through /proc/net/ip_mr_vif (read right after; the daemon should be idle). A VIF index
 * the VIF table does not hold shows as `vif<N>`, so a stale slot never looks like a real match.
 */
export async function kernelRouteTuples(ns: string): Promise<RouteTuple[]> {
  const entries = await kernelRoutes(ns);
  const names = new Map((await kernelVifs(ns)).map((v) => [v.vif, v.name]));
  const name = (vif: number) => names.get(vif) ?? `vif${vif}`;
  return routeTuples(
    entries.map((e) => ({ source: e.source, group: e.group, iif: name(e.parent), oifs: [...e.oifs.keys()].map(name) })),
  );
}

/** ListRoutes as RouteTuples (see routeTuples). */
export async function listedRouteTuples(client: MfcClient): Promise<RouteTuple[]> {
  const { routes } = await client.listRoutes({});
  return routeTuples(routes.flatMap((r) => (r.route ? [r.route] : [])));
}

/** Deletes every route mfcd reports (test cleanup between cases sharing one daemon). */
export async function deleteAllRoutes(client: MfcClient): Promise<void> {
  const { routes } = await client.listRoutes({});
  for (const r of routes) {
    if (r.route) await client.delRoute({ source: r.route.source, group: r.route.group });
  }
}

/** Things with an idempotent stop() (receivers, streams, daemons) to stop at the end of a test. */
export class StopList {
  private readonly items: { stop(): Promise<unknown> }[] = [];

  add<T extends { stop(): Promise<unknown> }>(item: T): T {
    this.items.push(item);
    return item;
  }

  /** Stops everything added so far (errors are ignored: the test has failed or is over). */
  async stopAll(): Promise<void> {
    await Promise.allSettled(this.items.splice(0).map((i) => i.stop()));
  }
}

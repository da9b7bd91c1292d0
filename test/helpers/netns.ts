// Low-level network-namespace helpers for the kernel test lab.
//
// Every namespace made here is named `mfct-<pid>-<counter>-<role>`, so that
//  - other users of namespaces on the machine (other test runs, other tools) are never touched,
//  - a namespace left behind by a process that died (SIGKILL, OOM) can be recognised and swept
//    by `sweepStaleNamespaces()` (called from the vitest globalSetup), and
//  - this process deletes its own namespaces on exit, SIGINT, SIGTERM and SIGHUP.
//
// Namespace names are files under /run/netns (no 15-byte limit); interface names are per
// namespace, so the lab can use short fixed names inside them.

import { execFile, spawnSync } from "node:child_process";
import fs from "node:fs";
import { isMainThread, threadId } from "node:worker_threads";
import { bound } from "./time-bounds.js";

export const NS_PREFIX = "mfct-";
const NETNS_DIR = "/run/netns";
const STALE_RE = /^mfct-(\d+)-/;

// Shared through globalThis so that a second evaluation of this module in the same realm (vitest
// module isolation without a new process) neither reuses names nor loses track of namespaces.
interface Registry {
  counter: number;
  owned: Set<string>;
  exitCallbacks: Set<() => void>;
  hooksInstalled: boolean;
}
const REGISTRY_KEY = Symbol.for("mfcd.test.netns.registry");
const registry: Registry = ((globalThis as Record<symbol, unknown>)[REGISTRY_KEY] as
  | Registry
  | undefined) ?? {
  counter: 0,
  owned: new Set<string>(),
  exitCallbacks: new Set<() => void>(),
  hooksInstalled: false,
};
(globalThis as Record<symbol, unknown>)[REGISTRY_KEY] = registry;

/**
 * A fresh namespace name `mfct-<pid>-<counter>-<role>`. `role` is a short tag such as "src",
 * "router" or "rcv1" ([A-Za-z0-9_], at most 16 characters). Names already present in
 * /run/netns are skipped.
 */
export function uniqueName(role: string): string {
  if (!/^[A-Za-z0-9_]{1,16}$/.test(role)) {
    throw new Error(`uniqueName: role must be 1-16 characters [A-Za-z0-9_], got ${JSON.stringify(role)}`);
  }
  // Worker threads share the pid: give their counters a thread tag to keep names distinct.
  const tag = threadId === 0 ? "" : `t${threadId}n`;
  for (;;) {
    registry.counter += 1;
    const name = `${NS_PREFIX}${process.pid}-${tag}${registry.counter}-${role}`;
    if (!fs.existsSync(`${NETNS_DIR}/${name}`)) return name;
  }
}

export interface RunOptions {
  /** Written to the child's stdin (then closed). */
  input?: string;
  /** Kill the command after this long (default 30 s; scaled by bound(), see time-bounds.ts). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Error from a failed command; `stderr` holds what the command printed. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly stderr: string,
    readonly stdout: string,
    readonly exitCode: number | null,
  ) {
    super(message);
    this.name = "CommandError";
  }
}

/** Runs a command (no shell); resolves with stdout, rejects with a CommandError carrying stderr. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error("run: empty argv"));
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
        timeout: bound(opts.timeoutMs ?? 30_000),
        killSignal: "SIGKILL",
        env: opts.env ?? process.env,
      },
      (err, stdout, stderr) => {
        if (err) {
          const code = typeof err.code === "number" ? err.code : null;
          const why = err.killed ? "timed out" : code !== null ? `exit ${code}` : err.message;
          const detail = stderr.trim() || err.message;
          reject(new CommandError(`${argv.join(" ")}: ${why}: ${detail}`, argv, stderr, stdout, code));
          return;
        }
        resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** `ip [-n ns] args...`; `-n` only switches the network namespace (cheaper than `netns exec`). */
export function ip(args: readonly string[], ns?: string): Promise<string> {
  return run(ns === undefined ? ["ip", ...args] : ["ip", "-n", ns, ...args]);
}

/** Runs several `ip` commands (one per line, without the leading `ip`) in one process. */
export async function ipBatch(lines: readonly string[], ns?: string): Promise<void> {
  if (lines.length === 0) return;
  const argv = ns === undefined ? ["ip", "-batch", "-"] : ["ip", "-n", ns, "-batch", "-"];
  await run(argv, { input: lines.join("\n") + "\n" });
}

/** Runs argv inside namespace `ns` (`ip netns exec`). Resolves with stdout; rejects with stderr. */
export function execIn(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  if (argv.length === 0) return Promise.reject(new Error("execIn: empty argv"));
  return run(["ip", "netns", "exec", ns, ...argv], opts);
}

/** Creates a namespace and records it for deletion at process exit. */
export async function addNetns(name: string): Promise<void> {
  installExitHooks();
  await run(["ip", "netns", "add", name]);
  registry.owned.add(name);
}

/** Names of all namespaces in /run/netns (any owner). */
export function listNetns(): string[] {
  try {
    return fs.readdirSync(NETNS_DIR).sort();
  } catch {
    return [];
  }
}

export function netnsExists(name: string): boolean {
  return fs.existsSync(`${NETNS_DIR}/${name}`);
}

/** Namespaces created by this process (through addNetns) and not yet deleted. */
export function ownedNamespaces(): string[] {
  return [...registry.owned];
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

export interface DelNetnsOptions {
  /**
   * SIGKILL processes still inside the namespace first (default true): a process keeps the
   * namespace, and with it its veth ends, alive after the name is gone.
   */
  killProcesses?: boolean;
}

/** Deletes a namespace. Never throws when it does not exist. */
export async function delNetns(name: string, opts: DelNetnsOptions = {}): Promise<void> {
  registry.owned.delete(name);
  if (!netnsExists(name)) return;
  if (opts.killProcesses ?? true) {
    try {
      killPids(parsePids(await run(["ip", "netns", "pids", name])));
    } catch {
      // Namespace vanished meanwhile, or nothing to kill.
    }
  }
  try {
    await run(["ip", "netns", "del", name]);
  } catch (err) {
    if (!netnsExists(name)) return; // removed concurrently: fine
    throw err;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface SweepOptions {
  /**
   * Also delete namespaces named with this process's own pid (default false). For a vitest
   * globalSetup teardown: worker *threads* share the main pid and are gone by then, but are
   * stopped without running their exit hooks.
   */
  includeThisProcess?: boolean;
}

/**
 * Deletes `mfct-<pid>-*` namespaces whose pid is no longer alive (left behind by a test process
 * that was killed). Returns the names deleted. Namespaces of live processes are left alone.
 */
export async function sweepStaleNamespaces(opts: SweepOptions = {}): Promise<string[]> {
  const swept: string[] = [];
  for (const name of listNetns()) {
    const m = STALE_RE.exec(name);
    if (!m?.[1]) continue;
    const pid = Number(m[1]);
    if (pid === process.pid ? !opts.includeThisProcess : pidAlive(pid)) continue;
    await delNetns(name);
    swept.push(name);
  }
  return swept;
}

/**
 * Registers a synchronous callback run when this process exits (normally, by process.exit, or
 * on SIGINT/SIGTERM/SIGHUP), before its namespaces are deleted. Returns an unregister function.
 */
export function onProcessExit(fn: () => void): () => void {
  installExitHooks();
  registry.exitCallbacks.add(fn);
  return () => {
    registry.exitCallbacks.delete(fn);
  };
}

/** Synchronous cleanup: exit callbacks, then every namespace this process still owns. */
export function cleanupAllSync(): void {
  for (const fn of [...registry.exitCallbacks]) {
    registry.exitCallbacks.delete(fn);
    try {
      fn();
    } catch {
      // Keep going: the namespaces matter more.
    }
  }
  const names = [...registry.owned];
  registry.owned.clear();
  if (names.length === 0) return;
  for (const name of names) {
    const r = spawnSync("ip", ["netns", "pids", name], { encoding: "utf8" });
    if (r.status === 0) killPids(parsePids(r.stdout));
  }
  spawnSync("ip", ["-force", "-batch", "-"], {
    input: names.map((n) => `netns del ${n}`).join("\n") + "\n",
    stdio: ["pipe", "ignore", "ignore"],
  });
}

const SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

function installExitHooks(): void {
  if (registry.hooksInstalled) return;
  registry.hooksInstalled = true;
  process.on("exit", cleanupAllSync);
  // Signal listeners are not supported in worker threads; their exit event still fires.
  if (!isMainThread) return;
  for (const sig of SIGNALS) {
    const handler = (): void => {
      cleanupAllSync();
      process.removeListener(sig, handler);
      // Keep the default action (terminate) unless someone else handles this signal too.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

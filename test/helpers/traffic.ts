// Multicast traffic inside lab namespaces: TypeScript wrappers around mcast-send.mjs and
// mcast-recv.mjs (run with `ip netns exec NS node ...`), plus polling helpers so tests assert
// outcomes (a receiver got N datagrams) rather than timings.
//
// Every child is tracked and SIGKILLed when this process exits; receivers and streams also end
// by themselves when their stdin (a pipe from this process) closes.

import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { onProcessExit } from "./netns.js";
import { bound, IN_UML_GUEST } from "./time-bounds.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SEND_SCRIPT = path.join(HERE, "mcast-send.mjs");
export const RECV_SCRIPT = path.join(HERE, "mcast-recv.mjs");

// ---------------------------------------------------------------------------------------------
// Polling

export interface WaitForOptions {
  /**
   * Give up after this long (default 10 s). Like every bound in the helpers, it is scaled for
   * this machine (time-bounds.ts: ×10 in a user-mode Linux guest): only a broken test waits it out.
   */
  timeoutMs?: number;
  /** Pause between polls (default 25 ms; 100 ms in a user-mode Linux guest). */
  intervalMs?: number;
  /** Added to the timeout error, or computed when the timeout hits. */
  message?: string | (() => string);
}

export function settle(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `predicate` until it returns a truthy value (which is returned) or the timeout passes
 * (then rejects). Errors thrown by the predicate propagate at once.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  opts: WaitForOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = bound(opts.timeoutMs ?? 10_000);
  // Polls cost CPU (a gRPC call, a /proc read): in a single-CPU guest poll less often.
  const intervalMs = opts.intervalMs ?? (IN_UML_GUEST ? 100 : 25);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await predicate();
    if (v) return v as Exclude<T, undefined | null | false>;
    if (Date.now() >= deadline) {
      const m = typeof opts.message === "function" ? opts.message() : opts.message;
      throw new Error(`waitFor: condition not met within ${timeoutMs} ms${m ? `: ${m}` : ""}`);
    }
    await settle(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes

const live = new Set<ChildProcess>();
let exitHookRegistered = false;

function track(child: ChildProcess): void {
  if (!exitHookRegistered) {
    exitHookRegistered = true;
    onProcessExit(() => {
      for (const c of live) c.kill("SIGKILL");
      live.clear();
    });
  }
  live.add(child);
  child.once("exit", () => live.delete(child));
}

interface Script {
  child: ChildProcess;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  exited: Promise<number | string>;
  lines: string[];
  stderr(): string;
  onLine(fn: (line: string) => void): void;
}

function startScript(ns: string, script: string, args: string[]): Script {
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, script, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  track(child);
  const lines: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  let err = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    if (err.length < 64 * 1024) err += d;
  });
  child.stdin?.on("error", () => undefined); // EPIPE when the child is already gone
  const rl = createInterface({ input: child.stdout! });
  rl.on("line", (line) => {
    lines.push(line);
    for (const fn of listeners) fn(line);
  });
  const stdoutClosed = new Promise<void>((resolve) => rl.once("close", resolve));
  const exited = new Promise<number | string>((resolve) => {
    child.once("error", (e) => {
      err += `spawn failed: ${e.message}`;
      resolve("spawn-error");
    });
    child.once("close", (code, signal) => resolve(code ?? signal ?? "unknown"));
  }).then(async (v) => {
    await stdoutClosed;
    return v;
  });
  return {
    child,
    exited,
    lines,
    stderr: () => err.trim(),
    onLine: (fn) => listeners.push(fn),
  };
}

function lastJson<T>(lines: readonly string[]): T | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (l.startsWith("{")) return JSON.parse(l) as T;
  }
  return undefined;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve(TIMEOUT), ms);
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
const TIMEOUT = Symbol("timeout");

/** SIGTERM, then SIGKILL after graceMs; resolves with the exit status. */
async function terminate(s: Script, graceMs: number): Promise<{ status: number | string; killed: boolean }> {
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGTERM");
  const status = await withTimeout(s.exited, graceMs);
  if (status !== TIMEOUT) return { status, killed: false };
  s.child.kill("SIGKILL");
  return { status: await s.exited, killed: true };
}

// ---------------------------------------------------------------------------------------------
// Receiver

export interface ReceiverOptions {
  group: string;
  port: number;
  /** IPv4: address of the interface to join on. */
  ifaceAddr?: string;
  /** IPv6: name of the interface to join on (by index; no address needed). */
  iface?: string;
  /** Join (source, group) only (IGMPv3 source-specific membership). */
  source?: string;
  /** Reject if the receiver is not joined within this time (default 10 s, scaled by bound()). */
  readyTimeoutMs?: number;
}

export interface ReceiveResult {
  count: number;
  seqs: number[];
  from: string[];
}

export interface Receiver {
  readonly ns: string;
  readonly pid: number | undefined;
  /** Datagrams received so far (as last reported by the receiver, ≤ 25 ms old). */
  readonly count: number;
  /** Polls until at least n datagrams arrived; returns the count. */
  waitForCount(n: number, opts?: WaitForOptions): Promise<number>;
  /** Stops the receiver (SIGTERM, SIGKILL if it hangs) and returns what it got. Idempotent. */
  stop(): Promise<ReceiveResult>;
}

/** Starts a receiver in namespace `ns`; resolves once it has joined the group (READY). */
export async function startReceiver(ns: string, opts: ReceiverOptions): Promise<Receiver> {
  const args = ["--group", opts.group, "--port", String(opts.port)];
  if (opts.ifaceAddr !== undefined) args.push("--iface-addr", opts.ifaceAddr);
  if (opts.iface !== undefined) args.push("--iface", opts.iface);
  if (opts.source !== undefined) args.push("--source", opts.source);
  const s = startScript(ns, RECV_SCRIPT, args);
  let count = 0;
  let ready = false;
  const readyP = new Promise<void>((resolve) => {
    s.onLine((line) => {
      if (line === "READY") {
        ready = true;
        resolve();
      } else if (line.startsWith("COUNT ")) {
        count = Number(line.slice(6));
      }
    });
  });
  const readyTimeoutMs = bound(opts.readyTimeoutMs ?? 10_000);
  const first = await withTimeout(Promise.race([readyP, s.exited]), readyTimeoutMs);
  if (!ready) {
    await terminate(s, bound(1000));
    const why = first === TIMEOUT ? `not ready within ${readyTimeoutMs} ms` : `exited (${String(first)})`;
    throw new Error(`receiver in ${ns} ${why}: ${s.stderr() || "(no stderr)"}`);
  }

  let stopP: Promise<ReceiveResult> | undefined;
  const desc = `receiver ${opts.source ?? "*"},${opts.group}:${opts.port} on ${opts.ifaceAddr ?? opts.iface} in ${ns}`;
  return {
    ns,
    pid: s.child.pid,
    get count() {
      return count;
    },
    async waitForCount(n, wopts = {}) {
      return waitFor(
        () => {
          if (count >= n) return count;
          if (s.child.exitCode !== null || s.child.signalCode !== null) {
            throw new Error(`${desc} exited early: ${s.stderr() || "(no stderr)"}`);
          }
          return 0;
        },
        { message: () => `${desc} has ${count} of ${n} datagrams`, ...wopts },
      );
    },
    stop() {
      stopP ??= (async () => {
        const { status, killed } = await terminate(s, bound(5000));
        const result = lastJson<ReceiveResult>(s.lines);
        if (killed || status !== 0 || result === undefined) {
          throw new Error(
            `${desc} ended badly (${killed ? "SIGKILLed after SIGTERM" : `status ${String(status)}`}): ` +
              (s.stderr() || "(no stderr)"),
          );
        }
        return result;
      })();
      return stopP;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Sender

export interface SendOptions {
  group: string;
  port: number;
  /** Multicast TTL (IPv6: hop limit); 1 is never forwarded by a router (use for negative tests). */
  ttl: number;
  /** Address to bind; IPv4 also sends through its interface (setMulticastInterface). */
  ifaceAddr?: string;
  /** IPv6: interface to send through (required for an IPv6 group). */
  iface?: string;
  /** Gap between datagrams (default 10 ms; 0 = as fast as the sends complete). */
  intervalMs?: number;
  /** Datagram size in bytes, ≥ 8 (default 64). */
  size?: number;
  /** Sequence number of the first datagram (default 0). */
  firstSeq?: number;
}

export interface SendResult {
  sent: number;
  errors: number;
  firstError: string | null;
  elapsedMs: number;
}

function sendArgs(opts: SendOptions): string[] {
  const args = ["--group", opts.group, "--port", String(opts.port), "--ttl", String(opts.ttl)];
  if (opts.ifaceAddr !== undefined) args.push("--iface-addr", opts.ifaceAddr);
  if (opts.iface !== undefined) args.push("--iface", opts.iface);
  if (opts.intervalMs !== undefined) args.push("--interval-ms", String(opts.intervalMs));
  if (opts.size !== undefined) args.push("--size", String(opts.size));
  if (opts.firstSeq !== undefined) args.push("--first-seq", String(opts.firstSeq));
  return args;
}

async function collectSend(s: Script, what: string): Promise<SendResult> {
  const status = await s.exited;
  const summary = lastJson<SendResult>(s.lines);
  if (status !== 0 || summary === undefined) {
    throw new Error(`${what} failed (status ${String(status)}): ${s.stderr() || "(no stderr)"}`);
  }
  return {
    sent: summary.sent,
    errors: summary.errors,
    firstError: summary.firstError,
    elapsedMs: summary.elapsedMs,
  };
}

/** Sends `count` datagrams from namespace `ns` and resolves when the sender has finished. */
export async function sendMulticast(
  ns: string,
  opts: SendOptions & { count: number; timeoutMs?: number },
): Promise<SendResult> {
  const s = startScript(ns, SEND_SCRIPT, [...sendArgs(opts), "--count", String(opts.count)]);
  const timeoutMs = bound(opts.timeoutMs ?? opts.count * (opts.intervalMs ?? 10) + 15_000);
  const status = await withTimeout(s.exited, timeoutMs);
  if (status === TIMEOUT) {
    await terminate(s, bound(1000));
    throw new Error(`sender in ${ns} did not finish within ${timeoutMs} ms: ${s.stderr()}`);
  }
  return collectSend(s, `sender in ${ns}`);
}

export interface StreamOptions extends SendOptions {
  /** End by itself after this long (default 60 s). */
  durationMs?: number;
  /**
   * Slow start: one datagram every startIntervalMs until fullRate() is called, then every
   * intervalMs. For a flow the router learns from its first packet: while the kernel waits for
   * the daemon to resolve an (S,G) it queues at most 4 of its packets and drops the rest, so
   * sending slowly until the first delivery keeps "nothing lost" meaningful on a slow machine.
   */
  startIntervalMs?: number;
}

export interface Stream {
  readonly pid: number | undefined;
  /** With startIntervalMs: switch to intervalMs now. Idempotent; a no-op otherwise. */
  fullRate(): void;
  /** Resolves when the stream ends by itself (duration over) or after stop(). */
  readonly done: Promise<SendResult>;
  /** Ends the stream now and returns its summary. Idempotent. */
  stop(): Promise<SendResult>;
}

/**
 * Starts a steady stream (one datagram every intervalMs) from namespace `ns`; resolves once
 * the sender's socket is set up. The stream ends by itself after durationMs (default 60 s),
 * on stop(), or when this process exits.
 */
export async function startStream(ns: string, opts: StreamOptions): Promise<Stream> {
  const durationMs = opts.durationMs ?? 60_000;
  const s = startScript(ns, SEND_SCRIPT, [
    ...sendArgs(opts),
    "--duration-ms",
    String(durationMs),
    "--stop-on-stdin-end",
    ...(opts.startIntervalMs === undefined ? [] : ["--start-interval-ms", String(opts.startIntervalMs)]),
  ]);
  const started = new Promise<void>((resolve) => {
    s.onLine((line) => {
      if (line === "STARTED") resolve();
    });
  });
  const first = await withTimeout(Promise.race([started, s.exited.then(() => "exited" as const)]), bound(10_000));
  if (first !== undefined) {
    await terminate(s, bound(1000));
    throw new Error(`stream in ${ns} did not start (${String(first)}): ${s.stderr() || "(no stderr)"}`);
  }
  const done = collectSend(s, `stream in ${ns}`);
  done.catch(() => undefined); // observed through stop() / done by the caller
  let stopP: Promise<SendResult> | undefined;
  let full = opts.startIntervalMs === undefined;
  return {
    pid: s.child.pid,
    done,
    fullRate() {
      if (full) return;
      full = true;
      s.child.stdin?.write("FULL\n");
    },
    stop() {
      stopP ??= (async () => {
        const { killed } = await terminate(s, bound(5000));
        if (killed) throw new Error(`stream in ${ns} ignored SIGTERM: ${s.stderr()}`);
        return done;
      })();
      return stopP;
    },
  };
}

// Packet tracing for the Trace RPC: which nftables chains and rules one flow's packets pass
// through, hook by hook. A small table of its own marks the flow with `meta nftrace set 1` on its
// iif (rate-limited) and hooks an empty base chain on prerouting, input, forward and postrouting so
// every hop shows up even when nothing else filters; `nft monitor` prints the kernel's trace
// events, which are parsed, labelled with their hook and filtered down to our flow.
//
// Why `nft -a monitor` and not `nft monitor trace`: the plain monitor also prints ruleset
// changes. That tells us when it is subscribed (it prints our own table being added — there is no
// other way to know, and events before that are lost) and keeps the chain→hook and handle→rule
// index current (nft-ruleset-index.ts: nft itself prints "unknown rule handle" for every rule
// added after it started, our own mark rule included).
//
// Filtering: the kernel gives each packet a trace id, but a forwarded multicast packet is cloned
// per output interface and a clone gets a new id. So an id counts as ours when a "packet:" line
// (the first event of each chain) shows our group and our source or iif; a postrouting line (no
// iif, possibly a rewritten source) keeps an id ours. Ids are reused once an skb is freed, so
// every packet line re-decides.

import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { NftError } from "./nft-error.js";
import { nftIdentifier, nftIfname, nftInt, nftIpv4 } from "./nft-literals.js";
import { nftSpawnError, runNft, runNftSync, spawnNft } from "./nft-run.js";
import { NftRulesetIndex } from "./nft-ruleset-index.js";
import { type NftTraceLine, parseNftTraceLine } from "./nft-trace-line.js";
import { nftResetTable } from "./nft-transaction.js";

export interface NftTraceFlow {
  iif: string;
  source: string;
  group: string;
}

export interface NftTraceOptions extends NftTraceFlow {
  /** Name of the temporary table (default `mfcd_trace_<pid>_<n>`). */
  tableName?: string;
  /** Network namespace file to trace in (tests); default: our own. */
  netns?: string;
  /** Packets per second to mark (default 10; 0 = every packet — beware of busy flows). */
  maxPacketsPerSecond?: number;
  /** Give up when the monitor does not confirm its subscription within this long (default 5 s). */
  startTimeoutMs?: number;
}

export interface NftTraceEvent extends NftTraceLine {
  /** prerouting, input, forward, output, postrouting, ingress …; undefined if unknown. */
  hook?: string;
}

export interface NftTraceEnd {
  /** stopped: stop()/stopSync(); monitor-exited: nft died; callback-failed: onEvent threw. */
  reason: "stopped" | "monitor-exited" | "callback-failed";
  detail?: string;
}

/** Ahead of every usual chain (raw is -300), so all of them see the trace mark. */
export const TRACE_PRIORITY = -1000;
export const TRACE_HOOKS = ["prerouting", "input", "forward", "postrouting"] as const;
const DEFAULT_PPS = 10;
const MAX_TRACKED_IDS = 4096;

let traceCounter = 0;
const liveTraces = new Set<NftTrace>();
let exitHookInstalled = false;

/** The nft file that (re)creates the trace table. Pure. */
export function renderTraceTable(tableName: string, flow: NftTraceFlow, maxPacketsPerSecond = DEFAULT_PPS): string {
  nftIdentifier(tableName);
  const limit =
    maxPacketsPerSecond === 0 ? "" : `limit rate ${nftInt(maxPacketsPerSecond, 1, 1_000_000, "trace rate")}/second `;
  const mark =
    `iifname ${nftIfname(flow.iif)} ip saddr ${nftIpv4(flow.source, "source")} ` +
    `ip daddr ${nftIpv4(flow.group, "group")} ${limit}meta nftrace set 1`;
  const chains = TRACE_HOOKS.map(
    (hook) =>
      `\tchain ${hook} {\n\t\ttype filter hook ${hook} priority ${TRACE_PRIORITY}; policy accept;\n` +
      (hook === "prerouting" ? `\t\t${mark}\n` : "") +
      `\t}\n`,
  );
  return nftResetTable(tableName) + `table ip ${tableName} {\n${chains.join("")}}\n`;
}

export class NftTrace {
  readonly tableName: string;
  readonly netns: string | undefined;
  /** Resolves once the trace has ended, and why. */
  readonly ended: Promise<NftTraceEnd>;

  readonly #flow: NftTraceFlow;
  readonly #onEvent: (event: NftTraceEvent) => void;
  readonly #index = new NftRulesetIndex();
  /** Ids currently ours → hook of the last base chain seen (for jump targets). */
  readonly #ids = new Map<string, string | undefined>();
  #monitor: ChildProcess | undefined;
  #monitorClosed: Promise<void> = Promise.resolve();
  #stderr = "";
  #buffered: string[] | undefined = [];
  #subscribed: (() => void) | undefined;
  #resolveEnded!: (end: NftTraceEnd) => void;
  #ended = false;
  #stopP: Promise<void> | undefined;

  private constructor(opts: NftTraceOptions, onEvent: (event: NftTraceEvent) => void) {
    traceCounter += 1;
    this.tableName = nftIdentifier(opts.tableName ?? `mfcd_trace_${process.pid}_${traceCounter}`);
    this.netns = opts.netns;
    this.#flow = { iif: opts.iif, source: opts.source, group: opts.group };
    this.#onEvent = onEvent;
    this.ended = new Promise((resolve) => (this.#resolveEnded = resolve));
  }

  /**
   * Starts tracing one flow; resolves once the monitor is subscribed and the mark rule is in
   * place. Events arrive on `onEvent` in the order nft prints them. The table and the monitor
   * are removed by stop(), and by stopSync() on process exit if stop() was never called.
   */
  static async start(opts: NftTraceOptions, onEvent: (event: NftTraceEvent) => void): Promise<NftTrace> {
    const trace = new NftTrace(opts, onEvent);
    const text = renderTraceTable(trace.tableName, trace.#flow, opts.maxPacketsPerSecond);
    try {
      await trace.#begin(text, opts.startTimeoutMs ?? 5000);
    } catch (err) {
      await trace.stop().catch(() => undefined);
      throw err;
    }
    return trace;
  }

  /** pid of the `nft monitor` child while it runs (for logs). */
  get monitorPid(): number | undefined {
    return this.#monitor?.pid;
  }

  async #begin(text: string, timeoutMs: number): Promise<void> {
    liveTraces.add(this);
    installExitHook();
    const child = spawnNft(["-a", "monitor"], { netns: this.netns });
    this.#monitor = child;
    child.stdin?.on("error", () => undefined);
    child.stdin?.end();
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      if (this.#stderr.length < 16_384) this.#stderr += d;
    });
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (line) => this.#onLine(line));
    let failed: ((err: Error) => void) | undefined;
    const failure = new Promise<never>((_, reject) => (failed = reject));
    failure.catch(() => undefined);
    this.#monitorClosed = new Promise((resolve) => {
      child.once("error", (err: NodeJS.ErrnoException) => {
        failed?.(nftSpawnError(["monitor"], err));
        if (child.pid === undefined) resolve(); // never started: no "close" will follow
      });
      child.once("close", (code, signal) => {
        failed?.(new NftError(["monitor"], this.#stderr.trim() || `exited (${code ?? signal})`, code));
        this.#onMonitorExit(code, signal);
        resolve();
      });
    });

    // Subscription is not observable except by an event arriving: (re)load the table — an
    // idempotent atomic replace — until the monitor prints it being added.
    const subscribed = new Promise<void>((resolve) => (this.#subscribed = resolve));
    const deadline = Date.now() + timeoutMs;
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      await Promise.race([runNft(["-f", "-"], { input: text, netns: this.netns }), failure]);
      const ok = await Promise.race([subscribed.then(() => true), sleep(wait).then(() => false), failure]);
      if (ok) break;
      if (Date.now() >= deadline) throw new NftError(["monitor"], `no events within ${timeoutMs} ms`, null);
    }
    const ruleset = await Promise.race([runNft(["-a", "list", "ruleset"], { netns: this.netns }), failure]);
    failed = undefined;
    this.#index.load(ruleset);
    const buffered = this.#buffered ?? [];
    this.#buffered = undefined;
    for (const line of buffered) this.#handle(line);
  }

  #onLine(line: string): void {
    if (this.#subscribed !== undefined && line.replace(/ # handle \d+$/, "").trimEnd() === `add table ip ${this.tableName}`) {
      this.#subscribed();
      this.#subscribed = undefined;
    }
    // Until the chain map is loaded, keep everything (ruleset changes too) and replay it in order.
    if (this.#buffered !== undefined) this.#buffered.push(line);
    else this.#handle(line);
  }

  #handle(line: string): void {
    if (this.#ended) return;
    const t = parseNftTraceLine(line);
    if (t === undefined) {
      this.#index.onMonitorLine(line);
      return;
    }
    if (!this.#isOurs(t)) return;
    const known = this.#index.hook(t.family, t.table, t.chain);
    // A regular chain is entered by jump/goto from a base chain: report that chain's hook.
    const hook = known === null || known === undefined ? this.#ids.get(t.id) : known;
    if (typeof known === "string") this.#ids.set(t.id, known);
    const event: NftTraceEvent = hook === undefined ? { ...t } : { ...t, hook };
    if (t.type === "rule" && t.rule === undefined && t.handle !== undefined) {
      const rule = this.#index.rule(t.family, t.table, t.chain, t.handle);
      if (rule !== undefined) event.rule = rule;
    }
    try {
      this.#onEvent(event);
    } catch (err) {
      this.#end({ reason: "callback-failed", detail: String(err) });
      void this.stop().catch(() => undefined);
    }
  }

  #isOurs(t: NftTraceLine): boolean {
    if (t.type !== "packet") return this.#ids.has(t.id);
    const p = t.packet ?? {};
    const { iif, source, group } = this.#flow;
    const was = this.#ids.has(t.id);
    const mine = p.daddr === group && (p.saddr === source || p.iif === iif || (p.iif === undefined && was));
    if (!mine) {
      this.#ids.delete(t.id);
      return false;
    }
    if (!was) {
      this.#ids.set(t.id, undefined);
      if (this.#ids.size > MAX_TRACKED_IDS) this.#ids.delete(this.#ids.keys().next().value!);
    }
    return true;
  }

  #onMonitorExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.#monitor = undefined;
    if (this.#stopP !== undefined || this.#ended) return;
    this.#end({ reason: "monitor-exited", detail: this.#stderr.trim() || `nft monitor exited (${code ?? signal})` });
    void this.stop().catch(() => undefined); // still remove the table
  }

  #end(end: NftTraceEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#resolveEnded(end);
  }

  /** Kills the monitor and removes the table. Idempotent; resolves when both are gone. */
  stop(): Promise<void> {
    this.#stopP ??= (async () => {
      this.#end({ reason: "stopped" });
      liveTraces.delete(this);
      const child = this.#monitor;
      child?.kill("SIGTERM");
      const removed = runNft(["-f", "-"], { input: nftResetTable(this.tableName), netns: this.netns });
      const killTimer = setTimeout(() => child?.kill("SIGKILL"), 2000);
      try {
        await this.#monitorClosed;
      } finally {
        clearTimeout(killTimer);
      }
      await removed;
    })();
    return this.#stopP;
  }

  /** stop() for exit paths: kills the monitor and removes the table synchronously. Never throws. */
  stopSync(): void {
    if (this.#stopP !== undefined) return;
    this.#stopP = Promise.resolve();
    this.#end({ reason: "stopped" });
    liveTraces.delete(this);
    this.#monitor?.kill("SIGKILL");
    try {
      runNftSync(["-f", "-"], { input: nftResetTable(this.tableName), netns: this.netns });
    } catch {
      // Exiting anyway; a leftover table only marks one flow.
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const t of [...liveTraces]) t.stopSync();
  });
}

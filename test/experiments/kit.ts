// Shared pieces of the "multicast debugging lab" experiments (test/experiments/*.test.ts):
//
//  - withRig(): a namespace lab (source → router → receivers) with mfcd running in the router,
//    always torn down (receivers, daemon, namespaces), also when the experiment fails;
//  - nft helpers that run inside a namespace: load a ruleset (or capture why it was refused),
//    read named counters, map chains to their netfilter hooks;
//  - a `nft monitor trace` follower that parses trace events per packet (trace id);
//  - conclude(): prints the experiment's one-line conclusion, "EXPERIMENT: ...".
//
// Every command here runs inside a namespace made by the lab, so nothing touches the host's
// ruleset or sends traffic outside the lab.

import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { netstat } from "../helpers/kernel-view.js";
import { createLab, type Lab, type LabOptions } from "../helpers/lab.js";
import { kernelRoute, startMfcd, StopList, type MfcdProcess } from "../helpers/mfcd-process.js";
import { CommandError, execIn, ip, onProcessExit } from "../helpers/netns.js";
import { bound } from "../helpers/time-bounds.js";
import { sendMulticast, startReceiver, waitFor, type Receiver, type SendResult } from "../helpers/traffic.js";

export const PORT = 5000;
/** Payload bytes of every test datagram. */
export const PAYLOAD = 64;
/** A source address the router has no route back to (added to the sender as a secondary address). */
export const CAMERA = "10.99.0.100";

/** Prints the experiment's conclusion as one line and returns it. */
export function conclude(line: string): string {
  if (line.includes("\n")) throw new Error("conclude: the conclusion must be one line");
  const text = `EXPERIMENT: ${line}`;
  console.log(text);
  return text;
}

// ---------------------------------------------------------------------------------------------
// Lab + mfcd

export interface Rig {
  readonly lab: Lab;
  /** mfcd in the router namespace (undefined with `mfcd: false`). */
  readonly mfcd: MfcdProcess | undefined;
  readonly stops: StopList;
  /** mfcd, or an error if the rig was built without it. */
  daemon(): MfcdProcess;
}

export interface RigOptions extends LabOptions {
  /** Start mfcd in the router (default true). */
  mfcd?: boolean;
}

/** Builds a lab (+ mfcd), runs fn, and always tears everything down. */
export async function withRig<T>(opts: RigOptions, fn: (rig: Rig) => Promise<T>): Promise<T> {
  const lab = await createLab(opts);
  const stops = new StopList();
  let mfcd: MfcdProcess | undefined;
  try {
    if (opts.mfcd ?? true) mfcd = await startMfcd(lab.router);
    const rig: Rig = {
      lab,
      mfcd,
      stops,
      daemon() {
        if (mfcd === undefined) throw new Error("this rig runs no mfcd");
        return mfcd;
      },
    };
    return await fn(rig);
  } finally {
    await stops.stopAll();
    await mfcd?.stop().catch(() => undefined);
    await lab.cleanup();
  }
}

/** Installs (source, group) iif in0 → oifs through mfcd's AddRoute. */
export async function addRoute(rig: Rig, source: string, group: string, oifs: string[] = ["out1"]): Promise<void> {
  await rig.daemon().client.addRoute({ route: { source, group, iif: "in0", oifs } });
}

/** Gives the source namespace an extra address on its eth0 (e.g. the unroutable CAMERA). */
export async function addSourceAddress(rig: Rig, addr: string): Promise<void> {
  await ip(["addr", "add", `${addr}/32`, "dev", rig.lab.sourceIface], rig.lab.source);
}

/** A receiver for `group` in receiver namespace i (1-based), stopped when the rig goes away. */
export async function receiver(rig: Rig, group: string, i = 1): Promise<Receiver> {
  const ns = rig.lab.receivers[i - 1];
  const addr = rig.lab.addrs.receivers[i - 1];
  if (ns === undefined || addr === undefined) throw new Error(`no receiver ${i}`);
  return rig.stops.add(await startReceiver(ns, { group, port: PORT, ifaceAddr: addr }));
}

export interface BurstOptions {
  group: string;
  count: number;
  ttl: number;
  /** Source address to bind and send from (default: the lab's source address). */
  from?: string;
  firstSeq?: number;
  port?: number;
}

/** Sends a burst from the source namespace; throws unless every datagram was sent. */
export async function burst(rig: Rig, o: BurstOptions): Promise<SendResult> {
  const res = await sendMulticast(rig.lab.source, {
    group: o.group,
    port: o.port ?? PORT,
    ttl: o.ttl,
    ifaceAddr: o.from ?? rig.lab.addrs.source,
    count: o.count,
    size: PAYLOAD,
    intervalMs: 1,
    ...(o.firstSeq === undefined ? {} : { firstSeq: o.firstSeq }),
  });
  if (res.sent !== o.count || res.errors !== 0) {
    throw new Error(`burst to ${o.group}: sent ${res.sent}/${o.count}, errors ${res.errors} (${String(res.firstError)})`);
  }
  return res;
}

/**
 * The kernel MFC packet counter of (source, group) in the router, read two ways: SIOCGETSGCNT
 * through mfcd's ListRoutes, and /proc/net/ip_mr_cache. Throws if they disagree.
 */
export async function mfcPackets(rig: Rig, source: string, group: string): Promise<number> {
  const { routes } = await rig.daemon().client.listRoutes({});
  const listed = routes.find((r) => r.route?.source === source && r.route.group === group)?.counters?.packets;
  const proc = (await kernelRoute(rig.lab.router, source, group))?.counters.packets;
  if (listed === undefined || proc === undefined) {
    throw new Error(`no MFC entry (${source}, ${group}): ListRoutes ${String(listed)}, /proc ${String(proc)}`);
  }
  if (listed !== proc) throw new Error(`MFC (${source}, ${group}): ListRoutes says ${listed}, /proc says ${proc}`);
  return Number(proc);
}

/** Packets counted in on VIF `iface` (SIOCGETVIFCNT through mfcd's ListRoutes). */
export async function vifInPackets(rig: Rig, iface: string): Promise<number> {
  const { vifs } = await rig.daemon().client.listRoutes({});
  const v = vifs.find((x) => x.interface === iface);
  if (v === undefined) throw new Error(`no VIF for ${iface}`);
  return Number(v.inPackets);
}

/** TcpExtIPReversePathFilter of the router namespace. */
export function rpfDrops(rig: Rig): Promise<number> {
  return netstat(rig.lab.router, "TcpExtIPReversePathFilter");
}

/** Polls until f() returns `want` (throws with the last value otherwise) and returns it. */
export async function until(what: string, f: () => Promise<number>, want: number): Promise<number> {
  let last = NaN;
  await waitFor(
    async () => {
      last = await f();
      return last >= want;
    },
    { message: () => `${what}: ${last}, waiting for ${want}` },
  );
  return last;
}

// ---------------------------------------------------------------------------------------------
// nft inside a namespace

/** Loads an nft script in `ns` (`nft -f -`); throws a CommandError with nft's stderr if refused. */
export async function nftLoad(ns: string, script: string): Promise<void> {
  await execIn(ns, ["nft", "-f", "-"], { input: script });
}

export type NftAttempt = { ok: true } | { ok: false; stderr: string };

/** Like nftLoad, but reports a refusal (with nft's stderr) instead of throwing. */
export async function nftTry(ns: string, script: string): Promise<NftAttempt> {
  try {
    await nftLoad(ns, script);
    return { ok: true };
  } catch (err) {
    if (err instanceof CommandError) return { ok: false, stderr: err.stderr };
    throw err;
  }
}

/** Runs `nft <args>` in `ns` and returns stdout. */
export function nftCmd(ns: string, args: readonly string[]): Promise<string> {
  return execIn(ns, ["nft", ...args]);
}

interface NftJson {
  nftables: Record<string, unknown>[];
}

/** Packets of the named counter `name` in `table ip <table>`. */
export async function nftCounter(ns: string, table: string, name: string): Promise<number> {
  const out = JSON.parse(await nftCmd(ns, ["-j", "list", "counter", "ip", table, name])) as NftJson;
  for (const item of out.nftables) {
    const c = item.counter as { name?: string; packets?: number } | undefined;
    if (c?.name === name && typeof c.packets === "number") return c.packets;
  }
  throw new Error(`nft: no counter ${name} in ip ${table}`);
}

/** Base chains of `table ip <table>` mapped to their netfilter hook (prerouting, input, ...). */
export async function chainHooks(ns: string, table: string): Promise<Map<string, string>> {
  const out = JSON.parse(await nftCmd(ns, ["-j", "list", "chains", "ip"])) as NftJson;
  const hooks = new Map<string, string>();
  for (const item of out.nftables) {
    const c = item.chain as { table?: string; name?: string; hook?: string } | undefined;
    if (c?.table === table && c.name !== undefined && c.hook !== undefined) hooks.set(c.name, c.hook);
  }
  return hooks;
}

/** Names of the `ip` tables in `ns`. */
export async function ipTables(ns: string): Promise<string[]> {
  const out = JSON.parse(await nftCmd(ns, ["-j", "list", "tables", "ip"])) as NftJson;
  return out.nftables.flatMap((item) => {
    const t = item.table as { name?: string } | undefined;
    return t?.name === undefined ? [] : [t.name];
  });
}

// ---------------------------------------------------------------------------------------------
// nft monitor trace

/** One line of `nft monitor trace`. */
export interface TraceEvent {
  /** The packet's trace id: every event of one packet carries it. */
  id: string;
  family: string;
  table: string;
  chain: string;
  /** "packet" (the packet as it enters the chain), "rule", "policy" or "verdict". */
  kind: string;
  /** The verdict of a rule / policy / verdict line (e.g. accept, continue, drop). */
  verdict: string | undefined;
  /** The rest of the line after the kind. */
  text: string;
  raw: string;
}

const TRACE_RE = /^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (packet|rule|policy|verdict):? ?(.*)$/;

export function parseTraceLine(raw: string): TraceEvent | undefined {
  const m = TRACE_RE.exec(raw.trimEnd());
  if (!m) return undefined;
  const [, id, family, table, chain, kind, rest] = m as unknown as [string, string, string, string, string, string, string];
  let verdict: string | undefined;
  if (kind === "rule") verdict = /\(verdict (\w+)/.exec(rest)?.[1];
  else if (kind === "policy" || kind === "verdict") verdict = /^(\w+)/.exec(rest)?.[1];
  return { id, family, table, chain, kind, verdict, text: rest, raw };
}

export interface TraceMonitor {
  readonly events: TraceEvent[];
  /** Lines that did not parse as trace events. */
  readonly other: string[];
  /**
   * Events grouped per packet, in arrival order. A packet's events share a trace id, but the id
   * is a hash of the skb pointer, flow hash and iif, so a later packet of the flow can reuse it: a new
   * packet starts at every "packet" event of `firstChain` (the first chain that traces).
   */
  packets(firstChain: string): TraceEvent[][];
  /**
   * Sends probes until the monitor shows one (`nft monitor` gives no readiness signal: its
   * netlink subscription is live once a traced probe packet is reported).
   */
  ready(sendProbe: () => Promise<unknown>, isProbe: (e: TraceEvent) => boolean): Promise<void>;
  stop(): Promise<void>;
}

/** Runs `nft monitor trace` inside `ns` (stdout line-buffered through stdbuf). */
export function startTraceMonitor(ns: string): TraceMonitor {
  const child: ChildProcess = spawn("ip", ["netns", "exec", ns, "stdbuf", "-oL", "nft", "monitor", "trace"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const unregister = onProcessExit(() => child.kill("SIGKILL"));
  const events: TraceEvent[] = [];
  const other: string[] = [];
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const e = parseTraceLine(line);
    if (e) events.push(e);
    else if (line.trim() !== "") other.push(line);
  });
  const exited = new Promise<void>((resolve) => {
    child.once("close", () => resolve());
    child.once("error", (e) => {
      stderr += `spawn failed: ${e.message}`;
      resolve();
    });
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    events,
    other,
    packets(firstChain) {
      const open = new Map<string, TraceEvent[]>();
      const all: TraceEvent[][] = [];
      for (const e of events) {
        let list = open.get(e.id);
        if (list === undefined || (e.kind === "packet" && e.chain === firstChain)) {
          list = [];
          open.set(e.id, list);
          all.push(list);
        }
        list.push(e);
      }
      return all;
    },
    async ready(sendProbe, isProbe) {
      for (let attempt = 1; ; attempt++) {
        if (!alive()) throw new Error(`nft monitor trace exited: ${stderr.trim() || "(no stderr)"}`);
        await sendProbe();
        try {
          await waitFor(() => events.some(isProbe), { timeoutMs: 500 });
          return;
        } catch (err) {
          if (attempt >= 20) throw new Error(`nft monitor trace never showed a probe: ${stderr.trim()}`, { cause: err });
        }
      }
    },
    async stop() {
      // SIGTERM, then SIGKILL after a bound: a guest run once never saw this monitor exit, and the
      // file hung after its test had passed.
      if (alive()) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), bound(3_000));
      await exited;
      clearTimeout(timer);
      unregister();
    },
  };
}

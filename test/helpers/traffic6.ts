// IPv6 multicast for the namespace lab: unique-local addresses on the lab's source link, and
// TypeScript wrappers around mcast6-send.mjs / mcast6-recv.mjs (run with `ip netns exec`).
//
//   source ns  eth0 fd00:0:K::2/64 (nodad) --- in0 fd00:0:K::1/64 (nodad)  router
//              default via fd00:0:K::1
//
// K is the lab number in hex, so two labs never share addresses; the addresses exist only
// inside the lab's namespaces. Receivers need no address of their own (they join by interface
// index; the link-local address is enough). Children are SIGKILLed when this process exits;
// receivers also end when their stdin (a pipe from this process) closes.

import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Lab } from "./lab.js";
import { execIn, ipBatch, onProcessExit } from "./netns.js";
import { bound } from "./time-bounds.js";
import { waitFor, type ReceiveResult, type SendResult, type WaitForOptions } from "./traffic.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SEND6_SCRIPT = path.join(HERE, "mcast6-send.mjs");
const RECV6_SCRIPT = path.join(HERE, "mcast6-recv.mjs");

export interface Lab6Addrs {
  /** The source's IPv6 address on its eth0 (canonical text). */
  source: string;
  /** The router's IPv6 address on in0. */
  routerIn: string;
}

/** Adds the IPv6 addresses (without DAD, usable at once) and the source's default route. */
export async function addIpv6(lab: Lab): Promise<Lab6Addrs> {
  const prefix = `fd00:0:${lab.k.toString(16)}`;
  const addrs = { source: `${prefix}::2`, routerIn: `${prefix}::1` };
  await Promise.all([
    ipBatch([`addr add ${addrs.routerIn}/64 dev ${lab.routerIfaces.in} nodad`], lab.router),
    ipBatch(
      [
        `addr add ${addrs.source}/64 dev ${lab.sourceIface} nodad`,
        `route add default via ${addrs.routerIn} dev ${lab.sourceIface}`,
      ],
      lab.source,
    ),
  ]);
  return addrs;
}

const live = new Set<ChildProcess>();
let hooked = false;

export interface Receiver6 {
  readonly ns: string;
  /** Datagrams received so far (as last reported, ≤ 25 ms old). */
  readonly count: number;
  waitForCount(n: number, opts?: WaitForOptions): Promise<number>;
  /** Ends the receiver and returns what it got. Idempotent. */
  stop(): Promise<ReceiveResult>;
}

/** A receiver of [group]:port joined on `iface` in `ns`; resolves once it has joined. */
export async function startReceiver6(ns: string, opts: { group: string; port: number; iface: string }): Promise<Receiver6> {
  if (!hooked) {
    hooked = true;
    onProcessExit(() => {
      for (const c of live) c.kill("SIGKILL");
    });
  }
  const args = ["--group", opts.group, "--port", String(opts.port), "--iface", opts.iface];
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, RECV6_SCRIPT, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  live.add(child);
  child.stdin.on("error", () => undefined);
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => (stderr += d));
  const lines: string[] = [];
  let count = 0;
  let ready = false;
  const rl = createInterface({ input: child.stdout });
  rl.on("line", (line) => {
    lines.push(line);
    if (line === "READY") ready = true;
    else if (line.startsWith("COUNT ")) count = Number(line.slice(6));
  });
  const closed = new Promise<number | string>((resolve) => {
    child.once("close", (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? "unknown");
    });
  });
  const stdoutDone = new Promise<void>((resolve) => rl.once("close", resolve));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const desc = `IPv6 receiver [${opts.group}]:${opts.port} on ${opts.iface} in ${ns}`;
  try {
    await waitFor(
      () => {
        if (ready) return true;
        if (gone()) throw new Error(`${desc} exited: ${stderr.trim() || "(no stderr)"}`);
        return false;
      },
      { timeoutMs: 10_000, message: () => `${desc} not ready: ${stderr.trim()}` },
    );
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  let stopP: Promise<ReceiveResult> | undefined;
  return {
    ns,
    get count() {
      return count;
    },
    waitForCount(n, wopts = {}) {
      return waitFor(
        () => {
          if (count >= n) return count;
          if (gone()) throw new Error(`${desc} exited early: ${stderr.trim() || "(no stderr)"}`);
          return 0;
        },
        { message: () => `${desc} has ${count} of ${n} datagrams`, ...wopts },
      );
    },
    stop() {
      stopP ??= (async () => {
        if (!gone()) child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), bound(5000));
        const status = await closed;
        clearTimeout(timer);
        await stdoutDone;
        const last = [...lines].reverse().find((l) => l.startsWith("{"));
        if (status !== 0 || last === undefined) {
          throw new Error(`${desc} ended badly (status ${String(status)}): ${stderr.trim() || "(no stderr)"}`);
        }
        return JSON.parse(last) as ReceiveResult;
      })();
      return stopP;
    },
  };
}

export interface Send6Options {
  group: string;
  port: number;
  /** Hop limit; ≥ 2 to be forwarded by a router. */
  hops: number;
  /** Address to bind (an address of `ns`). */
  source: string;
  /** Interface to send through. */
  iface: string;
  count: number;
  firstSeq?: number;
  /** Payload bytes (default 64). */
  size?: number;
  /** Gap between datagrams (default 1 ms). */
  intervalMs?: number;
}

/** Sends `count` datagrams from `ns` and resolves when the sender has finished. */
export async function sendMulticast6(ns: string, opts: Send6Options): Promise<SendResult> {
  const argv = [
    process.execPath,
    SEND6_SCRIPT,
    "--group", opts.group,
    "--port", String(opts.port),
    "--hops", String(opts.hops),
    "--source", opts.source,
    "--iface", opts.iface,
    "--count", String(opts.count),
    "--first-seq", String(opts.firstSeq ?? 0),
    "--size", String(opts.size ?? 64),
    "--interval-ms", String(opts.intervalMs ?? 1),
  ];
  const out = await execIn(ns, argv, { timeoutMs: 15_000 + opts.count * ((opts.intervalMs ?? 1) + 5) });
  const last = out.trim().split("\n").at(-1) ?? "";
  const summary = JSON.parse(last) as SendResult;
  if (summary.errors > 0) throw new Error(`IPv6 sender in ${ns}: ${summary.errors} send errors (${summary.firstError})`);
  return summary;
}

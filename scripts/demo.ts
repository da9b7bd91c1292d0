// `npm run demo`: mfcd end to end, against the real kernel, in about ten seconds.
//
//   source ns                router ns (mfcd)                 receiver ns 1, 2
//   eth0 10.k.0.2 ──veth── in0 ─┬─ out1 ──veth── eth0 10.k.1.2
//                               └─ out2 ──veth── eth0 10.k.2.2
//
// 1. builds that throwaway lab of network namespaces (test/helpers/lab.ts),
// 2. starts the real daemon in the router namespace
//      ip netns exec <router> node --import tsx src/server/main.ts --listen unix:<tmp>/mfcd.sock
//    and waits for grpc.health.v1 SERVING,
// 3. adds (source → group, in0 → out1,out2) through the SDK, sends real multicast (TTL 8) for
//    5 s while printing WatchStats once a second, then shows what each receiver got and the
//    kernel's own view (`ip mroute show`),
// 4. shows the classic pitfall: a burst with TTL 1 is counted on the route but never forwarded,
// 5. DelRoute, SIGTERM to mfcd, deletes the namespaces, prints a one-line verdict.
//
// Exit 0 when every receiver got every datagram (and none of the TTL-1 burst), 1 otherwise (or
// when not root), 130 on Ctrl-C, 143 on SIGTERM. Ctrl-C, SIGTERM and errors remove every
// namespace and process the demo created (see "Entry point" for why it runs in two processes).

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isAbortError } from "abort-controller-x";
import {
  createMfcClient,
  MfcError,
  RouteState,
  type Counters,
  type MfcClient,
  type VifStatus,
} from "../src/sdk/index.js";
import { ipMroute } from "../test/helpers/kernel-view.js";
import { bound } from "../test/helpers/time-bounds.js";
import { probeHostKernel } from "./uml/host-kernel.js";
import { inGuest, KERNEL_RUNNER_VARIABLE, kernelRunner } from "./uml/kernel-runner.js";
import { createLab, type Lab } from "../test/helpers/lab.js";
import {
  cleanupAllSync,
  delNetns,
  listNetns,
  netnsExists,
  NS_PREFIX,
  onProcessExit,
  ownedNamespaces,
} from "../test/helpers/netns.js";
import {
  sendMulticast,
  settle,
  startReceiver,
  startStream,
  waitFor,
  type ReceiveResult,
  type Receiver,
} from "../test/helpers/traffic.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MFCD_MAIN = path.join(REPO_ROOT, "src/server/main.ts");

const GROUP = "239.1.2.3";
const PORT = 5001;
const TTL = 8;
const RATE_PPS = 20;
const STREAM_MS = 5000;
const SIZE = 64; // UDP payload; the kernel counts 64 + 8 (UDP) + 20 (IP) = 92 bytes a packet
const BURST = 10;
const BURST_FIRST_SEQ = 1_000_000; // tells the TTL-1 burst apart from the stream at the receivers

// ---------------------------------------------------------------------------------------------
// Output

/** A line on stdout; after Ctrl-C only the signal handler's lines (`always`) get through. */
const out = (line = "", always = false): void => {
  if (state.interrupted && !always) return;
  process.stdout.write(`${line}\n`);
};
const step = (title: string): void => {
  out();
  out(`▸ ${title}`);
};
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const errText = (err: unknown): string =>
  err instanceof MfcError
    ? `${err.codeName}: ${err.details}`
    : err instanceof AggregateError
      ? `${err.message}: ${err.errors.map(errText).join("; ")}`
      : err instanceof Error
        ? err.message
        : String(err);

/** Two left-aligned columns, then right-aligned numbers; two spaces between columns. */
function row(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => (i <= 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
    .join("  ")
    .trimEnd();
}

// ---------------------------------------------------------------------------------------------
// mfcd as a real process in the router namespace

interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Daemon {
  readonly proc: ChildProcess;
  readonly argv: string[];
  readonly socketPath: string;
  readonly client: MfcClient;
  readonly exited: Promise<ExitStatus>;
  /** The last few stderr lines, JSON log lines reduced to "level: msg". */
  logTail(n: number): string[];
  /** SIGTERM, then SIGKILL after graceMs. Idempotent. */
  stop(graceMs?: number): Promise<ExitStatus & { killed: boolean }>;
}

const LEVELS: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

function logLine(line: string): string {
  try {
    const j = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
    const lvl = (j.level !== undefined ? LEVELS[j.level] : undefined) ?? "log";
    return `${lvl}: ${j.msg ?? ""}${j.err?.message ? ` (${j.err.message})` : ""}`;
  } catch {
    return line;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
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

async function startDaemon(ns: string, socketDir: string, timeoutMs = bound(20_000)): Promise<Daemon> {
  const socketPath = path.join(socketDir, "mfcd.sock");
  const argv = ["netns", "exec", ns, process.execPath, "--import", "tsx", MFCD_MAIN, "--listen", `unix:${socketPath}`, "--state-file", "none"];
  // `ip netns exec` execs node, so proc.pid is mfcd itself and our signals reach it.
  const proc = spawn("ip", argv, { cwd: REPO_ROOT, stdio: ["ignore", "ignore", "pipe"] });
  const unhook = onProcessExit(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  let stderr = "";
  proc.stderr?.setEncoding("utf8");
  proc.stderr?.on("data", (d: string) => {
    stderr = (stderr + d).slice(-64 * 1024);
  });
  let status: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    proc.once("error", (e) => {
      stderr += `spawn ip: ${e.message}\n`;
      status = { code: null, signal: null };
      resolve(status);
    });
    proc.once("close", (code, signal) => {
      status = { code, signal };
      resolve(status);
    });
  });
  void exited.then(unhook);
  const client = createMfcClient(`unix:${socketPath}`, { deadlineMs: 5000 });

  let stopP: Promise<ExitStatus & { killed: boolean }> | undefined;
  const daemon: Daemon = {
    proc,
    argv: ["ip", ...argv],
    socketPath,
    client,
    exited,
    logTail: (n) =>
      stderr
        .split("\n")
        .filter((l) => l.trim() !== "")
        .slice(-n)
        .map(logLine),
    stop(graceMs = 5000) {
      stopP ??= (async () => {
        if (status === undefined) proc.kill("SIGTERM");
        let killed = false;
        const timer = setTimeout(() => {
          killed = true;
          proc.kill("SIGKILL");
        }, graceMs);
        const s = await exited;
        clearTimeout(timer);
        client.close();
        return { ...s, killed };
      })();
      return stopP;
    },
  };

  const deadline = Date.now() + timeoutMs;
  let last = "no socket yet";
  for (;;) {
    if (status !== undefined) {
      throw new Error(
        `mfcd exited before serving (code ${String(status.code)}, signal ${String(status.signal)}):\n` +
          daemon.logTail(8).map((l) => `      ${l}`).join("\n"),
      );
    }
    if (fs.existsSync(socketPath)) {
      try {
        const h = await withTimeout(client.health(), 1000, "health");
        if (h === "SERVING") return daemon;
        last = `health ${h}`;
      } catch (err) {
        last = errText(err);
      }
    }
    if (Date.now() >= deadline) {
      await daemon.stop(1000);
      throw new Error(`mfcd not SERVING within ${timeoutMs} ms (${last})`);
    }
    await settle(50);
  }
}

// ---------------------------------------------------------------------------------------------
// State shared with the signal handler and the teardown

interface DemoState {
  lab?: Lab;
  daemon?: Daemon;
  socketDir?: string;
  receivers: Receiver[];
  watch?: AbortController;
  interrupted: boolean;
}
const state: DemoState = { receivers: [], interrupted: false };

function removeSocketDir(): void {
  if (state.socketDir !== undefined) fs.rmSync(state.socketDir, { recursive: true, force: true });
}

/** Every namespace this process named (`mfct-<our pid>-…`), also one whose creation was in flight. */
const ownPrefix = `${NS_PREFIX}${process.pid}-`;
function sweepOwnNamespacesSync(): void {
  const names = listNetns().filter((n) => n.startsWith(ownPrefix));
  if (names.length === 0) return;
  for (const name of names) {
    const r = spawnSync("ip", ["netns", "pids", name], { encoding: "utf8" });
    for (const pid of (r.stdout ?? "").split(/\s+/).filter((x) => /^\d+$/.test(x))) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // gone already
      }
    }
  }
  spawnSync("ip", ["-force", "-batch", "-"], {
    input: names.map((n) => `netns del ${n}`).join("\n") + "\n",
    stdio: ["pipe", "ignore", "ignore"],
  });
}

/**
 * Ctrl-C / kill: stop mfcd (SIGTERM), delete the lab namespaces (which SIGKILLs whatever still
 * runs in them), then exit 130 (SIGINT) / 143 (SIGTERM) / 129 (SIGHUP). Asynchronous on
 * purpose: tsx's parent process SIGKILLs a child whose event loop does not acknowledge a relayed
 * signal within ~60 ms, so the loop must stay free. A hard deadline ends it synchronously.
 */
function onSignal(signal: NodeJS.Signals, why: string = signal): void {
  if (state.interrupted) return;
  state.interrupted = true;
  state.watch?.abort();
  out("", true);
  out(`${why}: stopping mfcd and the traffic, removing the lab ...`, true);
  const hard = setTimeout(() => finishInterrupt(signal), 8000);
  void (async () => {
    if (state.daemon) await state.daemon.stop(2000).catch(() => undefined);
    await settle(100); // lets an `ip netns add` that was in flight finish, so it is swept too
    const names = new Set([...ownedNamespaces(), ...listNetns().filter((n) => n.startsWith(ownPrefix))]);
    await Promise.allSettled([...names].map((n) => delNetns(n)));
  })().finally(() => {
    clearTimeout(hard);
    finishInterrupt(signal);
  });
}

function finishInterrupt(signal: NodeJS.Signals): never {
  cleanupAllSync(); // whatever the helpers still track: children, namespaces
  sweepOwnNamespacesSync();
  removeSocketDir();
  const left = listNetns().filter((n) => n.startsWith(ownPrefix));
  if (left.length > 0) {
    out(`FAIL: interrupted by ${signal}; namespaces left behind: ${left.join(", ")}`, true);
    process.exit(1);
  }
  out(`INTERRUPTED: demo aborted by ${signal}; lab removed, no namespace or process left behind`, true);
  process.exit(signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 129);
}

/** Best-effort orderly teardown for the error path (the happy path does it step by step). */
async function teardownQuietly(): Promise<void> {
  state.watch?.abort();
  await Promise.allSettled(state.receivers.map((r) => r.stop()));
  if (state.daemon) await state.daemon.stop(3000).catch(() => undefined);
  if (state.lab) await state.lab.cleanup().catch(() => undefined);
  removeSocketDir();
  cleanupAllSync(); // anything the lab helpers still own
  sweepOwnNamespacesSync();
}

// ---------------------------------------------------------------------------------------------
// The demo

type RouteWithCounters = { route?: { source: string; group: string }; counters?: Counters };

function findCounters(routes: readonly RouteWithCounters[], source: string): Counters | undefined {
  return routes.find((r) => r.route?.source === source && r.route.group === GROUP)?.counters;
}

function vifMap(vifs: readonly VifStatus[]): Map<string, VifStatus> {
  return new Map(vifs.map((v) => [v.interface, v]));
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

function requireRoot(): boolean {
  if (process.getuid?.() === 0) return true;
  process.stderr.write(
    "demo: must run as root — it creates network namespaces and mfcd opens the kernel's multicast\n" +
      "routing socket (CAP_NET_RAW, CAP_NET_ADMIN). Try: sudo npm run demo\n",
  );
  return false;
}

async function main(): Promise<number> {
  const t0 = performance.now();
  if (!requireRoot()) return 1;
  for (const sig of SIGNALS) process.on(sig, () => onSignal(sig));
  if (process.send !== undefined) {
    // Started by the launcher (see the entry point). Should it die without passing on a signal
    // (or before we got here), stop as for SIGHUP.
    if (!process.connected) return 129;
    process.once("disconnect", () => onSignal("SIGHUP", "launcher exited"));
    process.channel?.unref();
  }

  out("mfcd demo: real IPv4 multicast through the kernel, routed by mfcd over gRPC (Ctrl-C aborts and cleans up)");

  // 1. Lab ------------------------------------------------------------------------------------
  step("Lab: throwaway network namespaces (removed at the end)");
  const lab = await createLab({ receivers: 2 });
  state.lab = lab;
  const a = lab.addrs;
  const outs = lab.routerIfaces.outs;
  const nsW = Math.max(...lab.namespaces.map((n) => n.length));
  const labRows: [string, string, string][] = [
    ["source", lab.source, `eth0 ${a.source}`],
    ["router", lab.router, [`in0 ${a.routerIn}`, ...outs.map((o, i) => `${o} ${a.routerOuts[i]!}`)].join("   ") + "   (mfcd)"],
    ...lab.receivers.map((ns, i): [string, string, string] => [`receiver${i + 1}`, ns, `eth0 ${a.receivers[i]!}`]),
  ];
  for (const [role, ns, ifs] of labRows) out(`    ${role.padEnd(10)}${ns.padEnd(nsW + 3)}${ifs}`);
  out(`    wiring: source eth0 ⇄ in0 router, ${outs.map((o, i) => `${o} ⇄ eth0 receiver${i + 1}`).join(", ")}`);

  // 2. mfcd ------------------------------------------------------------------------------------
  step("Starting mfcd in the router namespace");
  state.socketDir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-demo-"));
  onProcessExit(removeSocketDir);
  const tStart = performance.now();
  const daemon = await startDaemon(lab.router, state.socketDir);
  state.daemon = daemon;
  const client = daemon.client;
  out(`    $ ${daemon.argv.join(" ").replace(process.execPath, "node").replace(REPO_ROOT + "/", "")}`);
  out(`    pid ${String(daemon.proc.pid)}, health SERVING after ${secs(performance.now() - tStart)}`);

  // Receivers join before the route exists, like real subscribers would.
  state.receivers = await Promise.all(
    lab.receivers.map((ns, i) => startReceiver(ns, { group: GROUP, port: PORT, ifaceAddr: a.receivers[i]! })),
  );
  const receivers = state.receivers;
  out(`    receivers joined ${GROUP}:${PORT} on ${a.receivers.join(" and ")}`);

  // 3. AddRoute --------------------------------------------------------------------------------
  const route = { source: a.source, group: GROUP, iif: lab.routerIfaces.in, oifs: outs };
  step(`AddRoute  (${route.source} → ${route.group})  iif ${route.iif} → oifs ${route.oifs.join(", ")}`);
  const added = await client.addRoute({ route });
  const st = added.route;
  out(
    `    result: ${RouteState[st?.state ?? RouteState.UNRECOGNIZED]?.replace("ROUTE_STATE_", "") ?? "?"}` +
      `${st?.reason ? ` (${st.reason})` : ""}, counters ${String(st?.counters?.packets ?? 0n)} packets / ` +
      `${String(st?.counters?.bytes ?? 0n)} bytes`,
  );
  const listed = await client.listRoutes({});
  out(`    VIFs taken: ${listed.vifs.map((v) => `${v.vif}=${v.interface}`).join("  ")}   (one per interface, shared by routes)`);

  // 4. Traffic + WatchStats ------------------------------------------------------------------
  const expected = Math.round((STREAM_MS / 1000) * RATE_PPS);
  step(`Sending ${expected} datagrams from the source (TTL ${TTL}, ${RATE_PPS} pkt/s, ${SIZE} B payload); WatchStats every second:`);
  const cols = [`${route.iif} in`, ...outs.map((o) => `${o} out`)];
  const widths = [6, 21, 7, 7, 6, ...cols.map((c) => Math.max(c.length, 5))];
  out("    " + row(["time", "route (S → G)", "packets", "bytes", "pkt/s", ...cols], widths));

  const stream = await startStream(lab.source, {
    group: GROUP,
    port: PORT,
    ttl: TTL,
    ifaceAddr: a.source,
    intervalMs: 1000 / RATE_PPS,
    size: SIZE,
    durationMs: STREAM_MS,
  });
  const tStream = performance.now();
  const watch = new AbortController();
  state.watch = watch;
  // lastPackets: the route's packets in the latest row; target: set once the stream is over,
  // the watch then ends at the first row showing all of it.
  const progress: { lastPackets?: bigint; target?: bigint } = {};
  const watching = (async () => {
    let routes: { source: string; group: string; counters?: Counters; packetsPerSecond: number }[] = [];
    let vifs: VifStatus[] = [];
    try {
      for await (const m of client.watchStats({ intervalMs: 1000, group: GROUP }, { signal: watch.signal })) {
        if (m.part === 0) {
          routes = [];
          vifs = m.vifs;
        }
        routes.push(...m.routes);
        if (m.part + 1 < m.parts) continue;
        const r = routes.find((x) => x.source === route.source && x.group === GROUP);
        const byName = vifMap(vifs);
        const packets = r?.counters?.packets ?? 0n;
        out(
          "    " +
            row(
              [
                secs(performance.now() - tStream),
                `${route.source} → ${GROUP}`,
                String(packets),
                String(r?.counters?.bytes ?? 0n),
                (r?.packetsPerSecond ?? 0).toFixed(1),
                String(byName.get(route.iif)?.inPackets ?? 0n),
                ...outs.map((o) => String(byName.get(o)?.outPackets ?? 0n)),
              ],
              widths,
            ),
        );
        progress.lastPackets = packets;
        if (progress.target !== undefined && packets >= progress.target) return;
      }
    } catch (err) {
      if (!isAbortError(err)) throw err;
    }
  })();
  watching.catch(() => undefined); // awaited below

  const sent = await stream.done;
  progress.target = BigInt(sent.sent);
  if (progress.lastPackets !== undefined && progress.lastPackets >= progress.target) watch.abort();
  // Otherwise the next tick (≤ 1 s) shows the last packets; don't wait forever if it never does.
  const giveUp = setTimeout(() => watch.abort(), 2500);
  await watching;
  clearTimeout(giveUp);
  if (sent.errors > 0) out(`    sender: ${sent.errors} send errors (first: ${sent.firstError ?? "?"})`);

  // Everything in flight has arrived once each receiver has all of it (or after 3 s).
  await Promise.all(receivers.map((r) => r.waitForCount(sent.sent, { timeoutMs: 3000 }).catch(() => r.count)));
  const kernelView = (await ipMroute(lab.router)).trim();

  // 5. The TTL-1 pitfall ---------------------------------------------------------------------
  const before = await client.listRoutes({});
  const rcvBefore = receivers.map((r) => r.count);
  await sendMulticast(lab.source, {
    group: GROUP,
    port: PORT,
    ttl: 1,
    ifaceAddr: a.source,
    count: BURST,
    intervalMs: 10,
    size: SIZE,
    firstSeq: BURST_FIRST_SEQ,
  });
  const routeBefore = findCounters(before.routes, route.source)?.packets ?? 0n;
  // The route counter proves the burst reached the router; then give forwarding a moment.
  let after = before;
  await waitFor(
    async () => {
      after = await client.listRoutes({});
      return (findCounters(after.routes, route.source)?.packets ?? 0n) >= routeBefore + BigInt(BURST);
    },
    { timeoutMs: 3000, intervalMs: 50 },
  ).catch(() => undefined); // reported below as a smaller route delta
  await settle(300);
  const rcvAfterBurst = receivers.map((r) => r.count);
  const results: ReceiveResult[] = await Promise.all(receivers.map((r) => r.stop()));
  const afterVifs = vifMap(after.vifs);
  const beforeVifs = vifMap(before.vifs);
  const routeDelta = (findCounters(after.routes, route.source)?.packets ?? 0n) - routeBefore;
  const outDelta = outs.map((o) => (afterVifs.get(o)?.outPackets ?? 0n) - (beforeVifs.get(o)?.outPackets ?? 0n));

  // 6. What the receivers got, the kernel's view, the pitfall --------------------------------
  step("What each receiver got");
  const fromStream = results.map((r) => r.seqs.filter((s) => s < BURST_FIRST_SEQ).length);
  const fromBurst = results.map((r) => r.seqs.filter((s) => s >= BURST_FIRST_SEQ).length);
  results.forEach((r, i) => {
    const name = `receiver${i + 1}`;
    out(
      `    ${name.padEnd(10)}${a.receivers[i]!.padEnd(11)}${`${fromStream[i]!}/${sent.sent}`.padStart(7)} datagrams` +
        `   from ${r.from.length > 0 ? r.from.join(", ") : "nobody"}`,
    );
  });

  step("Kernel view in the router namespace: ip mroute show");
  for (const l of kernelView === "" ? ["(empty)"] : kernelView.split("\n")) out(`    ${l.replace(/\s+/g, " ")}`);

  step("Pitfall: TTL 1");
  const rcvDelta = rcvAfterBurst.map((c, i) => c - rcvBefore[i]!);
  const burstForwarded = fromBurst.some((n) => n > 0) || rcvDelta.some((n) => n > 0);
  out(
    `    ${BURST} more datagrams with TTL 1 → route +${String(routeDelta)}, ` +
      outs.map((o, i) => `${o} +${String(outDelta[i] ?? 0n)}`).join(", ") +
      `, receivers +${fromBurst.join("/+")} — matched, not forwarded: the kernel forwards only TTL ≥ 2, ` +
      "and most sockets send multicast with TTL 1 by default.",
  );

  // 7. DelRoute, stop, clean up --------------------------------------------------------------
  step("Cleaning up");
  await client.delRoute({ source: route.source, group: GROUP });
  const afterDel = (await ipMroute(lab.router)).trim();
  out(`    DelRoute ok; ip mroute show: ${afterDel === "" ? "(empty)" : afterDel.replace(/\s+/g, " ")}`);
  const stopped = await daemon.stop(5000);
  out(
    `    mfcd stopped by SIGTERM: ${stopped.killed ? "did not exit in time, SIGKILLed" : `exit ${String(stopped.code ?? stopped.signal)}`}` +
      ` (MRT_DONE released its VIFs and routes)`,
  );
  await lab.cleanup();
  removeSocketDir();
  const left = lab.namespaces.filter(netnsExists);
  out(`    removed ${lab.namespaces.length} namespaces${left.length === 0 ? ", none left (ip netns list)" : `; STILL THERE: ${left.join(", ")}`}`);

  // Verdict ------------------------------------------------------------------------------------
  out();
  const total = secs(performance.now() - t0);
  const allGot = sent.sent > 0 && fromStream.every((n) => n === sent.sent);
  const problems: string[] = [];
  if (!allGot) problems.push(`receivers got ${fromStream.join(", ")} of ${sent.sent} packets`);
  if (burstForwarded) problems.push("the TTL-1 burst was forwarded (unexpected)");
  if (st?.state !== RouteState.ROUTE_STATE_INSTALLED) problems.push("AddRoute did not report INSTALLED");
  if (stopped.killed || stopped.code !== 0) problems.push("mfcd did not stop cleanly");
  if (left.length > 0) problems.push("namespaces left behind");
  if (problems.length === 0) {
    out(`OK: ${sent.sent}/${sent.sent} packets forwarded to each of ${receivers.length} receivers, TTL-1 burst dropped as expected (${total})`);
    return 0;
  }
  out(`FAIL: ${problems.join("; ")} (${total})`);
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Entry point
//
// `npm run demo` runs this file under the tsx CLI, whose parent process relays signals to its
// child and SIGKILLs the child if it does not acknowledge one within ~30 ms — under load that
// can hit the demo in the middle of its Ctrl-C cleanup. So the process tsx starts is only a
// launcher: it re-runs this file as a worker (`node --import tsx`, no relay) in the same process
// group (so Ctrl-C reaches the worker directly), forwards signals to it, and exits with its code.
// If the launcher is killed, the worker notices (IPC disconnect), cleans up and exits.

const WORKER_ENV = "MFCD_DEMO_WORKER";

function launch(): void {
  if (!requireRoot()) process.exit(1);
  if (!inGuest()) {
    const lacks = guestReason();
    if (lacks !== undefined) return launchInGuest(lacks);
  }
  const worker = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    cwd: REPO_ROOT, // where `--import tsx` is resolved
    // The IPC channel only tells the worker when the launcher dies (it then cleans up and exits).
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    env: { ...process.env, [WORKER_ENV]: "1" },
  });
  // A terminal's Ctrl-C reaches the worker itself; it ignores the forwarded duplicate.
  for (const sig of SIGNALS) process.on(sig, () => worker.kill(sig));
  worker.once("error", (err) => {
    process.stderr.write(`demo: cannot start ${process.execPath}: ${err.message}\n`);
    process.exit(1);
  });
  worker.once("exit", (code, signal) => {
    process.exit(code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0)));
  });
}

/** Why the lab must run in a user-mode Linux guest, or undefined to run it on this kernel. */
function guestReason(): string | undefined {
  const runner = kernelRunner();
  if (runner === "host") return undefined;
  const host = probeHostKernel();
  if (runner === "uml") return `${KERNEL_RUNNER_VARIABLE}=uml`;
  return host.has.has("ipv4") ? undefined : `this kernel (${host.release}) lacks ${host.lacks.get("ipv4")}`;
}

// The same demo, launcher and all, inside a guest that sees this machine's files; Ctrl-C here
// reaches it through run-in-guest.sh (same process group), which stops the guest afterwards.
function launchInGuest(why: string): void {
  out(`demo: ${why} — running the lab inside a user-mode Linux kernel (scripts/uml; the first run on a machine builds it, 12–25 min)`);
  const guest = spawn(path.join(REPO_ROOT, "scripts/uml/run-in-guest.sh"), [process.execPath, "--import", "tsx", fileURLToPath(import.meta.url)], {
    cwd: REPO_ROOT,
    stdio: "inherit",
  });
  for (const sig of SIGNALS) process.on(sig, () => guest.kill(sig));
  guest.once("error", (err) => {
    process.stderr.write(`demo: cannot start the user-mode Linux guest: ${err.message}\n`);
    process.exit(1);
  });
  guest.once("exit", (code, signal) => {
    process.exit(code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0)));
  });
}

if (process.env[WORKER_ENV] === "1") runWorker();
else launch();

function runWorker(): void {
  main().then(
    (code) => {
      if (!state.interrupted) process.exit(code); // else the signal handler finishes and exits
    },
    async (err: unknown) => {
      if (state.interrupted) return; // the signal handler cleans up and exits
      out();
      out(`ERROR: ${errText(err)}`);
      const tail = state.daemon?.logTail(6) ?? [];
      if (tail.length > 0) {
        out("  mfcd log (last lines):");
        for (const l of tail) out(`    ${l}`);
      }
      await teardownQuietly();
      const left = listNetns().filter((n) => n.startsWith(ownPrefix));
      out(`FAIL: demo aborted by the error above; ${left.length === 0 ? "cleaned up" : `left behind: ${left.join(", ")}`}`);
      process.exit(1);
    },
  );
}

// What a restart costs a live stream (issue 12): a numbered stream at ~1000 datagrams/s through
// one route while N other routes are installed, across three ways of restarting mfcd, side by
// side in one run:
//   - kill -9 + immediate restart: the routes stay in the kernel (static), the new mfcd adopts
//     them; forwarding stops only until its MRT_INIT;
//   - SIGUSR2 (planned restart) + immediate restart: the same, from a clean exit;
//   - SIGTERM + immediate restart: mfcd removes its routes, the new one writes them all again —
//     what every restart did before adoption (and what kill -9 did: the kernel dropped them);
//   - the in-place upgrade (Stop{upgrade}: re-exec in the same process, sockets kept open);
//   - a restart under systemd's fd store (test/helpers/fd-store.ts stands in for systemd):
//     SIGTERM, then the next mfcd gets the stored MRT_INIT socket back.
// For each: datagrams lost (sequence numbers missing at the receiver), the restart's spawn →
// SERVING time, and whether the streamed route's kernel counter went on or started over.
//
//   npx tsx bench/restart-gap.ts [N=10000] [ROUNDS=3]     (root; in a user-mode guest: scripts/uml/run-in-guest.sh)
import { createLab } from "../test/helpers/lab.js";
import { startMfcd, tempSocketPath, type MfcdProcess, type SpawnMfcdOptions } from "../test/helpers/mfcd-process.js";
import { FdStore } from "../test/helpers/fd-store.js";
import { startReceiver, startStream, waitFor } from "../test/helpers/traffic.js";
import { benchRoutes } from "./mfcd.js";
import { median } from "./lib/stats.js";

type Way = "SIGKILL" | "SIGUSR2" | "SIGTERM" | "UPGRADE" | "FDSTORE";
const WAYS: Way[] = ["SIGKILL", "SIGUSR2", "SIGTERM", "UPGRADE", "FDSTORE"];
const G = "239.77.7.7";

interface Round {
  lost: number;
  sent: number;
  restartMs: number;
  /** The new mfcd's MRT_INIT, ms after its process started (its "serving" log line). */
  mrtInitMs: number;
  countersContinued: boolean;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 10_000);
  const rounds = Number(process.argv[3] ?? 3);
  const lab = await createLab({ receivers: 1 });
  const socketPath = tempSocketPath();
  const results = new Map<Way, Round[]>(WAYS.map((w) => [w, []]));
  let mfcd: MfcdProcess | undefined;
  // Every mfcd runs under the stand-in fd store; only the FDSTORE way hands the sockets back.
  const store = new FdStore();
  try {
    mfcd = await startMfcd(lab.router, { socketPath, args: ["--max-routes", String(n + 10)] });
    const filler = benchRoutes(n).map((r) => ({ ...r, iif: "in0", oifs: ["out1"] }));
    await mfcd.client.applyRoutes({ routes: filler, owner: "filler" });
    await mfcd.client.addRoute({ route: { source: lab.addrs.source, group: G, iif: "in0", oifs: ["out1"] } });
    for (let r = 0; r < rounds; r++) {
      for (const way of WAYS) {
        const { round, next } = await restartUnderStream(lab, mfcd, way, socketPath, n, store);
        mfcd = next;
        results.get(way)?.push(round);
        process.stderr.write(`round ${r + 1} ${way}: lost ${round.lost}/${round.sent}, restart ${round.restartMs.toFixed(0)} ms (MRT_INIT at ${round.mrtInitMs} ms), counters ${round.countersContinued ? "continued" : "restarted"}\n`);
      }
    }
  } finally {
    await mfcd?.stop();
    store.close();
    await lab.cleanup();
  }
  console.log(`| restart (${n} other routes, ~1000 datagrams/s, median of ${rounds}) | datagrams lost | spawn → SERVING [ms] | process start → MRT_INIT [ms] | counter |`);
  console.log("|---|---|---|---|---|");
  const label: Record<Way, string> = {
    SIGKILL: "kill -9, restart at once (adopts)",
    SIGUSR2: "SIGUSR2 (planned), restart at once (adopts)",
    SIGTERM: "SIGTERM, restart at once (writes every route again: the old behaviour)",
    UPGRADE: "in-place upgrade (Stop{upgrade}: re-exec, sockets kept)",
    FDSTORE: "systemd fd store: SIGTERM, restart handed the stored socket",
  };
  for (const way of WAYS) {
    const rs = results.get(way) ?? [];
    const cont = rs.every((x) => x.countersContinued) ? "continues" : rs.some((x) => x.countersContinued) ? "mixed" : "starts over";
    const med = (f: (x: Round) => number) => median(rs.map(f)).toFixed(0);
    console.log(`| ${label[way]} | ${med((x) => x.lost)} | ${med((x) => x.restartMs)} | ${med((x) => x.mrtInitMs)} | ${cont} |`);
  }
}

async function restartUnderStream(
  lab: Awaited<ReturnType<typeof createLab>>,
  mfcd: MfcdProcess,
  way: Way,
  socketPath: string,
  n: number,
  store: FdStore,
): Promise<{ round: Round; next: MfcdProcess }> {
  const args = ["--max-routes", String(n + 10)];
  // The fd-store way restarts an mfcd that runs under the store: switched to one before the stream.
  if (way === "FDSTORE") {
    await mfcd.stop("SIGUSR2");
    mfcd = await startMfcd(lab.router, { socketPath, args, env: store.env() });
  }
  const rx = await startReceiver(lab.receivers[0]!, { group: G, port: 5000, ifaceAddr: lab.addrs.receivers[0]! });
  const stream = await startStream(lab.source, { group: G, port: 5000, ttl: 8, ifaceAddr: lab.addrs.source, intervalMs: 1, durationMs: 120_000 });
  await rx.waitForCount(500);
  const packets = async (m: MfcdProcess) =>
    (await m.client.listRoutes({})).routes.find((x) => x.route?.group === G)?.counters?.packets ?? 0n;
  const before = await packets(mfcd);
  const t0 = performance.now();
  let next: MfcdProcess;
  if (way === "UPGRADE") {
    await mfcd.client.stop({ upgrade: true });
    const servings = () => (mfcd.stderr().match(/"msg":"serving"/g) ?? []).length;
    const had = servings();
    await waitFor(() => servings() > had, { timeoutMs: 120_000, message: "serving again after the upgrade" });
    await waitFor(async () => (await mfcd.client.health().catch(() => "")) === "SERVING", { timeoutMs: 30_000 });
    next = mfcd;
  } else {
    await mfcd.stop(way === "FDSTORE" ? "SIGTERM" : way);
    const handed: Pick<SpawnMfcdOptions, "env" | "wrapper" | "passFds"> = way === "FDSTORE" ? store.handBack() : {};
    next = await startMfcd(lab.router, { socketPath, args, ...handed });
  }
  const restartMs = performance.now() - t0;
  const after = await packets(next);
  const serving = next.stderr().split("\n").filter((l) => l.includes('"msg":"serving"')).at(-1);
  const mrtInitMs = Number((JSON.parse(serving ?? "{}") as { mrtInitMs?: number }).mrtInitMs ?? NaN);
  const resumed = rx.count;
  await waitFor(() => rx.count >= resumed + 500, { timeoutMs: 30_000, message: "stream resumed" });
  const { sent } = await stream.stop();
  await waitFor(() => rx.count >= sent - 10_000, { timeoutMs: 1000 }).catch(() => undefined);
  const got = await rx.stop();
  const seqs = new Set(got.seqs);
  const last = Math.max(...got.seqs);
  let lost = 0;
  for (let i = Math.min(...got.seqs); i <= last; i++) if (!seqs.has(i)) lost++;
  if (way === "FDSTORE") {
    // Back to a plain mfcd for the next round; the store lets go of its copy.
    await next.stop("SIGUSR2");
    store.release();
    next = await startMfcd(lab.router, { socketPath, args });
  }
  return { round: { lost, sent, restartMs, mrtInitMs, countersContinued: after >= before }, next };
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

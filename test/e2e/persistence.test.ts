// kernel-needs: ipv4
// End-to-end: mfcd's state file across crashes and restarts (issue 3, "Route lifecycle").
//
//   src —in0— router (mfcd, --state-file <tmp>/mfcd.state) —out1— rcv1
//                                                          —out2— rcv2
//
// SIGKILL leaves mfcd's VIFs and MFC entries in the kernel (written static, they outlive its
// MRT_INIT socket) but nothing forwards until an mfcd holds MRT_INIT again; a restart with the
// same --state-file adopts exactly the acknowledged routes — no write, counters continue — and
// removes what was never acknowledged. Also:
// a damaged state file is refused without being touched, --reset-state keeps it aside, the
// default state path is per network namespace, and `--state-file none` writes nothing.
//
// One lab for the file; each test runs its own daemons (stopped in afterEach).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MfcError, RouteState, Status, type MfcClient } from "../../src/sdk/index.js";
import { loadStateFile } from "../../src/state/load-state-file.js";
import { createLab, type Lab } from "../helpers/lab.js";
import {
  kernelRoute,
  kernelRoutes,
  kernelRouteTuples,
  kernelVifs,
  listedRouteTuples,
  REPO_ROOT,
  routeTuples,
  spawnMfcd,
  startMfcd,
  StopList,
  tempSocketPath,
  type MfcdProcess,
  type RouteTuple,
} from "../helpers/mfcd-process.js";
import { netstat } from "../helpers/kernel-view.js";
import { addNetns, delNetns, execIn, ip, ipBatch, onProcessExit, uniqueName } from "../helpers/netns.js";
import { sendMulticast, settle, startReceiver, startStream, waitFor, type Receiver } from "../helpers/traffic.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;

let lab: Lab;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 2 });
});
afterEach(async () => {
  await stops.stopAll();
});
afterAll(async () => {
  await stops.stopAll();
  await lab?.cleanup();
});

const src = () => lab.addrs.source;
const route = (group: string, oifs: string[], iif = "in0"): RouteTuple => ({ source: src(), group, iif, oifs });

async function receiver(i: number, group: string): Promise<Receiver> {
  return stops.add(
    await startReceiver(lab.receivers[i - 1]!, { group, port: PORT, ifaceAddr: lab.addrs.receivers[i - 1]! }),
  );
}

/** Packets received on `iface` in `ns` (the link's own counter, independent of the MFC). */
async function rxPackets(ns: string, iface: string): Promise<number> {
  const [link] = JSON.parse(await ip(["-s", "-j", "link", "show", "dev", iface], ns)) as {
    stats64: { rx: { packets: number } };
  }[];
  if (!link) throw new Error(`no link ${iface} in ${ns}`);
  return link.stats64.rx.packets;
}

/** The receivers' counts once they stopped changing (unchanged over 200 ms, scaled by bound()). */
async function settledCounts(rs: readonly Receiver[]): Promise<number[]> {
  let last = rs.map((r) => r.count);
  const counts = await waitFor<number[] | false>(
    async () => {
      await settle(bound(200));
      const now = rs.map((r) => r.count);
      const stable = now.every((c, i) => c === last[i]);
      last = now;
      return stable && now;
    },
    { timeoutMs: 10_000, message: () => `receiver counts keep changing: ${JSON.stringify(last)}` },
  );
  return counts || [];
}

/** A fresh temporary directory, removed at process exit. */
function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onProcessExit(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** mulberry32: a small seeded PRNG, so a failing random run can be replayed (MFCD_TEST_SEED). */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const same = (a: RouteTuple | undefined, b: RouteTuple | undefined): boolean =>
  JSON.stringify(a === undefined ? null : routeTuples([a])[0]) === JSON.stringify(b === undefined ? null : routeTuples([b])[0]);

describe("state file: restart after kill -9 (real kernel, real traffic)", () => {
  it("kill -9 under a live stream: forwarding stops; the restart adopts every acknowledged route in place (counters continue) and the stream flows again", async () => {
    const socketPath = tempSocketPath(); // reused by the restart, and with it <dir>/mfcd.state
    const first = stops.add(await startMfcd(lab.router, { socketPath }));
    expect(first.statePath).toBe(path.join(path.dirname(socketPath), "mfcd.state"));

    const [G1, G2, G3] = ["239.31.0.1", "239.31.0.2", "239.31.0.3"];
    for (const r of [route(G1, ["out1", "out2"]), route(G2, ["out1"]), route(G3, ["out2"])]) {
      const res = await first.client.addRoute({ route: r });
      expect(res.route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    }
    await first.client.delRoute({ source: src(), group: G3 });
    const acknowledged = routeTuples([route(G1, ["out1", "out2"]), route(G2, ["out1"])]);
    expect(await kernelRouteTuples(lab.router)).toEqual(acknowledged);

    const [r1g1, r2g1, r1g2, r2g3] = await Promise.all([receiver(1, G1), receiver(2, G1), receiver(1, G2), receiver(2, G3)]);
    for (const G of [G1, G2, G3]) {
      stops.add(await startStream(lab.source, { group: G, port: PORT, ttl: 8, ifaceAddr: src(), intervalMs: 5, durationMs: bound(50_000) }));
    }
    const flowing = [r1g1, r2g1, r1g2];
    await Promise.all(flowing.map((r) => r.waitForCount(20)));

    // kill -9: the entries and VIFs stay in the kernel (static), with their counters.
    const vifsBefore = (await kernelVifs(lab.router)).map((v) => `${v.vif} ${v.name}`);
    const countedBefore = new Map((await first.client.listRoutes({})).routes.map((r) => [r.route!.group, r.counters?.packets ?? 0n]));
    expect(await first.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    expect(await kernelRouteTuples(lab.router)).toEqual(acknowledged);
    expect((await kernelVifs(lab.router)).map((v) => `${v.vif} ${v.name}`)).toEqual(vifsBefore);
    // Forwarding stopped: the router keeps receiving the three streams on in0, the receivers get
    // none of it. (First let the receivers report what was forwarded before the kill.)
    const frozen = await settledCounts(flowing);
    const rx0 = await rxPackets(lab.router, "in0");
    await waitFor(async () => (await rxPackets(lab.router, "in0")) >= rx0 + 90, { message: "streams reach the router" });
    expect(await settledCounts(flowing), "nothing forwarded while no mfcd runs").toEqual(frozen);

    // Restart with the same state file.
    const second = stops.add(await startMfcd(lab.router, { socketPath }));
    expect(second.statePath).toBe(first.statePath);
    const { routes } = await second.client.listRoutes({});
    expect(routeTuples(routes.map((r) => r.route!))).toEqual(acknowledged);
    for (const r of routes) {
      expect(r.state, `${r.route?.group}: ${r.reason}`).toBe(RouteState.ROUTE_STATE_INSTALLED);
      expect(r.owner).toBe("api");
    }
    expect(await kernelRouteTuples(lab.router)).toEqual(acknowledged);
    expect((await kernelVifs(lab.router)).map((v) => `${v.vif} ${v.name}`), "same VIF indexes").toEqual(vifsBefore);
    // Adopted, not re-added: the kernel counted every packet of the gap on the same entries.
    const restoredLine = second.stderr().split("\n").find((l) => l.includes('"msg":"routes restored"'));
    expect(JSON.parse(restoredLine ?? "{}")).toMatchObject({ installed: 2, adopted: 2, removedLeftovers: 0 });
    const counted = new Map(routes.map((r) => [r.route!.group, r.counters?.packets ?? 0n]));
    for (const G of [G1, G2]) {
      expect(countedBefore.get(G)!).toBeGreaterThan(0n);
      expect(counted.get(G)!, `${G}: counters continue across the restart`).toBeGreaterThanOrEqual(countedBefore.get(G)!);
    }

    // The streams are delivered again; the deleted route did not come back.
    await Promise.all(flowing.map((r, i) => r.waitForCount(frozen[i]! + 20)));
    expect(r2g3.count, "G3 was deleted before the crash: never forwarded").toBe(0);
    expect((await kernelRouteTuples(lab.router)).map((r) => r.group)).not.toContain(G3);
    const got = await Promise.all([r1g1, r2g1, r1g2, r2g3].map((r) => r.stop()));
    expect(got[3]!.count).toBe(0);
    for (const g of got.slice(0, 3)) expect(g.count).toBeGreaterThanOrEqual(40);
  });

  it("SIGTERM leaves no route behind; SIGUSR2, SIGTERM under --keep-forwarding and Stop{keep_forwarding} leave them for the next mfcd, which adopts them", async () => {
    const socketPath = tempSocketPath();
    const G = "239.31.1.1";
    const one = routeTuples([route(G, ["out1"])]);
    const restoredLine = (m: { stderr(): string }) =>
      JSON.parse(m.stderr().split("\n").find((l) => l.includes('"msg":"routes restored"')) ?? "{}") as Record<string, unknown>;
    const first = stops.add(await startMfcd(lab.router, { socketPath }));
    await first.client.addRoute({ route: route(G, ["out1"]) });
    expect(await first.stop("SIGUSR2")).toEqual({ code: 0, signal: null });
    expect(await kernelRouteTuples(lab.router), "SIGUSR2 keeps forwarding state").toEqual(one);

    const second = stops.add(await startMfcd(lab.router, { socketPath, args: ["--keep-forwarding"] }));
    expect(restoredLine(second)).toMatchObject({ installed: 1, adopted: 1 });
    expect(await second.stop()).toEqual({ code: 0, signal: null });
    expect(await kernelRouteTuples(lab.router), "SIGTERM under --keep-forwarding keeps it").toEqual(one);

    // The Stop RPC (mfcctl stop --keep-forwarding) does what SIGUSR2 does.
    const third = stops.add(await startMfcd(lab.router, { socketPath }));
    expect(restoredLine(third)).toMatchObject({ installed: 1, adopted: 1 });
    expect(await third.client.stop({ keepForwarding: true })).toEqual({});
    expect(await third.exitWithin()).toEqual({ code: 0, signal: null });
    expect(await kernelRouteTuples(lab.router), "Stop{keep_forwarding} keeps it").toEqual(one);

    const fourth = stops.add(await startMfcd(lab.router, { socketPath }));
    expect(restoredLine(fourth)).toMatchObject({ installed: 1, adopted: 1 });
    expect(await fourth.stop()).toEqual({ code: 0, signal: null });
    expect(await kernelRoutes(lab.router), "a plain SIGTERM removes the static entries").toEqual([]);
    expect(await kernelVifs(lab.router), "... and the static VIFs").toEqual([]);
  });

  it("--keep-forwarding needs a state file", async () => {
    const run = spawnMfcd(lab.router, { socketPath: tempSocketPath(), args: ["--keep-forwarding", "--state-file", "none"] });
    expect(await run.exited).toMatchObject({ code: 2 });
    expect(run.stderr()).toMatch(/--keep-forwarding needs a state file/);
  });

  it("an oif deleted while no mfcd runs: after the restart, the interface that takes its VIF index never gets the old route's traffic", async () => {
    // Leaves of our own (the lab's out1/out2 stay for the other tests): router end <name>, leaf eth0.
    const leaves: string[] = [];
    stops.add({ stop: async () => void (await Promise.all(leaves.map((ns) => delNetns(ns)))) });
    const leaf = async (routerIf: string, n: number) => {
      const ns = uniqueName("leaf");
      await addNetns(ns);
      leaves.push(ns);
      const [routerAddr, addr] = [`10.${lab.k}.${n}.1`, `10.${lab.k}.${n}.2`];
      await ip(["link", "add", routerIf, "type", "veth", "peer", "name", "eth0", "netns", ns], lab.router);
      await ipBatch([`addr add ${routerAddr}/24 dev ${routerIf}`, `link set ${routerIf} multicast on up`], lab.router);
      await ipBatch(["link set lo up", `addr add ${addr}/24 dev eth0`, "link set eth0 multicast on up", `route add default via ${routerAddr} dev eth0`], ns);
      return { ns, addr, routerIf };
    };
    const behind = async (l: { ns: string; addr: string }, group: string) => stops.add(await startReceiver(l.ns, { group, port: PORT, ifaceAddr: l.addr }));
    const vifOf = async (name: string) => (await kernelVifs(lab.router)).find((v) => v.name === name)?.vif;
    const send = (group: string, count: number) => sendMulticast(lab.source, { group, port: PORT, ttl: 8, ifaceAddr: src(), count, intervalMs: 1 });

    const [A, B] = ["239.31.2.1", "239.31.2.2"];
    const socketPath = tempSocketPath();
    const gone = await leaf("pgone0", 201); // names inside this file's router namespace
    const first = stops.add(await startMfcd(lab.router, { socketPath }));
    await first.client.addRoute({ route: route(A, ["out1", gone.routerIf]) });
    const goneVif = await vifOf(gone.routerIf);
    expect(goneVif).toBeDefined();
    expect(await first.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });

    // While no mfcd runs: the oif goes (the kernel drops its VIF, A's entry keeps the TTL slot),
    // a newcomer appears.
    await ip(["link", "del", gone.routerIf], lab.router);
    const newcomer = await leaf("pnew0", 202);
    const second = stops.add(await startMfcd(lab.router, { socketPath }));
    expect((await second.client.listRoutes({})).routes[0]?.missingInterfaces).toEqual([gone.routerIf]);
    await second.client.addRoute({ route: route(B, [newcomer.routerIf]) });
    const newVif = await vifOf(newcomer.routerIf);
    expect(newVif, "the newcomer takes the index the deleted oif left").toBe(goneVif);
    expect((await kernelRoute(lab.router, src(), A))?.oifs.has(newVif!), "A's entry must not name the newcomer's VIF").toBe(false);

    const [r1, rA, rB] = await Promise.all([receiver(1, A), behind(newcomer, A), behind(newcomer, B)]);
    const before = await netstat(newcomer.ns, "IpExtInMcastPkts");
    await send(A, 20);
    await send(B, 10); // behind A's datagrams on the same path
    await Promise.all([r1.waitForCount(20), rB.waitForCount(10)]);
    expect((await netstat(newcomer.ns, "IpExtInMcastPkts")) - before, "datagrams at the newcomer: B's only").toBe(10);
    expect((await rA.stop()).count).toBe(0);
  });

  it("kill -9 at random moments while clients add, replace and delete: the restart holds exactly the acknowledged state", async () => {
    const seed = Number(process.env.MFCD_TEST_SEED ?? Date.now() % 2 ** 31);
    const rnd = seededRandom(seed);
    const why = `seed ${seed} (MFCD_TEST_SEED=${seed} replays the random choices, not the timing)`;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

    const socketPath = tempSocketPath();
    const ifaces = ["in0", "out1", "out2"];
    const groups = Array.from({ length: 32 }, (_, i) => `239.32.0.${i + 1}`);
    const WORKERS = 4; // each owns the groups i ≡ w (mod 4) and runs one op at a time: a per-key order
    const ROUNDS = 3;

    /** What the daemon acknowledged last, per group (absent = no route). */
    const model = new Map<string, RouteTuple>();
    /** Groups whose op was in flight at the kill: either state is right. */
    const uncertain = new Map<string, [RouteTuple | undefined, RouteTuple | undefined]>();
    const stats = { ops: 0, ok: 0, expectedErrors: 0, inFlight: 0 };

    const randomRoute = (group: string): RouteTuple => {
      const iif = pick(ifaces);
      const others = ifaces.filter((i) => i !== iif);
      const oifs = rnd() < 0.5 ? others : [pick(others)];
      return route(group, oifs, iif);
    };

    async function worker(client: MfcClient, mine: string[], killed: () => boolean): Promise<void> {
      while (!killed()) {
        const group = pick(mine);
        const before = model.get(group);
        const r = rnd();
        let after: RouteTuple | undefined;
        let expectCode: Status | undefined; // undefined = OK
        let call: () => Promise<unknown>;
        if (r < 0.35) {
          after = undefined;
          if (!before) expectCode = Status.NOT_FOUND;
          call = () => client.delRoute({ source: src(), group });
        } else {
          const spec = randomRoute(group);
          const replace = r > 0.7;
          after = spec;
          if (!replace && before && !same(before, spec)) {
            // Another iif for the same (S,G) cannot share the table (one kernel entry per (S,G)).
            expectCode = before.iif !== spec.iif ? Status.FAILED_PRECONDITION : Status.ALREADY_EXISTS;
            after = before;
          }
          call = () => client.addRoute({ route: spec, replace });
        }
        stats.ops++;
        try {
          await call();
          if (expectCode !== undefined) throw new Error(`${group}: OK, expected ${Status[expectCode]}; ${why}`);
          stats.ok++;
        } catch (err) {
          if (err instanceof MfcError && err.code === expectCode) {
            stats.expectedErrors++;
            continue;
          }
          if (killed() && err instanceof MfcError && (err.code === Status.UNAVAILABLE || err.code === Status.CANCELLED)) {
            // In flight when mfcd died: it may or may not have become durable.
            uncertain.set(group, [before, after]);
            stats.inFlight++;
            return;
          }
          throw err;
        }
        if (after) model.set(group, after);
        else model.delete(group);
      }
    }

    async function checkRestored(mfcd: MfcdProcess): Promise<void> {
      const listed = await mfcd.client.listRoutes({});
      const actual = new Map(routeTuples(listed.routes.map((r) => r.route!)).map((t) => [t.group, t]));
      const wrong: string[] = [];
      for (const group of groups) {
        const a = actual.get(group);
        const options = uncertain.get(group) ?? [model.get(group)];
        if (!options.some((o) => same(o, a))) {
          wrong.push(`${group}: restored ${JSON.stringify(a ?? null)}, acknowledged ${options.map((o) => JSON.stringify(o ?? null)).join(" or ")}`);
        }
      }
      expect(wrong, why).toEqual([]);
      for (const r of listed.routes) expect(r.state, `${r.route?.group}: ${r.reason}; ${why}`).toBe(RouteState.ROUTE_STATE_INSTALLED);
      expect(await kernelRouteTuples(lab.router), `kernel == ListRoutes; ${why}`).toEqual([...actual.values()]);
      // From here on the restored state is what the daemon holds.
      for (const group of uncertain.keys()) {
        const a = actual.get(group);
        if (a) model.set(group, a);
        else model.delete(group);
      }
      uncertain.clear();
    }

    for (let round = 0; round < ROUNDS; round++) {
      const mfcd = stops.add(await startMfcd(lab.router, { socketPath }));
      await checkRestored(mfcd);
      let killed = false;
      const loops = Array.from({ length: WORKERS }, (_, w) =>
        worker(
          mfcd.client,
          groups.filter((_, i) => i % WORKERS === w),
          () => killed,
        ),
      );
      // Kill after a random number of operations, at a random point of the event loop.
      const target = stats.ops + 100 + Math.floor(rnd() * 400);
      const failed = Promise.race(loops.map((l) => l.then(() => new Promise<never>(() => undefined))));
      await Promise.race([waitFor(() => stats.ops >= target, { timeoutMs: 30_000, intervalMs: 1 }), failed]);
      await settle(Math.floor(rnd() * 3));
      killed = true;
      expect(await mfcd.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
      await Promise.all(loops);
    }
    const last = stops.add(await startMfcd(lab.router, { socketPath }));
    await checkRestored(last);
    expect(stats.ok, why).toBeGreaterThan(ROUNDS * 50);
    console.info(`[persistence] random kills: ${JSON.stringify(stats)}, ${model.size} routes at the end, ${why}`);
  });
});

describe("state file: damage and reset", () => {
  it("a corrupt middle line: exit non-zero naming file and line, file untouched; --reset-state starts empty and keeps it aside", async () => {
    const socketPath = tempSocketPath();
    const statePath = path.join(path.dirname(socketPath), "mfcd.state");
    const mfcd = stops.add(await startMfcd(lab.router, { socketPath }));
    for (const [g, oifs] of [["239.33.0.1", ["out1"]], ["239.33.0.2", ["out2"]], ["239.33.0.3", ["out1", "out2"]]] as const) {
      await mfcd.client.addRoute({ route: route(g, [...oifs]) });
    }
    expect(await mfcd.stop()).toEqual({ code: 0, signal: null });

    const lines = fs.readFileSync(statePath, "utf8").split("\n");
    expect(lines.length, "header, three records, final newline").toBe(5);
    lines[2] = '{"put":{"family":"ipv4","table":0,"source":"10.0.0.1",<<garbage>>';
    const corrupt = Buffer.from(lines.join("\n"));
    fs.writeFileSync(statePath, corrupt);
    const mtime = fs.statSync(statePath).mtimeMs;

    const refused = stops.add(spawnMfcd(lab.router, { socketPath }));
    const status = await refused.exitWithin();
    expect(status.code, refused.stderr()).not.toBe(0);
    expect(status.code).not.toBeNull();
    expect(refused.stderr()).toContain(statePath);
    expect(refused.stderr()).toMatch(/line 3\b/);
    expect(refused.stderr()).toContain("not valid JSON");
    expect(fs.readFileSync(statePath).equals(corrupt), "the damaged file is left exactly as it was").toBe(true);
    expect(fs.statSync(statePath).mtimeMs).toBe(mtime);
    expect(fs.readdirSync(path.dirname(statePath)).filter((f) => f !== "mfcd.sock")).toEqual(["mfcd.state"]);
    // It refused before taking the kernel table.
    expect(await kernelVifs(lab.router)).toEqual([]);
    expect(await kernelRoutes(lab.router)).toEqual([]);

    const reset = stops.add(await startMfcd(lab.router, { socketPath, args: ["--reset-state"] }));
    expect(await reset.client.health()).toBe("SERVING");
    expect((await reset.client.listRoutes({})).routes).toEqual([]);
    expect(await kernelRoutes(lab.router)).toEqual([]);
    const aside = fs.readdirSync(path.dirname(statePath)).filter((f) => f.startsWith("mfcd.state.bad-"));
    expect(aside).toHaveLength(1);
    const asidePath = path.join(path.dirname(statePath), aside[0]!);
    expect(fs.readFileSync(asidePath).equals(corrupt), "the old bytes are kept aside").toBe(true);
    expect(reset.stderr()).toContain(asidePath);

    // The fresh file works: a route added now survives the next restart (without --reset-state).
    const kept = route("239.33.0.9", ["out2"]);
    await reset.client.addRoute({ route: kept });
    expect(routeTuples(loadStateFile(statePath).routes)).toEqual(routeTuples([kept]));
    expect(await reset.stop()).toEqual({ code: 0, signal: null });
    const again = stops.add(await startMfcd(lab.router, { socketPath }));
    expect(await listedRouteTuples(again.client)).toEqual(routeTuples([kept]));
    expect(await kernelRouteTuples(lab.router)).toEqual(routeTuples([kept]));
    expect(fs.readFileSync(asidePath).equals(corrupt)).toBe(true);
  });
});

describe("state file: where it lives", () => {
  it("defaultStatePath() differs per network namespace (ip netns name), and mfcd's default follows it", async () => {
    const [nsA, nsB] = lab.receivers as [string, string];
    const env = { ...process.env };
    delete env.STATE_DIRECTORY;
    const printDefault = async (ns: string, e: NodeJS.ProcessEnv) => {
      const mod = path.join(REPO_ROOT, "src/state/default-state-path.ts");
      const code = `const m = await import(${JSON.stringify(mod)}); console.log(m.defaultStatePath());`;
      return (
        await execIn(ns, [process.execPath, "--import", "tsx", "--input-type=module", "-e", code], { env: e })
      ).trim();
    };
    const [a, b] = await Promise.all([printDefault(nsA, env), printDefault(nsB, env)]);
    expect(a).toBe(`/var/lib/mfcd/${nsA}.state`);
    expect(b).toBe(`/var/lib/mfcd/${nsB}.state`);
    expect(a).not.toBe(b);

    // The real daemon without --state-file, its directory redirected by $STATE_DIRECTORY (never
    // /var/lib/mfcd in a test): one file per namespace, each with only its own routes.
    const dir = tempDir("mfcd-e2e-statedir-");
    const withDir = { ...env, STATE_DIRECTORY: dir };
    expect(await printDefault(nsA, withDir)).toBe(path.join(dir, `${nsA}.state`));
    const [dA, dB] = await Promise.all(
      [nsA, nsB].map(async (ns) => stops.add(await startMfcd(ns, { stateFile: null, env: withDir }))),
    );
    expect(dA!.statePath).toBeUndefined();
    // Interfaces that do not exist there: accepted as PENDING and persisted all the same.
    const rA = { source: "10.99.0.1", group: "239.34.0.1", iif: "eth0", oifs: ["nowhere1"] };
    const rB = { source: "10.99.0.2", group: "239.34.0.2", iif: "eth0", oifs: ["nowhere2"] };
    await dA!.client.addRoute({ route: rA });
    await dB!.client.addRoute({ route: rB });
    await Promise.all([dA!.stop(), dB!.stop()]);
    expect(fs.readdirSync(dir).sort()).toEqual([`${nsA}.state`, `${nsB}.state`].sort());
    expect(routeTuples(loadStateFile(path.join(dir, `${nsA}.state`)).routes)).toEqual(routeTuples([rA]));
    expect(routeTuples(loadStateFile(path.join(dir, `${nsB}.state`)).routes)).toEqual(routeTuples([rB]));
  });

  it("--state-file none writes nothing, and a restart starts empty", async () => {
    const dir = tempDir("mfcd-e2e-statedir-");
    const env = { ...process.env, STATE_DIRECTORY: dir }; // where mfcd's default would write
    const socketPath = tempSocketPath();
    const run = () => startMfcd(lab.router, { socketPath, env, args: ["--state-file", "none"] });
    const mfcd = stops.add(await run());
    expect(mfcd.statePath).toBeUndefined();
    await mfcd.client.addRoute({ route: route("239.35.0.1", ["out1"]) });
    await mfcd.client.addRoute({ route: route("239.35.0.2", ["out2"]) });
    await mfcd.client.addRoute({ route: route("239.35.0.2", ["out1", "out2"]), replace: true });
    await mfcd.client.delRoute({ source: src(), group: "239.35.0.1" });
    expect(await kernelRouteTuples(lab.router)).toEqual(routeTuples([route("239.35.0.2", ["out1", "out2"])]));
    // Crash, then start again: nothing was kept anywhere.
    expect(await mfcd.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(fs.readdirSync(path.dirname(socketPath)).filter((f) => f !== "mfcd.sock")).toEqual([]);
    const again = stops.add(await run());
    expect((await again.client.listRoutes({})).routes).toEqual([]);
    expect(await kernelRoutes(lab.router)).toEqual([]);
    expect(await again.stop()).toEqual({ code: 0, signal: null });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(fs.readdirSync(path.dirname(socketPath))).toEqual([]);
  });
});

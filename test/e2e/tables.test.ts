// kernel-needs: ipv4 tables
// End-to-end: several kernel multicast routing tables in one mfcd (Route.table), traffic steered
// into a table with `ip mrule`, real IPv4 multicast.
//
//   src  eth0 10.K.0.2 ——in0— router (mfcd) —out1— rcv1
//                                           —out2— rcv2
//   xtra p1   10.K.0.2/32 (the same source address!) ——x1—
//        p2   10.K.130.2  ——x2—       x3..x33: spare links (VIF-table filling)
//
// The source address S exists on two input links, so one (S,G) arrives on in0 and on x1. Table 0
// routes it in0 → out1; table 7 (x1's traffic, `ip mrule add iif x1 lookup 7`) x1 → out2; table 9
// (x2's traffic) carries another flow to out1. /proc/net/ip_mr_* show only the default table;
// other tables are read with `ip -s -j mroute show table N`.
//
// One lab and one daemon (its socket path is kept: the last test restarts it with the same
// state file). Each test removes its routes and mrules (afterEach).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RouteState, Status, type MfcClient, type Route } from "../../src/sdk/index.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { kernelRoute, kernelVifs, startMfcd, StopList, tempSocketPath, type MfcdProcess } from "../helpers/mfcd-process.js";
import { ip } from "../helpers/netns.js";
import { sendMulticast, startReceiver, waitFor, type Receiver } from "../helpers/traffic.js";
import { rejection, range } from "../helpers/rejection.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
const PAYLOAD = 64;
const WIRE = BigInt(PAYLOAD + 8 + 20);

let lab: Lab;
let socketPath: string;
let mfcd: MfcdProcess;
const stops = new StopList();
/** `ip mrule` rules this file added in the router ("iif X lookup N"), removed after each test. */
const mrules: string[][] = [];

beforeAll(async () => {
  lab = await createLab({ receivers: 2, extraRouterLinks: 33 });
  // The source address of `src` also on p1: the same (S,G) can arrive on in0 and on x1.
  await ip(["addr", "add", `${lab.addrs.source}/32`, "dev", "p1"], lab.extraPeer);
  socketPath = tempSocketPath();
  mfcd = await startMfcd(lab.router, { socketPath });
});
afterEach(async () => {
  await stops.stopAll();
  for (const rule of mrules.splice(0)) await ip(["mrule", "del", ...rule], lab.router).catch(() => undefined);
  await deleteAll(mfcd.client);
});
afterAll(async () => {
  await stops.stopAll();
  await mfcd?.stop();
  await lab?.cleanup();
});

const S = () => lab.addrs.source;
const G = (n: number) => `239.${lab.k}.70.${n}`;
const r = (source: string, group: string, iif: string, oifs: string[], table = 0): Route => ({
  source,
  group,
  iif,
  oifs,
  oifTtl: {},
  table,
});

async function deleteAll(client: MfcClient): Promise<void> {
  const { routes } = await client.listRoutes({});
  for (const x of routes) {
    if (x.route) await client.delRoute({ source: x.route.source, group: x.route.group, table: x.route.table });
  }
}

/** `ip mrule add iif <iif> lookup <table>` in the router (removed after the test). */
async function steer(iif: string, table: number): Promise<void> {
  const rule = ["iif", iif, "lookup", String(table)];
  await ip(["mrule", "add", ...rule], lab.router);
  mrules.push(rule);
}

interface IpMroute {
  src: string;
  dst: string;
  iif: string;
  multipath?: { oif: string }[];
  packets?: number;
  bytes?: number;
}
/** Resolved entries of one kernel table (any table, unlike /proc), with counters. */
async function tableEntries(table: number): Promise<IpMroute[]> {
  // `table 0` would mean "every table" to ip: the default table is called "default" (253).
  const out = await ip(["-s", "-j", "mroute", "show", "table", table === 0 ? "default" : String(table)], lab.router);
  return (out.trim() === "" ? [] : (JSON.parse(out) as IpMroute[])).filter((e) => e.iif !== "unresolved");
}
const tuple = (e: IpMroute) => [e.src, e.dst, e.iif, (e.multipath ?? []).map((m) => m.oif).sort()];

async function receiver(i: number, group: string): Promise<Receiver> {
  return stops.add(await startReceiver(lab.receivers[i - 1]!, { group, port: PORT, ifaceAddr: lab.addrs.receivers[i - 1]! }));
}

/** Sends from `src` (via in0), or from the xtra namespace via p1 (x1) or p2 (x2). */
function send(from: "in0" | "x1" | "x2", group: string, count: number, firstSeq = 0) {
  const ns = from === "in0" ? lab.source : lab.extraPeer!;
  const ifaceAddr = from === "x2" ? lab.addrs.extraPeers[1]! : S();
  return sendMulticast(ns, { group, port: PORT, ttl: 8, ifaceAddr, count, firstSeq, size: PAYLOAD, intervalMs: 1 });
}



describe("multicast routing tables (real kernel, ip mrule, real traffic)", () => {
  it("the same (S,G) in tables 0 and 7 from different iifs; ip mrule steers x1 to table 7; each table forwards only its own traffic", async () => {
    const g = G(1);
    const t0 = r(S(), g, "in0", ["out1"]);
    const t7 = r(S(), g, "x1", ["out2"], 7);
    expect((await mfcd.client.addRoute({ route: t0 })).route).toMatchObject({ route: t0, state: RouteState.ROUTE_STATE_INSTALLED });
    expect((await mfcd.client.addRoute({ route: t7 })).route).toMatchObject({ route: t7, state: RouteState.ROUTE_STATE_INSTALLED });

    // Within one table an (S,G) has one iif: the refusal points at tables.
    for (const [bad, iif] of [[r(S(), g, "x2", ["out1"], 7), "x1"], [r(S(), g, "x1", ["out2"]), "in0"]] as const) {
      const err = await rejection(mfcd.client.addRoute({ route: bad }));
      expect(err.code).toBe(Status.FAILED_PRECONDITION);
      expect(err.reason).toBe("SG_ON_TWO_IIFS");
      expect(err.metadata).toMatchObject({ source: S(), group: g, iif });
      expect(err.details).toContain(`already routed from ${iif}`);
      expect(err.details).toMatch(/another table \(Route\.table\).*ip mrule/);
    }

    // The kernel holds one entry per table.
    expect((await tableEntries(0)).map(tuple)).toEqual([[S(), g, "in0", ["out1"]]]);
    expect((await tableEntries(7)).map(tuple)).toEqual([[S(), g, "x1", ["out2"]]]);
    expect((await kernelRoute(lab.router, S(), g))?.oifs.size).toBe(1); // /proc: the default table

    const [r1, r2] = await Promise.all([receiver(1, g), receiver(2, g)]);
    // Without an mrule x1's packets are looked up in the default table: wrong iif, not forwarded.
    await send("x1", g, 4, 500);
    await waitFor(async () => (await kernelRoute(lab.router, S(), g))?.counters.wrongIf === 4n, {
      message: "4 packets from x1 counted as wrong-iif in table 0",
    });

    await steer("x1", 7);
    await send("in0", g, 20, 0);
    await r1.waitForCount(20);
    await send("x1", g, 15, 1000);
    await r2.waitForCount(15);
    await send("in0", g, 5, 2000); // the marker: x1's burst had its chance to reach rcv1 before it
    await r1.waitForCount(25);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs, "rcv1: only in0's traffic (table 0)").toEqual([...range(0, 20), ...range(2000, 2005)]);
    expect(got2.seqs, "rcv2: only x1's traffic after the mrule (table 7)").toEqual(range(1000, 1015));

    // Counters per table: ListRoutes == the kernel's own (ip -s mroute, /proc for table 0).
    const c0 = { packets: 29n, bytes: 29n * WIRE, wrongIf: 4n };
    const c7 = { packets: 15n, bytes: 15n * WIRE, wrongIf: 0n };
    const { routes } = await mfcd.client.listRoutes({});
    expect(routes.map((x) => [x.route?.table, x.route?.iif, x.counters]).sort()).toEqual([
      [0, "in0", c0],
      [7, "x1", c7],
    ]);
    expect((await kernelRoute(lab.router, S(), g))?.counters).toEqual(c0);
    expect((await tableEntries(7)).map((e) => [e.packets, e.bytes])).toEqual([[15, Number(c7.bytes)]]);

    // WatchStats carries the table of each route.
    const controller = new AbortController();
    let first;
    for await (const msg of mfcd.client.watchStats({ group: g, intervalMs: 100 }, { signal: controller.signal })) {
      first = msg;
      break;
    }
    controller.abort();
    expect(first?.routes.map((x) => [x.table, x.source, x.group, x.iif, x.counters]).sort()).toEqual([
      [0, S(), g, "in0", c0],
      [7, S(), g, "x1", c7],
    ]);

    // DelRoute with a table deletes there only.
    await mfcd.client.delRoute({ source: S(), group: g, table: 7 });
    expect(await tableEntries(7)).toEqual([]);
    expect((await tableEntries(0)).map(tuple)).toEqual([[S(), g, "in0", ["out1"]]]);
    expect((await mfcd.client.listRoutes({})).routes.map((x) => [x.route?.table, x.route?.iif])).toEqual([[0, "in0"]]);
    const gone = await rejection(mfcd.client.delRoute({ source: S(), group: g, table: 7 }));
    expect(gone.code).toBe(Status.NOT_FOUND);
    const notThere = await rejection(mfcd.client.delRoute({ source: S(), group: g, table: 9 }));
    expect(notThere.code).toBe(Status.NOT_FOUND);
    expect((await tableEntries(0)).map(tuple)).toEqual([[S(), g, "in0", ["out1"]]]);
  });

  it("each table has its own 32 VIFs: table 7 full (33rd → RESOURCE_EXHAUSTED) while tables 0 and 9 still take new VIFs", async () => {
    const xs = (from: number, to: number) => range(from, to + 1).map((j) => `x${j}`);
    const full = r(S(), G(10), "x1", xs(2, 32), 7); // 1 + 31 interfaces = 32 VIFs
    expect((await mfcd.client.addRoute({ route: full })).route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);

    const err = await rejection(mfcd.client.addRoute({ route: r(S(), G(11), "x1", ["x33"], 7) }));
    expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(err.reason).toBe("VIF_TABLE_FULL");
    expect(err.details).toContain("x33");
    // The way out is named: another table, with the mrule that steers the iif there.
    expect(err.details).toMatch(/Another table has its own 32: put the route there \(Route\.table\) and steer its iif with --mrule \/ ip mrule/);

    // The other tables have VIFs of their own, also on the same interfaces.
    const in0 = r(S(), G(11), "x1", ["x33", "x2"]);
    const in9 = r(S(), G(12), "x33", ["x1"], 9);
    expect((await mfcd.client.addRoute({ route: in0 })).route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    expect((await mfcd.client.addRoute({ route: in9 })).route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);

    expect((await tableEntries(7)).map(tuple)).toEqual([[S(), G(10), "x1", xs(2, 32).sort()]]);
    expect((await tableEntries(0)).map(tuple)).toEqual([[S(), G(11), "x1", ["x2", "x33"]]]);
    expect((await tableEntries(9)).map(tuple)).toEqual([[S(), G(12), "x33", ["x1"]]]);
    // /proc/net/ip_mr_vif is the default table's: its own numbering from 0.
    expect((await kernelVifs(lab.router)).map((v) => [v.vif, v.name])).toEqual([[0, "x1"], [1, "x33"], [2, "x2"]]);
    const { vifs } = await mfcd.client.listRoutes({});
    expect(vifs).toHaveLength(32 + 3 + 2);
    expect(vifs.filter((v) => v.interface === "x1").length, "x1 has a VIF in each table").toBe(3);
    expect(Math.max(...vifs.map((v) => v.vif))).toBe(31);

    // Table 0 takes its own 32 too (x1, x33, x2 + x3 … x31), and only then is full itself.
    const fill0 = r(S(), G(13), "x3", xs(4, 31));
    expect((await mfcd.client.addRoute({ route: fill0 })).route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    expect((await kernelVifs(lab.router)).length, "/proc/net/ip_mr_vif: the default table is full").toBe(32);
    const full0 = await rejection(mfcd.client.addRoute({ route: r(S(), G(14), "x1", ["out1"]) }));
    expect(full0.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(full0.reason).toBe("VIF_TABLE_FULL");
    expect((await mfcd.client.listRoutes({})).vifs.length, "32 in table 0, 32 in table 7, 2 in table 9").toBe(32 + 32 + 2);
    await mfcd.client.delRoute({ source: S(), group: G(13) });

    // Table 7 frees VIFs when its route goes; then the 33rd interface fits there too.
    await mfcd.client.delRoute({ source: S(), group: G(10), table: 7 });
    const later = await mfcd.client.addRoute({ route: r(S(), G(11), "x1", ["x33"], 7) });
    expect(later.route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    expect((await tableEntries(7)).map(tuple)).toEqual([[S(), G(11), "x1", ["x33"]]]);
  });

  it("ApplyRoutes carries the table: the same (S,G) in tables 0 and 7 in one set; a later set without table 7's removes it there only", async () => {
    const g = G(40);
    const t0 = r(S(), g, "in0", ["out1"]);
    const t7 = r(S(), g, "x1", ["out2"], 7);
    const first = await mfcd.client.applyRoutes({ owner: "ctl", routes: [t0, t7] });
    expect(first).toMatchObject({ added: 2, removed: 0 });
    expect(first.addedRoutes.map((x) => [x.table, x.iif]).sort()).toEqual([[0, "in0"], [7, "x1"]]);
    expect((await tableEntries(0)).map(tuple)).toEqual([[S(), g, "in0", ["out1"]]]);
    expect((await tableEntries(7)).map(tuple)).toEqual([[S(), g, "x1", ["out2"]]]);
    expect((await mfcd.client.listRoutes({})).routes.map((x) => [x.route?.table, x.owner, x.state]).sort()).toEqual([
      [0, "ctl", RouteState.ROUTE_STATE_INSTALLED],
      [7, "ctl", RouteState.ROUTE_STATE_INSTALLED],
    ]);

    // The same set again changes nothing: each route is matched in its own table.
    expect(await mfcd.client.applyRoutes({ owner: "ctl", routes: [t7, t0] })).toMatchObject({ added: 0, removed: 0, replaced: 0, unchanged: 2 });
    // Table 7's route changes oifs: replaced there; table 0's stays.
    const t7b = r(S(), g, "x1", ["out1", "out2"], 7);
    const second = await mfcd.client.applyRoutes({ owner: "ctl", routes: [t0, t7b] });
    expect(second).toMatchObject({ added: 0, removed: 0, replaced: 1, unchanged: 1 });
    expect(second.replacedRoutes).toEqual([t7b]);
    expect((await tableEntries(7)).map(tuple)).toEqual([[S(), g, "x1", ["out1", "out2"]]]);
    const third = await mfcd.client.applyRoutes({ owner: "ctl", routes: [t0] });
    expect(third).toMatchObject({ added: 0, removed: 1, unchanged: 1 });
    expect(third.removedRoutes).toEqual([t7b]);
    expect(await tableEntries(7)).toEqual([]);
    expect((await tableEntries(0)).map(tuple)).toEqual([[S(), g, "in0", ["out1"]]]);
  });

  it("table 253 (the kernel's id of the default table) → INVALID_ARGUMENT naming route.table; nothing installed", async () => {
    const err = await rejection(mfcd.client.addRoute({ route: r(S(), G(20), "in0", ["out1"], 253) }));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.fieldViolations).toEqual([
      { field: "route.table", description: expect.stringMatching(/253 is the kernel's id of the default ipv4 table: use 0/) },
    ]);
    expect((await mfcd.client.listRoutes({})).routes).toEqual([]);
    expect(await tableEntries(0)).toEqual([]);
  });

  it("restart with the same state file keeps each route in its table, and all three tables forward", async () => {
    const g = G(30);
    const t0 = r(S(), g, "in0", ["out1"]);
    const t7 = r(S(), g, "x1", ["out2"], 7);
    const t9 = r(lab.addrs.extraPeers[1]!, g, "x2", ["out1"], 9);
    for (const x of [t0, t7, t9]) await mfcd.client.addRoute({ route: x });
    await steer("x1", 7);
    await steer("x2", 9);

    expect(await mfcd.stop()).toEqual({ code: 0, signal: null });
    for (const t of [0, 7, 9]) expect(await tableEntries(t), `table ${t} after MRT_DONE`).toEqual([]);

    mfcd = await startMfcd(lab.router, { socketPath });
    const { routes } = await mfcd.client.listRoutes({});
    const key = (x: Route | undefined) => `${x?.table}/${x?.iif}`;
    expect(routes.map((x) => [x.route, x.state]).sort((a, b) => key(a[0] as Route).localeCompare(key(b[0] as Route)))).toEqual([
      [t0, RouteState.ROUTE_STATE_INSTALLED],
      [t7, RouteState.ROUTE_STATE_INSTALLED],
      [t9, RouteState.ROUTE_STATE_INSTALLED],
    ]);
    expect((await tableEntries(0)).map(tuple)).toEqual([[S(), g, "in0", ["out1"]]]);
    expect((await tableEntries(7)).map(tuple)).toEqual([[S(), g, "x1", ["out2"]]]);
    expect((await tableEntries(9)).map(tuple)).toEqual([[lab.addrs.extraPeers[1]!, g, "x2", ["out1"]]]);

    const [r1, r2] = await Promise.all([receiver(1, g), receiver(2, g)]);
    await send("in0", g, 5, 0);
    await r1.waitForCount(5);
    await send("x2", g, 5, 100);
    await r1.waitForCount(10);
    await send("x1", g, 5, 200);
    await r2.waitForCount(5);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs).toEqual([...range(0, 5), ...range(100, 105)]);
    expect(got1.from.sort()).toEqual([S(), lab.addrs.extraPeers[1]!].sort());
    expect(got2.seqs).toEqual(range(200, 205));
    const counters = (await mfcd.client.listRoutes({})).routes.map((x) => [x.route?.table, x.counters?.packets]);
    expect(counters.sort()).toEqual([[0, 5n], [7, 5n], [9, 5n]]);
  });
});

// kernel-needs: ipv4 ipv6 ipv6-tables
// End-to-end: IPv6 (S,G) routes through mfcd — real MRT6 kernel forwarding, real IPv6 UDP
// multicast (hop limit 8) between namespaces.
//
//   src eth0 fd00:0:K::2 —in0 fd00:0:K::1— router (mfcd) —out1— rcv1
//                                                        —out2— rcv2
//
// One lab and one daemon (its socket path is kept, so the last test can restart it with the
// same state file); every test deletes its routes (afterEach), so each starts with empty VIF
// and MIF tables. "Not delivered" is never a wait: a later packet on the same path that does
// arrive (a marker) proves the earlier ones had their chance.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseIp6MrCache, parseIp6MrVif } from "../../src/kernel/mroute/index.js";
import { RouteState, Status, type MfcClient, type Route } from "../../src/sdk/index.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { kernelRoute, kernelVifs, startMfcd, StopList, tempSocketPath, type MfcdProcess } from "../helpers/mfcd-process.js";
import { execIn } from "../helpers/netns.js";
import { sendMulticast, startReceiver, startStream, waitFor } from "../helpers/traffic.js";
import { addIpv6, sendMulticast6, startReceiver6, type Lab6Addrs, type Receiver6 } from "../helpers/traffic6.js";
import { rejection, range } from "../helpers/rejection.js";
import { foreignDelMfc6 } from "../helpers/foreign-mroute.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
const PAYLOAD = 64;
/** Bytes the kernel counts per datagram: payload + UDP header + IPv6 header. */
const WIRE6 = BigInt(PAYLOAD + 8 + 40);

let lab: Lab;
let lab6: Lab6Addrs;
let socketPath: string;
let mfcd: MfcdProcess;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 2 });
  lab6 = await addIpv6(lab);
  socketPath = tempSocketPath(); // the restart test reuses it, and the state file next to it
  mfcd = await startMfcd(lab.router, { socketPath });
});
afterEach(async () => {
  await stops.stopAll();
  await deleteAll(mfcd.client);
});
afterAll(async () => {
  await stops.stopAll();
  await mfcd?.stop();
  await lab?.cleanup();
});

/** Hex lab number: groups and addresses of this lab never collide with another lab's. */
const kx = () => lab.k.toString(16);
/** Canonical (RFC 5952) group n of this lab. */
const g6 = (n: number) => `ff3e::${kx()}:${n.toString(16)}`;
/** The same group spelled the long, upper-case way. */
const g6Long = (n: number) => `FF3E:0000:0:0:0:0:${kx().toUpperCase()}:${n.toString(16).padStart(4, "0")}`;
/** The source spelled non-canonically: FD00:0:K:0::0002 is fd00:0:K::2. */
const srcLong = () => `FD00:0:${kx().toUpperCase()}:0::0002`;
const route6 = (group: string, oifs: string[] = ["out1", "out2"], source = lab6.source): Route => ({
  source,
  group,
  iif: "in0",
  oifs,
  oifTtl: {},
  table: 0,
});

async function deleteAll(client: MfcClient): Promise<void> {
  const { routes } = await client.listRoutes({});
  for (const r of routes) {
    if (r.route) await client.delRoute({ source: r.route.source, group: r.route.group, table: r.route.table });
  }
}

async function receiver6(i: number, group: string): Promise<Receiver6> {
  return stops.add(await startReceiver6(lab.receivers[i - 1]!, { group, port: PORT, iface: lab.receiverIface }));
}

function send6(group: string, count: number, opts: { firstSeq?: number; hops?: number } = {}) {
  return sendMulticast6(lab.source, {
    group,
    port: PORT,
    hops: opts.hops ?? 8,
    source: lab6.source,
    iface: lab.sourceIface,
    count,
    size: PAYLOAD,
    ...(opts.firstSeq === undefined ? {} : { firstSeq: opts.firstSeq }),
  });
}

async function procCache6() {
  return parseIp6MrCache(await execIn(lab.router, ["cat", "/proc/net/ip6_mr_cache"])).filter((e) => !e.unresolved);
}
async function procMifs() {
  return parseIp6MrVif(await execIn(lab.router, ["cat", "/proc/net/ip6_mr_vif"]));
}



describe("IPv6 routes (real kernel, real IPv6 multicast)", () => {
  it("forwards (S,G) to two receivers; addresses come back canonical; ListRoutes counters == /proc/net/ip6_mr_cache", async () => {
    const G = g6(1);
    const N = 30;
    const added = await mfcd.client.addRoute({ route: route6(g6Long(1), ["out1", "out2"], srcLong()) });
    expect(added.route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    expect(added.route?.route).toEqual(route6(G));

    // The canonical text is the key: another spelling of the same (S,G) is the same route.
    const again = await mfcd.client.addRoute({ route: route6(G) });
    expect(again.route?.route).toEqual(route6(G));
    const other = await rejection(mfcd.client.addRoute({ route: route6(`ff3e:0::${kx()}:1`, ["out1"], `fd00:0:${kx()}:0:0:0:0:2`) }));
    expect(other.code).toBe(Status.ALREADY_EXISTS);
    expect(other.reason).toBe("ROUTE_EXISTS");

    const [r1, r2] = await Promise.all([receiver6(1, G), receiver6(2, G)]);
    expect(await send6(G, N)).toMatchObject({ sent: N, errors: 0 });
    await Promise.all([r1.waitForCount(N), r2.waitForCount(N)]);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs).toEqual(range(0, N));
    expect(got2.seqs).toEqual(range(0, N));
    expect(got1.from).toEqual([lab6.source]);

    const list = await mfcd.client.listRoutes({});
    expect(list.routes).toHaveLength(1);
    const listed = list.routes[0]!;
    expect(listed.route).toEqual(route6(G));
    expect(listed.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    expect(listed.counters).toEqual({ packets: BigInt(N), bytes: BigInt(N) * WIRE6, wrongIf: 0n });

    // The kernel's own view, read without mfcd.
    const mifs = await procMifs();
    const mif = (name: string) => mifs.find((m) => m.name === name)?.vif;
    expect(mifs.map((m) => m.name).sort()).toEqual(["in0", "out1", "out2"]);
    const cache = await procCache6();
    expect(cache).toHaveLength(1);
    expect(cache[0]).toMatchObject({ source: lab6.source, group: G, parent: mif("in0") });
    expect(cache[0]!.counters).toEqual(listed.counters);
    expect([...cache[0]!.oifs.entries()].sort()).toEqual([[mif("out1"), 1], [mif("out2"), 1]].sort());
    // ListRoutes VIFs are the MIFs (this test has no IPv4 route), with the kernel's counters.
    expect(list.vifs.map((v) => [v.vif, v.interface, v.refs, v.outPackets]).sort()).toEqual(
      mifs.map((m) => [m.vif, m.name, 1, m.counters.outPackets]).sort(),
    );
    expect(list.vifs.find((v) => v.interface === "out1")?.outPackets).toBe(BigInt(N));

    // WatchStats (no filter) carries the same counters and the table.
    const controller = new AbortController();
    let first;
    for await (const msg of mfcd.client.watchStats({ intervalMs: 100 }, { signal: controller.signal })) {
      first = msg;
      break;
    }
    controller.abort();
    expect(first?.routes).toEqual([
      expect.objectContaining({ source: lab6.source, group: G, iif: "in0", table: 0, counters: listed.counters }),
    ]);
  });

  it("WatchStats filters by an IPv6 source or group, in any spelling", async () => {
    await mfcd.client.addRoute({ route: route6(g6(10)) });
    await mfcd.client.addRoute({ route: route6(g6(11)) });
    await mfcd.client.addRoute({ route: { source: lab.addrs.source, group: `239.${lab.k}.61.1`, iif: "in0", oifs: ["out1"] } });
    const first = async (filter: { source?: string; group?: string }) => {
      const controller = new AbortController();
      try {
        for await (const msg of mfcd.client.watchStats({ intervalMs: 100, ...filter }, { signal: controller.signal })) {
          return msg.routes.map((x) => x.group).sort();
        }
      } finally {
        controller.abort();
      }
      return [];
    };
    expect(await first({ group: g6Long(10) })).toEqual([g6(10)]);
    expect(await first({ source: srcLong() })).toEqual([g6(10), g6(11)].sort());
    expect(await first({ source: lab6.source, group: g6(11) })).toEqual([g6(11)]);
    const bad = await rejection(first({ group: "ff02::1" }));
    expect(bad.code).toBe(Status.INVALID_ARGUMENT);
    expect(bad.fieldViolations.map((v) => v.field)).toEqual(["group"]);
  });

  it("DelRoute (any spelling) removes the kernel entry and stops delivery; a routed marker proves it", async () => {
    const G = g6(2);
    const MARK = g6(3);
    await mfcd.client.addRoute({ route: route6(G) });
    await mfcd.client.addRoute({ route: route6(MARK) });
    const [r1, r2, m1, m2] = await Promise.all([receiver6(1, G), receiver6(2, G), receiver6(1, MARK), receiver6(2, MARK)]);
    await send6(G, 10);
    await Promise.all([r1.waitForCount(10), r2.waitForCount(10)]);

    await mfcd.client.delRoute({ source: srcLong(), group: g6Long(2) });
    expect((await procCache6()).map((e) => e.group)).toEqual([MARK]);
    expect((await mfcd.client.listRoutes({})).routes.map((r) => r.route?.group)).toEqual([MARK]);
    const again = await rejection(mfcd.client.delRoute({ source: lab6.source, group: G }));
    expect(again.code).toBe(Status.NOT_FOUND);

    const outBefore = (await procMifs()).map((m) => [m.name, m.counters.outPackets] as const);
    await send6(G, 10, { firstSeq: 1000 });
    await send6(MARK, 5);
    await Promise.all([m1.waitForCount(5), m2.waitForCount(5)]);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs).toEqual(range(0, 10));
    expect(got2.seqs).toEqual(range(0, 10));
    // The oif MIFs sent exactly the marker packets since the delete.
    const outAfter = new Map((await procMifs()).map((m) => [m.name, m.counters.outPackets]));
    for (const [name, before] of outBefore) {
      if (name !== "in0") expect(outAfter.get(name)! - before, `${name} out packets`).toBe(5n);
    }
  });

  it("a foreign MRT6_DEL_MFC of mfcd's IPv6 entry is seen as an rtnetlink event (RTNLGRP_IPV6_MROUTE), repaired, and traffic flows again", async () => {
    const G = g6(4);
    await mfcd.client.addRoute({ route: route6(G) });
    const r1 = await receiver6(1, G);
    await send6(G, 5);
    await r1.waitForCount(5);
    const logFrom = mfcd.stderr().length;
    foreignDelMfc6(lab.router, lab6.source, G);
    // The event path names the flow it repaired; the periodic full check would not.
    await waitFor(() => mfcd.stderr().slice(logFrom).includes("kernel entry removed behind mfcd's back: repaired"), {
      message: () => mfcd.stderr().slice(logFrom),
    });
    const line = mfcd.stderr().slice(logFrom).split("\n").find((l) => l.includes("behind mfcd's back: repaired"));
    expect(JSON.parse(line ?? "{}")).toMatchObject({ source: lab6.source, group: G });
    expect((await procCache6()).map((e) => e.group)).toContain(G);
    const listed = (await mfcd.client.listRoutes({})).routes.find((r) => r.route?.group === G);
    expect(listed?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    expect(listed?.driftRepairs).toBeGreaterThanOrEqual(1);
    await send6(G, 5, { firstSeq: 100 });
    expect(await r1.waitForCount(10)).toBe(10);
  });

  it("validation: link-/interface-local groups, mixed families, IPv6 TTL thresholds and table 254 → INVALID_ARGUMENT; nothing reaches the kernel", async () => {
    const cases: { route: Route; field: string; says: RegExp }[] = [
      { route: route6("ff02::1:3"), field: "route.group", says: /link-local \(ffx2::\) scope.*never routes/ },
      { route: route6("ff12::7"), field: "route.group", says: /link-local/ },
      { route: route6("ff01::1"), field: "route.group", says: /interface-local \(ffx1::\) scope/ },
      { route: route6(g6(4), ["out1"], lab.addrs.source), field: "route.source", says: /IPv4 but the group is IPv6.*one family/ },
      { route: { ...route6("239.1.2.3"), source: lab6.source }, field: "route.group", says: /IPv4 but the source is IPv6.*one family/ },
      { route: { ...route6(g6(5)), oifTtl: { out1: 5 } }, field: "route.oif_ttl[out1]", says: /IPv6 .*no TTL thresholds/ },
      { route: { ...route6(g6(6)), table: 254 }, field: "route.table", says: /254 is the kernel's id of the default ipv6 table: use 0/ },
    ];
    for (const c of cases) {
      const err = await rejection(mfcd.client.addRoute({ route: c.route }));
      const what = JSON.stringify(c.route);
      expect(err.code, what).toBe(Status.INVALID_ARGUMENT);
      expect(err.fieldViolations, what).toEqual([{ field: c.field, description: expect.stringMatching(c.says) }]);
    }
    // Every field at once: each one named.
    const all = await rejection(mfcd.client.addRoute({ route: { ...route6("ff02::2"), oifTtl: { out2: 0 }, table: 254 } }));
    expect(all.fieldViolations.map((v) => v.field).sort()).toEqual(["route.group", "route.oif_ttl[out2]", "route.table"]);

    expect((await mfcd.client.listRoutes({})).routes).toEqual([]);
    expect(await procCache6()).toEqual([]);
    expect(await procMifs()).toEqual([]);

    // A threshold of 1 (the only one IPv6 forwarding has) is accepted and not echoed back.
    const ok = await mfcd.client.addRoute({ route: { ...route6(g6(7)), oifTtl: { out1: 1 } } });
    expect(ok.route?.route).toEqual(route6(g6(7)));
  });

  it("IPv4 and IPv6 have separate VIF spaces over the same interfaces: ip_mr_vif vs ip6_mr_vif, both in ListRoutes", async () => {
    const G4 = `239.${lab.k}.60.1`;
    const G6 = g6(8);
    await mfcd.client.addRoute({ route: { source: lab.addrs.source, group: G4, iif: "in0", oifs: ["out2"] } });
    await mfcd.client.addRoute({ route: route6(G6, ["out1", "out2"]) });

    // Both families number their interfaces from 0: in0 is VIF 0 and MIF 0.
    const v4 = await kernelVifs(lab.router);
    const v6 = await procMifs();
    expect(v4.map((v) => [v.vif, v.name])).toEqual([[0, "in0"], [1, "out2"]]);
    expect(v6.map((m) => [m.vif, m.name])).toEqual([[0, "in0"], [1, "out1"], [2, "out2"]]);
    const list = await mfcd.client.listRoutes({});
    const pairs = (xs: [number, string][]) => xs.map(([vif, name]) => `${vif}:${name}`).sort();
    expect(pairs(list.vifs.map((v) => [v.vif, v.interface]))).toEqual(
      pairs([...v4.map((v) => [v.vif, v.name] as [number, string]), ...v6.map((m) => [m.vif, m.name] as [number, string])]),
    );
    expect(list.vifs.every((v) => v.refs === 1)).toBe(true);
    // Each entry names its own family's indexes.
    expect((await kernelRoute(lab.router, lab.addrs.source, G4))?.oifs).toEqual(new Map([[1, 1]]));
    expect((await procCache6())[0]?.oifs).toEqual(new Map([[1, 1], [2, 1]]));

    // Traffic of one family moves only that family's counters.
    const r6 = await receiver6(2, G6);
    const r4 = stops.add(await startReceiver(lab.receivers[1]!, { group: G4, port: PORT, ifaceAddr: lab.addrs.receivers[1]! }));
    await send6(G6, 7);
    await r6.waitForCount(7);
    expect((await kernelVifs(lab.router)).map((v) => v.counters.inPackets + v.counters.outPackets)).toEqual([0n, 0n]);
    expect((await procMifs()).map((m) => [m.name, m.counters.inPackets, m.counters.outPackets])).toEqual([
      ["in0", 7n, 0n],
      ["out1", 0n, 7n],
      ["out2", 0n, 7n],
    ]);
    await sendMulticast(lab.source, { group: G4, port: PORT, ttl: 8, ifaceAddr: lab.addrs.source, count: 3, intervalMs: 1 });
    await r4.waitForCount(3);
    expect((await kernelVifs(lab.router)).map((v) => [v.name, v.counters.inPackets, v.counters.outPackets])).toEqual([
      ["in0", 3n, 0n],
      ["out2", 0n, 3n],
    ]);
    expect((await procMifs()).map((m) => m.counters.inPackets)).toEqual([7n, 0n, 0n]);

    // Removing the IPv6 route frees every MIF; the IPv4 VIFs and entry are untouched.
    await mfcd.client.delRoute({ source: lab6.source, group: G6 });
    expect(await procMifs()).toEqual([]);
    expect((await kernelVifs(lab.router)).map((v) => [v.vif, v.name])).toEqual([[0, "in0"], [1, "out2"]]);
    expect((await mfcd.client.listRoutes({})).vifs.map((v) => [v.vif, v.interface])).toEqual([[0, "in0"], [1, "out2"]]);
    await sendMulticast(lab.source, { group: G4, port: PORT, ttl: 8, ifaceAddr: lab.addrs.source, count: 2, intervalMs: 1, firstSeq: 3 });
    await r4.waitForCount(5);
  });

  it("Diagnose of a healthy IPv4 flow reads the IPv4 VIFs, not the IPv6 MIFs on the same interfaces", async () => {
    const G4 = `239.${lab.k}.62.1`;
    // The IPv6 route first: its MIF table is the engine's first table with "in0" and "out1".
    await mfcd.client.addRoute({ route: route6(g6(12), ["out1"]) });
    await mfcd.client.addRoute({ route: { source: lab.addrs.source, group: G4, iif: "in0", oifs: ["out1"] } });
    const r4 = stops.add(await startReceiver(lab.receivers[0]!, { group: G4, port: PORT, ifaceAddr: lab.addrs.receivers[0]! }));
    stops.add(
      await startStream(lab.source, { group: G4, port: PORT, ttl: 8, ifaceAddr: lab.addrs.source, intervalMs: 5, durationMs: bound(30_000) }),
    );
    await r4.waitForCount(5);
    const report = await mfcd.client.diagnose({ source: lab.addrs.source, group: G4, windowMs: bound(500) });
    const ok = report.findings.find((f) => f.code === "FORWARDING_OK");
    expect(ok, `findings: ${report.text}`).toBeDefined();
    expect(ok?.explanation).toMatch(/out on out1 \+\d+/);
    expect(report.findings.map((f) => f.code)).toEqual(["FORWARDING_OK"]);
  });

  it("restart with the same state file brings the IPv6 route back (canonical, INSTALLED) and it forwards", async () => {
    const G = g6(9);
    await mfcd.client.addRoute({ route: route6(g6Long(9), ["out1", "out2"], srcLong()) });
    const [r1, r2] = await Promise.all([receiver6(1, G), receiver6(2, G)]);
    await send6(G, 5);
    await Promise.all([r1.waitForCount(5), r2.waitForCount(5)]);

    expect(await mfcd.stop()).toEqual({ code: 0, signal: null });
    // MRT6_DONE: the kernel forgot the entry and the MIFs; only the state file remembers.
    expect(await procCache6()).toEqual([]);
    expect(await procMifs()).toEqual([]);

    mfcd = await startMfcd(lab.router, { socketPath });
    const { routes } = await mfcd.client.listRoutes({});
    expect(routes.map((r) => [r.route, r.state, r.owner])).toEqual([[route6(G), RouteState.ROUTE_STATE_INSTALLED, "api"]]);
    expect((await procCache6()).map((e) => [e.source, e.group])).toEqual([[lab6.source, G]]);
    expect((await procMifs()).map((m) => m.name).sort()).toEqual(["in0", "out1", "out2"]);

    await send6(G, 5, { firstSeq: 5 });
    await Promise.all([r1.waitForCount(10), r2.waitForCount(10)]);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs).toEqual(range(0, 10));
    expect(got2.seqs).toEqual(range(0, 10));
    // Counters are the new kernel entry's: only what was sent after the restart.
    expect((await procCache6())[0]?.counters.packets).toBe(5n);
  });

  it("kill -9: the IPv6 entry and its MIFs stay (static); the restart adopts them without a write and the counter continues", async () => {
    const G = g6(10);
    await mfcd.client.addRoute({ route: route6(G, ["out1"]) });
    const r1 = await receiver6(1, G);
    await send6(G, 5);
    await r1.waitForCount(5);
    const mifs = async () => (await procMifs()).map((m) => `${m.vif} ${m.name} ${(m.flags & 0x8000).toString(16)}`);
    const mifsBefore = await mifs();
    expect(mifsBefore.every((m) => m.endsWith(" 8000")), "MIFs are static").toBe(true);

    expect(await mfcd.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    expect((await procCache6()).map((e) => [e.group, e.counters.packets])).toContainEqual([G, 5n]);
    expect(await mifs()).toEqual(mifsBefore);

    mfcd = await startMfcd(lab.router, { socketPath });
    const restored = mfcd.stderr().split("\n").find((l) => l.includes('"msg":"routes restored"'));
    expect(JSON.parse(restored ?? "{}")).toMatchObject({ installed: 1, adopted: 1, removedLeftovers: 0 });
    expect(await mifs()).toEqual(mifsBefore);
    await send6(G, 5, { firstSeq: 5 });
    await r1.waitForCount(10);
    expect((await r1.stop()).seqs).toEqual(range(0, 10));
    // The same kernel entry: it counted the datagrams before the kill too.
    const entry = (await procCache6()).find((e) => e.group === G);
    expect(entry?.counters.packets).toBe(10n);
  });
});

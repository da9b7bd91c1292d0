// kernel-needs: ipv4
// End-to-end: the real mfcd in a lab namespace, real kernel forwarding, real UDP traffic.
//
//   src —in0— router (mfcd) —out1— rcv1
//                           —out2— rcv2
//
// One lab and one daemon for the whole file; every test uses its own groups and leaves no route
// behind (afterEach), so each starts with an empty VIF table and fresh VIF counters.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RouteState, Status, type ListRoutesResponse } from "../../src/sdk/index.js";
import { netstat } from "../helpers/kernel-view.js";
import { createLab, type Lab } from "../helpers/lab.js";
import {
  deleteAllRoutes,
  kernelRoute,
  kernelRoutes,
  kernelVifs,
  startMfcd,
  StopList,
  type MfcdProcess,
} from "../helpers/mfcd-process.js";
import { sendMulticast, startReceiver, startStream, waitFor, type Receiver } from "../helpers/traffic.js";
import { rejection, range } from "../helpers/rejection.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
const PAYLOAD = 64;
/** Bytes the kernel counts per datagram: payload + UDP header + IPv4 header. */
const WIRE = BigInt(PAYLOAD + 8 + 20);

let lab: Lab;
let mfcd: MfcdProcess;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 2 });
  mfcd = await startMfcd(lab.router);
});
afterEach(async () => {
  await stops.stopAll();
  await deleteAllRoutes(mfcd.client);
});
afterAll(async () => {
  await stops.stopAll();
  await mfcd?.stop();
  await lab?.cleanup();
});

const src = () => lab.addrs.source;
const route = (group: string, oifs: string[] = ["out1", "out2"]) => ({ source: src(), group, iif: "in0", oifs });

/** A receiver for `group` in receiver namespace i (1-based), stopped after the test. */
async function receiver(i: number, group: string): Promise<Receiver> {
  const ns = lab.receivers[i - 1]!;
  return stops.add(await startReceiver(ns, { group, port: PORT, ifaceAddr: lab.addrs.receivers[i - 1]! }));
}

function send(group: string, count: number, opts: { ttl?: number; firstSeq?: number; intervalMs?: number } = {}) {
  return sendMulticast(lab.source, {
    group,
    port: PORT,
    ttl: opts.ttl ?? 8,
    ifaceAddr: src(),
    count,
    size: PAYLOAD,
    intervalMs: opts.intervalMs ?? 1,
    ...(opts.firstSeq === undefined ? {} : { firstSeq: opts.firstSeq }),
  });
}

async function listed(group: string) {
  const list = await mfcd.client.listRoutes({});
  return { list, route: list.routes.find((r) => r.route?.group === group) };
}

function vifOf(list: ListRoutesResponse, name: string) {
  const v = list.vifs.find((x) => x.interface === name);
  if (!v) throw new Error(`no VIF for ${name} in ${JSON.stringify(list.vifs.map((x) => x.interface))}`);
  return v;
}



describe("mfcd forwarding (real kernel, real traffic)", () => {
  it("delivers N packets to both receivers; ListRoutes, WatchStats and /proc agree on the counters", async () => {
    const G = "239.10.1.1";
    const N = 50;
    await mfcd.client.addRoute({ route: route(G) });
    const [r1, r2] = await Promise.all([receiver(1, G), receiver(2, G)]);

    const sent = await send(G, N);
    expect(sent).toMatchObject({ sent: N, errors: 0 });
    await Promise.all([r1.waitForCount(N), r2.waitForCount(N)]);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs).toEqual(range(0, N));
    expect(got2.seqs).toEqual(range(0, N));

    // ListRoutes (SIOCGETSGCNT through mfcd).
    const { list, route: listedRoute } = await listed(G);
    expect(listedRoute?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    expect(listedRoute?.counters).toEqual({ packets: BigInt(N), bytes: BigInt(N) * WIRE, wrongIf: 0n });

    // /proc/net/ip_mr_cache, read independently of mfcd.
    const entry = await kernelRoute(lab.router, src(), G);
    expect(entry?.counters).toEqual({ packets: BigInt(N), bytes: BigInt(N) * WIRE, wrongIf: 0n });
    const vifs = await kernelVifs(lab.router);
    const procIndex = (name: string) => vifs.find((v) => v.name === name)?.vif;
    expect(entry?.parent).toBe(procIndex("in0"));
    expect([...(entry?.oifs.keys() ?? [])].sort()).toEqual([procIndex("out1"), procIndex("out2")].sort());

    // WatchStats: the first message already carries the settled counters.
    const controller = new AbortController();
    let watched;
    for await (const msg of mfcd.client.watchStats({ group: G, intervalMs: 100 }, { signal: controller.signal })) {
      watched = msg;
      break;
    }
    controller.abort();
    expect(watched?.routes).toHaveLength(1);
    expect(watched?.routes[0]).toMatchObject({ source: src(), group: G, iif: "in0" });
    expect(watched?.routes[0]?.counters).toEqual({ packets: BigInt(N), bytes: BigInt(N) * WIRE, wrongIf: 0n });

    // VIF counters: the VIFs were created for this route, so they count exactly this burst.
    for (const [name, dir] of [["in0", "in"], ["out1", "out"], ["out2", "out"]] as const) {
      const v = vifOf(list, name);
      expect(v.refs, name).toBe(1);
      expect(v.vif, name).toBe(procIndex(name));
      const [packets, bytes] = dir === "in" ? [v.inPackets, v.inBytes] : [v.outPackets, v.outBytes];
      expect(packets, `${name} ${dir} packets`).toBe(BigInt(N));
      expect(bytes, `${name} ${dir} bytes`).toBe(BigInt(N) * WIRE);
      const w = watched?.vifs.find((x) => x.interface === name);
      expect(dir === "in" ? w?.inPackets : w?.outPackets, `WatchStats ${name}`).toBe(BigInt(N));
    }
  });

  it("DelRoute stops delivery: a second burst arrives nowhere and the kernel entry is gone", async () => {
    const G = "239.10.2.1";
    const MARK = "239.10.2.2"; // still routed: its arrival proves the second burst had its chance
    const N = 20;
    await mfcd.client.addRoute({ route: route(G) });
    await mfcd.client.addRoute({ route: route(MARK) });
    const [r1, r2, m1, m2] = await Promise.all([receiver(1, G), receiver(2, G), receiver(1, MARK), receiver(2, MARK)]);

    await send(G, N);
    await Promise.all([r1.waitForCount(N), r2.waitForCount(N)]);
    expect(await kernelRoute(lab.router, src(), G)).toBeDefined();

    await mfcd.client.delRoute({ source: src(), group: G });
    expect(await kernelRoute(lab.router, src(), G)).toBeUndefined();
    expect((await listed(G)).route).toBeUndefined();

    // Multicast packets arriving at each receiver namespace, counted by its kernel.
    const before = await Promise.all(lab.receivers.map((ns) => netstat(ns, "IpExtInMcastPkts")));
    await send(G, N, { firstSeq: 1000 });
    await send(MARK, 5);
    await Promise.all([m1.waitForCount(5), m2.waitForCount(5)]);
    const after = await Promise.all(lab.receivers.map((ns) => netstat(ns, "IpExtInMcastPkts")));
    expect(after.map((a, i) => a - before[i]!), "multicast packets reaching rcv1, rcv2").toEqual([5, 5]);

    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs).toEqual(range(0, N));
    expect(got2.seqs).toEqual(range(0, N));
    // The kernel may hold an unresolved upcall queue for (S,G), never a forwarding entry.
    expect(await kernelRoute(lab.router, src(), G)).toBeUndefined();
  });

  it("TTL-1 packets hit the entry but are not forwarded", async () => {
    const G = "239.10.3.1";
    await mfcd.client.addRoute({ route: route(G) });
    const [r1, r2] = await Promise.all([receiver(1, G), receiver(2, G)]);

    await send(G, 20, { ttl: 1 });
    // The entry counts them (they arrived on in0 and matched (S,G)) ...
    await waitFor(async () => (await listed(G)).route?.counters?.packets === 20n, {
      message: "20 TTL-1 packets counted on the entry",
    });
    expect((await kernelRoute(lab.router, src(), G))?.counters.packets).toBe(20n);
    const { list } = await listed(G);
    expect(vifOf(list, "in0").inPackets).toBe(20n);
    expect(vifOf(list, "out1").outPackets).toBe(0n);
    expect(vifOf(list, "out2").outPackets).toBe(0n);

    // ... but nothing left. Packets with TTL 8 behind them on the same path do arrive.
    await send(G, 5, { firstSeq: 1000 });
    await Promise.all([r1.waitForCount(5), r2.waitForCount(5)]);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs).toEqual(range(1000, 1005));
    expect(got2.seqs).toEqual(range(1000, 1005));
    expect((await kernelRoute(lab.router, src(), G))?.counters.packets).toBe(25n);
  });

  it("a failed add (unknown interface, require_interfaces) changes nothing and other routes keep forwarding", async () => {
    const G = "239.10.4.1";
    const BAD = "239.10.4.2";
    await mfcd.client.addRoute({ route: route(G) });
    const before = await mfcd.client.listRoutes({});
    const vifsBefore = await kernelVifs(lab.router);
    const [r1, r2] = await Promise.all([receiver(1, G), receiver(2, G)]);

    const err = await rejection(
      mfcd.client.addRoute({ route: route(BAD, ["out1", "nosuch0"]), requireInterfaces: true }),
    );
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.reason).toBe("INTERFACE_NOT_FOUND");
    expect(err.details).toContain("nosuch0");
    const replaceErr = await rejection(
      mfcd.client.addRoute({ route: route(G, ["nosuch0"]), replace: true, requireInterfaces: true }),
    );
    expect(replaceErr.code).toBe(Status.FAILED_PRECONDITION);

    const after = await mfcd.client.listRoutes({});
    expect(after.routes.map((r) => r.route)).toEqual(before.routes.map((r) => r.route));
    expect(after.vifs.map((v) => [v.vif, v.interface, v.refs])).toEqual(before.vifs.map((v) => [v.vif, v.interface, v.refs]));
    expect((await kernelVifs(lab.router)).map((v) => [v.vif, v.name])).toEqual(vifsBefore.map((v) => [v.vif, v.name]));
    expect(await kernelRoute(lab.router, src(), BAD)).toBeUndefined();

    await send(G, 10);
    await Promise.all([r1.waitForCount(10), r2.waitForCount(10)]);
    const entry = await kernelRoute(lab.router, src(), G);
    expect(entry?.oifs.size).toBe(2);
  });

  it("replace under a 2 ms stream loses nothing; out2 gets exactly the packets routed while it was an oif", async () => {
    const G = "239.10.5.1";
    await mfcd.client.addRoute({ route: route(G, ["out1"]) });
    const [r1, r2] = await Promise.all([receiver(1, G), receiver(2, G)]);
    // The kernel counts every packet of the entry in arrival order (counters survive an in-place
    // replace), so packet seq k is the (k+1)-th counted: a counter reading taken before/after a
    // replace splits the stream exactly into "old route" and "new route" packets.
    const counted = async () => (await listed(G)).route?.counters?.packets ?? -1n;

    const stream = stops.add(
      await startStream(lab.source, { group: G, port: PORT, ttl: 8, ifaceAddr: src(), intervalMs: 2, size: PAYLOAD, durationMs: bound(30_000) }),
    );
    await r1.waitForCount(25);

    const p1 = await counted();
    await mfcd.client.addRoute({ route: route(G, ["out1", "out2"]), replace: true });
    const p2 = await counted();
    await r2.waitForCount(25);
    const p3 = await counted();
    const res = await mfcd.client.addRoute({ route: route(G, ["out1"]), replace: true });
    expect(res.route?.route?.oifs).toEqual(["out1"]);
    const p4 = await counted();
    await r1.waitForCount(Number(p4) + 25);

    const { sent } = await stream.stop();
    await r1.waitForCount(sent);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);

    expect(got1.seqs, "rcv1 got every packet, in order, without a gap").toEqual(range(0, sent));
    const s2 = got2.seqs;
    expect(s2.length).toBeGreaterThanOrEqual(25);
    expect(s2, "rcv2 got one contiguous run").toEqual(range(s2[0]!, s2[0]! + s2.length));
    expect(s2[0]!, "nothing routed before out2 was added").toBeGreaterThanOrEqual(Number(p1));
    expect(s2[0]!, "everything after the add returned").toBeLessThanOrEqual(Number(p2));
    expect(s2.at(-1)! + 1, "everything before the removal began").toBeGreaterThanOrEqual(Number(p3));
    expect(s2.at(-1)!, "nothing after the removal returned").toBeLessThan(Number(p4));

    const entry = await kernelRoute(lab.router, src(), G);
    const out1 = (await kernelVifs(lab.router)).find((v) => v.name === "out1")?.vif;
    expect([...(entry?.oifs.keys() ?? [])]).toEqual([out1]);
    expect(entry?.counters.packets).toBe(BigInt(sent));
    // out2 is no longer used by any route: its VIF is gone.
    expect((await kernelVifs(lab.router)).map((v) => v.name).sort()).toEqual(["in0", "out1"]);
  });

  it("idempotent re-add: the same AddRoute twice is OK and keeps the kernel entry and its counters", async () => {
    const G = "239.10.6.1";
    const req = { route: route(G) };
    await mfcd.client.addRoute(req);
    const r1 = await receiver(1, G);
    await send(G, 10);
    await r1.waitForCount(10);
    const entryBefore = await kernelRoute(lab.router, src(), G);
    expect(entryBefore?.counters.packets).toBe(10n);

    const again = await mfcd.client.addRoute(req);
    expect(again.route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    expect(again.route?.counters?.packets).toBe(10n);
    const entryAfter = await kernelRoute(lab.router, src(), G);
    expect(entryAfter).toEqual(entryBefore);
    const { list } = await listed(G);
    expect(list.routes).toHaveLength(1);
    expect(list.vifs.map((v) => [v.interface, v.refs])).toEqual([["in0", 1], ["out1", 1], ["out2", 1]]);

    await send(G, 5, { firstSeq: 10 });
    await r1.waitForCount(15);
    expect((await kernelRoute(lab.router, src(), G))?.counters.packets).toBe(15n);
  });

  it("DelRoute of a missing route → NOT_FOUND", async () => {
    const G = "239.10.7.1";
    const missing = await rejection(mfcd.client.delRoute({ source: src(), group: G }));
    expect(missing.code).toBe(Status.NOT_FOUND);
    expect(missing.reason).toBe("ROUTE_NOT_FOUND");

    await mfcd.client.addRoute({ route: route(G) });
    await mfcd.client.delRoute({ source: src(), group: G });
    const twice = await rejection(mfcd.client.delRoute({ source: src(), group: G }));
    expect(twice.code).toBe(Status.NOT_FOUND);
    expect(await kernelRoutes(lab.router)).toEqual([]);
  });
});

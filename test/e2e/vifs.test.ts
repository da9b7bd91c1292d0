// kernel-needs: ipv4
// End-to-end: VIF allocation of the real mfcd against the real kernel.
//
//   src —in0— router (mfcd) —out1— rcv1, —out2— rcv2, —x1..x32— p1..p32 (one "xtra" namespace)
//
// One lab and one daemon for the file; every test leaves no route behind (afterEach). The last
// test deletes the router's out2 link, so it must stay last.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Status, type ListRoutesResponse } from "../../src/sdk/index.js";
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
import { ip } from "../helpers/netns.js";
import { sendMulticast, startReceiver, type Receiver } from "../helpers/traffic.js";
import { rejection } from "../helpers/rejection.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
let lab: Lab;
let mfcd: MfcdProcess;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 2, extraRouterLinks: 32 });
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
const route = (group: string, oifs: string[]) => ({ source: src(), group, iif: "in0", oifs });
const xs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `x${from + i}`);

/** Receiver behind router interface `iface` (out<i> → rcv<i>, x<j> → p<j> in the xtra namespace). */
async function receiverBehind(iface: string, group: string): Promise<Receiver> {
  const out = /^out(\d+)$/.exec(iface);
  const x = /^x(\d+)$/.exec(iface);
  let ns: string;
  let ifaceAddr: string;
  if (out) {
    ns = lab.receivers[Number(out[1]) - 1]!;
    ifaceAddr = lab.addrs.receivers[Number(out[1]) - 1]!;
  } else if (x) {
    ns = lab.extraPeer!;
    ifaceAddr = lab.addrs.extraPeers[Number(x[1]) - 1]!;
  } else {
    throw new Error(`no receiver behind ${iface}`);
  }
  return stops.add(await startReceiver(ns, { group, port: PORT, ifaceAddr }));
}

function send(group: string, count: number) {
  return sendMulticast(lab.source, { group, port: PORT, ttl: 8, ifaceAddr: src(), count, intervalMs: 1 });
}


/** Everything but counters: what must not change when a request fails. */
function shape(list: ListRoutesResponse) {
  return {
    routes: list.routes.map((r) => ({ route: r.route, state: r.state, reason: r.reason })),
    vifs: list.vifs.map((v) => ({ vif: v.vif, interface: v.interface, ifindex: v.ifindex, refs: v.refs })),
  };
}
async function kernelShape() {
  const [entries, vifs] = await Promise.all([kernelRoutes(lab.router), kernelVifs(lab.router)]);
  return {
    entries: entries.map((e) => ({ source: e.source, group: e.group, parent: e.parent, oifs: [...e.oifs] })),
    vifs: vifs.map((v) => ({ vif: v.vif, name: v.name, flags: v.flags, ifindex: v.ifindex })),
  };
}
async function vifIndex(name: string): Promise<number | undefined> {
  return (await kernelVifs(lab.router)).find((v) => v.name === name)?.vif;
}
/** Multicast datagrams the kernel of the xtra namespace (peers p1..p32) has accepted so far. */
const xtraMcast = () => netstat(lab.extraPeer!, "IpExtInMcastPkts");

describe("mfcd VIF table (real kernel)", () => {
  it("routes share VIFs (refs 2), deleting one leaves refs 1, deleting both empties ip_mr_vif", async () => {
    const A = "239.20.1.1";
    const B = "239.20.1.2";
    await mfcd.client.addRoute({ route: route(A, ["out1"]) });
    await mfcd.client.addRoute({ route: route(B, ["out1"]) });
    let list = await mfcd.client.listRoutes({});
    expect(list.vifs.map((v) => [v.interface, v.refs])).toEqual([["in0", 2], ["out1", 2]]);
    expect((await kernelVifs(lab.router)).map((v) => [v.vif, v.name])).toEqual(list.vifs.map((v) => [v.vif, v.interface]));

    await mfcd.client.delRoute({ source: src(), group: A });
    list = await mfcd.client.listRoutes({});
    expect(list.vifs.map((v) => [v.interface, v.refs])).toEqual([["in0", 1], ["out1", 1]]);
    expect((await kernelVifs(lab.router)).map((v) => v.name)).toEqual(["in0", "out1"]);
    expect(await kernelRoute(lab.router, src(), A)).toBeUndefined();
    expect(await kernelRoute(lab.router, src(), B)).toBeDefined();

    await mfcd.client.delRoute({ source: src(), group: B });
    list = await mfcd.client.listRoutes({});
    expect(list).toEqual({ routes: [], vifs: [], foreignEntries: [] });
    expect(await kernelVifs(lab.router)).toEqual([]);
    expect(await kernelRoutes(lab.router)).toEqual([]);
  });

  it("33rd interface → RESOURCE_EXHAUSTED, nothing changes, and existing routes keep forwarding", async () => {
    const A = "239.20.2.1";
    const B = "239.20.2.2";
    await mfcd.client.addRoute({ route: route(A, ["out1"]) }); // in0, out1
    await mfcd.client.addRoute({ route: route(B, xs(1, 29)) }); // + x1..x29 = 31 VIFs
    // One free slot, two needed: refused as a whole, no VIF left behind.
    const partial = await rejection(mfcd.client.addRoute({ route: route("239.20.2.7", ["x30", "x31"]) }));
    expect(partial.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(partial.reason).toBe("VIF_TABLE_FULL");
    expect(await kernelVifs(lab.router)).toHaveLength(31);
    await mfcd.client.addRoute({ route: route(B, xs(1, 30)), replace: true }); // the 32nd VIF
    expect(await kernelVifs(lab.router)).toHaveLength(32);
    const [rA, rB] = await Promise.all([receiverBehind("out1", A), receiverBehind("x30", B)]);
    const before = shape(await mfcd.client.listRoutes({}));
    const kernelBefore = await kernelShape();

    const full = await rejection(mfcd.client.addRoute({ route: route("239.20.2.3", ["x31"]) }));
    expect(full.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(full.reason).toBe("VIF_TABLE_FULL");
    expect(full.details).toContain("32");
    const two = await rejection(mfcd.client.addRoute({ route: route("239.20.2.4", ["out1", "x31", "x32"]) }));
    expect(two.code).toBe(Status.RESOURCE_EXHAUSTED);
    const replace = await rejection(mfcd.client.addRoute({ route: route(A, ["out1", "x31"]), replace: true }));
    expect(replace.code).toBe(Status.RESOURCE_EXHAUSTED);

    expect(shape(await mfcd.client.listRoutes({}))).toEqual(before);
    expect(await kernelShape()).toEqual(kernelBefore);

    // A full table still takes routes over existing VIFs.
    await mfcd.client.addRoute({ route: route("239.20.2.6", ["x1", "out1"]) });
    expect(await kernelVifs(lab.router)).toHaveLength(32);

    await Promise.all([send(A, 10), send(B, 10)]);
    await Promise.all([rA.waitForCount(10), rB.waitForCount(10)]);
  });

  it("a freed VIF index taken by a newcomer never carries an old route's traffic to it", async () => {
    const A = "239.20.3.1"; // in0 → out1, out2 (after a replace that drops x1)
    const B = "239.20.3.2"; // in0 → x1, deleted: frees x1's VIF
    const C = "239.20.3.3"; // in0 → x2, the newcomer
    await mfcd.client.addRoute({ route: route(A, ["out1", "out2", "x1"]) });
    await mfcd.client.addRoute({ route: route(B, ["x1"]) });
    const freed = await vifIndex("x1");
    expect(freed).toBeDefined();
    expect((await kernelRoute(lab.router, src(), A))?.oifs.has(freed!)).toBe(true);

    await mfcd.client.addRoute({ route: route(A, ["out1", "out2"]), replace: true });
    expect((await kernelRoute(lab.router, src(), A))?.oifs.has(freed!)).toBe(false);
    await mfcd.client.delRoute({ source: src(), group: B });
    expect(await vifIndex("x1")).toBeUndefined();
    await mfcd.client.addRoute({ route: route(C, ["x2"]) });
    expect(await vifIndex("x2"), "the newcomer reuses the freed index").toBe(freed);

    const [a1, a2, aX2, bX2, cX2] = await Promise.all([
      receiverBehind("out1", A),
      receiverBehind("out2", A),
      receiverBehind("x2", A),
      receiverBehind("x2", B),
      receiverBehind("x2", C),
    ]);
    const xtraBefore = await xtraMcast();
    await send(A, 20);
    await send(B, 20);
    await send(C, 10); // behind A's and B's packets on the same path
    await Promise.all([a1.waitForCount(20), a2.waitForCount(20), cX2.waitForCount(10)]);
    expect((await xtraMcast()) - xtraBefore, "multicast datagrams reaching p2").toBe(10);
    const [gotA, gotB] = await Promise.all([aX2.stop(), bX2.stop()]);
    expect(gotA.count).toBe(0);
    expect(gotB.count).toBe(0);
  });

  it("an oif link deleted under a route: the newcomer's index is never one A's entry still names", async () => {
    const A = "239.20.4.1"; // in0 → out1, out2; out2 is then deleted
    const D = "239.20.4.2"; // in0 → x3, the newcomer
    await mfcd.client.addRoute({ route: route(A, ["out1", "out2"]) });
    const stale = await vifIndex("out2");
    expect(stale).toBeDefined();

    await ip(["link", "del", "out2"], lab.router);
    expect(await vifIndex("out2"), "the kernel drops the VIF with its device").toBeUndefined();

    await mfcd.client.addRoute({ route: route(D, ["x3"]) });
    const newcomer = await vifIndex("x3");
    expect(newcomer).toBeDefined();
    // Either the newcomer got another index (mfcd had not processed the deletion yet), or mfcd
    // had already rewritten A without out2 and freed the index: A must never name it.
    const entryA = await kernelRoute(lab.router, src(), A);
    expect([...(entryA?.oifs.keys() ?? [])], "A's entry forwards to the newcomer's VIF").not.toContain(newcomer);

    const [a1, aX3, dX3] = await Promise.all([
      receiverBehind("out1", A),
      receiverBehind("x3", A),
      receiverBehind("x3", D),
    ]);
    const xtraBefore = await xtraMcast();
    await send(A, 20);
    await send(D, 10);
    await Promise.all([a1.waitForCount(20), dX3.waitForCount(10)]);
    expect((await xtraMcast()) - xtraBefore, "multicast datagrams reaching p3").toBe(10);
    expect((await aX3.stop()).count).toBe(0);

    // Still manageable: the route can be listed and deleted although its VIF vanished.
    const list = await mfcd.client.listRoutes({});
    expect(list.routes.map((r) => r.route?.group).sort()).toEqual([A, D]);
    await mfcd.client.delRoute({ source: src(), group: A });
    expect(await kernelRoute(lab.router, src(), A)).toBeUndefined();
  });
});

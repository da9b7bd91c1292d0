// kernel-needs: ipv4
// End-to-end: interfaces that appear, vanish, go down or are renamed while mfcd runs. mfcd
// follows rtnetlink link events (plus a 1 s sweep) without any client call.
//
//   src —in0— router (mfcd) —out1— rcv1
//                           —<name>— eth0 of a "leaf" namespace made by the test (10.k.N.0/24)
//
// One lab and one daemon for the file. Each test plugs its own uniquely named interfaces into
// leaf namespaces of its own; afterEach deletes its routes and its leaf namespaces (which takes
// the router ends of their veth pairs with them).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RouteState, Status, type ListRoutesResponse, type RouteStatus } from "../../src/sdk/index.js";
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
import { addNetns, delNetns, ip, ipBatch, uniqueName } from "../helpers/netns.js";
import { sendMulticast, startReceiver, startStream, waitFor, type Receiver } from "../helpers/traffic.js";
import { rejection, range } from "../helpers/rejection.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
/** How long mfcd may take to notice a link change (events; the fallback sweep runs every 1 s). */
const NOTICE_MS = 8000;

let lab: Lab;
let mfcd: MfcdProcess;
const stops = new StopList();
const leafNamespaces: string[] = [];
let nextNet = 10;

beforeAll(async () => {
  lab = await createLab({ receivers: 1 });
  mfcd = await startMfcd(lab.router, { args: ["--state-file", "none"] });
});
afterEach(async () => {
  await stops.stopAll();
  await deleteAllRoutes(mfcd.client);
  await Promise.all(leafNamespaces.splice(0).map((ns) => delNetns(ns)));
});
afterAll(async () => {
  await stops.stopAll();
  await Promise.all(leafNamespaces.splice(0).map((ns) => delNetns(ns)));
  await mfcd?.stop();
  await lab?.cleanup();
});

const src = () => lab.addrs.source;

/**
 * A namespace behind router interface `routerIf`: router end 10.k.N.1/24, leaf end `eth0`
 * 10.k.N.2/24 with a default route back. The link is created by plug() (not yet by leaf()).
 */
interface Leaf {
  ns: string;
  routerIf: string;
  routerAddr: string;
  addr: string;
}

async function leaf(routerIf: string, opts: { plugged?: boolean } = {}): Promise<Leaf> {
  const ns = uniqueName("leaf");
  await addNetns(ns);
  leafNamespaces.push(ns);
  const n = nextNet++;
  const l = { ns, routerIf, routerAddr: `10.${lab.k}.${n}.1`, addr: `10.${lab.k}.${n}.2` };
  if (opts.plugged ?? true) await plug(l);
  return l;
}

/**
 * Creates (or re-creates) the veth pair of a leaf; returns the router end's new ifindex. With
 * `moved`, the pair is made inside the leaf namespace and one end is then moved into the router.
 */
async function plug(l: Leaf, opts: { moved?: boolean } = {}): Promise<number> {
  if (opts.moved) {
    await ipBatch([`link add ${l.routerIf} type veth peer name eth0`, `link set ${l.routerIf} netns ${lab.router}`], l.ns);
  } else {
    await ip(["link", "add", l.routerIf, "type", "veth", "peer", "name", "eth0", "netns", l.ns], lab.router);
  }
  await ipBatch([`addr add ${l.routerAddr}/24 dev ${l.routerIf}`, `link set ${l.routerIf} multicast on up`], lab.router);
  await ipBatch(
    ["link set lo up", `addr add ${l.addr}/24 dev eth0`, "link set eth0 multicast on up", `route add default via ${l.routerAddr} dev eth0`],
    l.ns,
  );
  return ifindexOf(l.routerIf);
}

/** Deletes the router end of a leaf's veth pair (the leaf's eth0 goes with it). */
async function unplug(l: Leaf): Promise<void> {
  await ip(["link", "del", l.routerIf], lab.router);
}

async function ifindexOf(routerIf: string): Promise<number> {
  const out = JSON.parse(await ip(["-j", "link", "show", "dev", routerIf], lab.router)) as { ifindex: number }[];
  const i = out[0]?.ifindex;
  if (i === undefined) throw new Error(`no ifindex for ${routerIf}`);
  return i;
}

async function receiverIn(ns: string, ifaceAddr: string, group: string): Promise<Receiver> {
  return stops.add(await startReceiver(ns, { group, port: PORT, ifaceAddr }));
}
const rcv1 = (group: string) => receiverIn(lab.receivers[0]!, lab.addrs.receivers[0]!, group);
const behind = (l: Leaf, group: string) => receiverIn(l.ns, l.addr, group);

function send(group: string, count: number, from: { ns: string; addr: string } = { ns: lab.source, addr: src() }, firstSeq = 0) {
  return sendMulticast(from.ns, { group, port: PORT, ttl: 8, ifaceAddr: from.addr, count, intervalMs: 1, firstSeq });
}

async function listed(group: string): Promise<{ list: ListRoutesResponse; route: RouteStatus | undefined }> {
  const list = await mfcd.client.listRoutes({});
  return { list, route: list.routes.find((r) => r.route?.group === group) };
}

/** Polls ListRoutes until the route of `group` satisfies `ok`; returns it. */
async function routeWhen(group: string, ok: (r: RouteStatus) => boolean, what: string): Promise<RouteStatus> {
  let last: RouteStatus | undefined;
  const found = await waitFor(
    async () => {
      last = (await listed(group)).route;
      return last && ok(last) ? last : undefined;
    },
    { timeoutMs: NOTICE_MS, message: () => `${group}: ${what}; last seen ${JSON.stringify(last, bigintJson)}` },
  );
  if (!found) throw new Error("unreachable");
  return found;
}
const bigintJson = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);

async function vifIndex(name: string): Promise<number | undefined> {
  return (await kernelVifs(lab.router)).find((v) => v.name === name)?.vif;
}


const INSTALLED = RouteState.ROUTE_STATE_INSTALLED;
const PENDING = RouteState.ROUTE_STATE_PENDING;

describe("hot-plug: interfaces that come and go under mfcd", () => {
  it("a route naming a not-yet-existing iif waits as PENDING, installs by itself when it appears, and forwards", async () => {
    const G = "239.60.1.1";
    const GREQ = "239.60.1.2";
    const IIF = "hp1in";
    const from = await leaf(IIF, { plugged: false }); // a second source, behind the future iif
    const S = from.addr;

    const added = await mfcd.client.addRoute({ route: { source: S, group: G, iif: IIF, oifs: ["out1"] } });
    expect(added.route?.state).toBe(PENDING);
    expect(added.route?.reason).toContain(IIF);
    expect(added.route?.missingInterfaces).toEqual([IIF]);
    expect(await kernelRoutes(lab.router)).toEqual([]);
    expect(await kernelVifs(lab.router), "a pending route takes no VIF").toEqual([]);
    const before = await mfcd.client.listRoutes({});

    // require_interfaces refuses instead, naming the interface, and changes nothing.
    const err = await rejection(
      mfcd.client.addRoute({ route: { source: S, group: GREQ, iif: IIF, oifs: ["out1"] }, requireInterfaces: true }),
    );
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.reason).toBe("INTERFACE_NOT_FOUND");
    expect(err.details).toContain(IIF);
    const after = await mfcd.client.listRoutes({});
    expect(after.routes.map((r) => [r.route?.group, r.state])).toEqual(before.routes.map((r) => [r.route?.group, r.state]));
    expect(after.vifs).toEqual([]);
    expect(await kernelRoutes(lab.router)).toEqual([]);

    // The interface appears (moved in from the leaf namespace): no client call needed.
    const ifindex = await plug(from, { moved: true });
    const installed = await routeWhen(G, (r) => r.state === INSTALLED, "INSTALLED after the iif appeared");
    expect(installed.missingInterfaces).toEqual([]);
    expect(installed.reason).toBe("");
    const iifVif = await vifIndex(IIF);
    expect((await kernelVifs(lab.router)).find((v) => v.name === IIF)?.ifindex).toBe(ifindex);
    const entry = await kernelRoute(lab.router, S, G);
    expect(entry?.parent).toBe(iifVif);
    expect([...(entry?.oifs.keys() ?? [])]).toEqual([await vifIndex("out1")]);

    const r1 = await rcv1(G);
    await send(G, 20, { ns: from.ns, addr: S });
    await r1.waitForCount(20);
    expect((await r1.stop()).seqs).toEqual(range(0, 20));
  });

  it("an oif deleted and re-created under a live stream: the other oif never misses a packet, the new ifindex gets a new VIF", async () => {
    const G = "239.60.2.1";
    const OIF = "hp2b";
    const l2 = await leaf(OIF);
    const oldIfindex = await ifindexOf(OIF);
    await mfcd.client.addRoute({ route: { source: src(), group: G, iif: "in0", oifs: ["out1", OIF] } });
    const [r1, r2] = await Promise.all([rcv1(G), behind(l2, G)]);
    const stream = stops.add(
      await startStream(lab.source, { group: G, port: PORT, ttl: 8, ifaceAddr: src(), intervalMs: 2, durationMs: bound(40_000) }),
    );
    await Promise.all([r1.waitForCount(25), r2.waitForCount(25)]);

    await unplug(l2);
    const missing = await routeWhen(G, (r) => r.missingInterfaces.includes(OIF), "oif reported missing");
    expect(missing.state).toBe(INSTALLED);
    expect(missing.missingInterfaces).toEqual([OIF]);
    expect(missing.reason).toContain(OIF);
    // The kernel entry now forwards to out1 only, and the dead VIF is gone.
    await waitFor(async () => (await kernelRoute(lab.router, src(), G))?.oifs.size === 1, { message: "entry rewritten" });
    const out1Vif = await vifIndex("out1");
    expect([...((await kernelRoute(lab.router, src(), G))?.oifs.keys() ?? [])]).toEqual([out1Vif]);
    expect(await vifIndex(OIF)).toBeUndefined();
    let c = r1.count;
    await r1.waitForCount(c + 50); // out1 keeps receiving after the delete

    const newIfindex = await plug(l2);
    expect(newIfindex).not.toBe(oldIfindex);
    const back = await routeWhen(G, (r) => r.missingInterfaces.length === 0, "oif back");
    expect(back.state).toBe(INSTALLED);
    const { list } = await listed(G);
    expect(list.vifs.find((v) => v.interface === OIF)?.ifindex, "ListRoutes VIF of the new link").toBe(newIfindex);
    const procVif = (await kernelVifs(lab.router)).find((v) => v.name === OIF);
    expect(procVif?.ifindex, "/proc/net/ip_mr_vif of the new link").toBe(newIfindex);
    await waitFor(async () => (await kernelRoute(lab.router, src(), G))?.oifs.has(procVif!.vif) === true, {
      message: "entry forwards to the new VIF",
    });
    // The old receiver's interface died with the link: a new one behind the new link gets the stream.
    const r2b = await behind(l2, G);
    await r2b.waitForCount(25);
    c = r1.count;
    await r1.waitForCount(c + 25);

    const { sent } = await stream.stop();
    await r1.waitForCount(sent);
    const got1 = await r1.stop();
    expect(got1.seqs, "rcv1 got every packet in order, during and after the delete and re-create").toEqual(range(0, sent));
    const s2 = (await r2b.stop()).seqs;
    expect(s2, "the new link got one contiguous run").toEqual(range(s2[0]!, s2[0]! + s2.length));
  });

  it("deleting the iif makes the route PENDING and removes its kernel entry; re-creating it brings both back", async () => {
    const G = "239.60.3.1";
    const IIF = "hp3in";
    const from = await leaf(IIF);
    const S = from.addr;
    await mfcd.client.addRoute({ route: { source: S, group: G, iif: IIF, oifs: ["out1"] } });
    const r1 = await rcv1(G);
    await send(G, 10, { ns: from.ns, addr: S });
    await r1.waitForCount(10);

    await unplug(from);
    const pending = await routeWhen(G, (r) => r.state === PENDING, "PENDING after the iif vanished");
    expect(pending.missingInterfaces).toEqual([IIF]);
    expect(pending.reason).toContain(IIF);
    expect(await kernelRoute(lab.router, S, G)).toBeUndefined();
    expect(await vifIndex(IIF)).toBeUndefined();
    expect(await vifIndex("out1"), "a VIF nobody uses is released").toBeUndefined();

    const ifindex = await plug(from);
    const back = await routeWhen(G, (r) => r.state === INSTALLED, "INSTALLED after the iif came back");
    expect(back.missingInterfaces).toEqual([]);
    expect((await kernelVifs(lab.router)).find((v) => v.name === IIF)?.ifindex).toBe(ifindex);
    expect((await kernelRoute(lab.router, S, G))?.parent).toBe(await vifIndex(IIF));
    await send(G, 10, { ns: from.ns, addr: S }, 100);
    await r1.waitForCount(20);
    expect((await r1.stop()).seqs).toEqual([...range(0, 10), ...range(100, 110)]);
  });

  it("link down/up: reported in down_interfaces and VifStatus.up, forwarding resumes after up without a re-add", async () => {
    const G = "239.60.4.1";
    const OIF = "hp4o";
    const l = await leaf(OIF);
    await mfcd.client.addRoute({ route: { source: src(), group: G, iif: "in0", oifs: [OIF] } });
    const r = await behind(l, G);
    await send(G, 10);
    await r.waitForCount(10);
    const entryBefore = await kernelRoute(lab.router, src(), G);
    const vifBefore = await vifIndex(OIF);
    let vif = (await listed(G)).list.vifs.find((v) => v.interface === OIF);
    expect(vif).toMatchObject({ up: true, running: true });

    await ip(["link", "set", OIF, "down"], lab.router);
    const down = await routeWhen(G, (x) => x.downInterfaces.includes(OIF), "reported down");
    expect(down.state).toBe(INSTALLED);
    expect(down.downInterfaces).toEqual([OIF]);
    expect(down.missingInterfaces).toEqual([]);
    expect(down.reason).toContain(OIF);
    vif = (await listed(G)).list.vifs.find((v) => v.interface === OIF);
    expect(vif).toMatchObject({ up: false, running: false });
    // Nothing to change in the kernel: the VIF and the entry stay.
    expect(await vifIndex(OIF)).toBe(vifBefore);
    expect((await kernelRoute(lab.router, src(), G))?.oifs).toEqual(entryBefore?.oifs);

    await ip(["link", "set", OIF, "up"], lab.router);
    const up = await routeWhen(G, (x) => x.downInterfaces.length === 0, "reported up again");
    expect(up.state).toBe(INSTALLED);
    expect(up.reason).toBe("");
    await waitFor(
      async () => {
        const v = (await listed(G)).list.vifs.find((x) => x.interface === OIF);
        return v?.up === true && v.running;
      },
      { timeoutMs: NOTICE_MS, message: "VIF up and running" },
    );
    await send(G, 10, undefined, 100);
    await r.waitForCount(20);
    expect((await r.stop()).seqs.slice(-10)).toEqual(range(100, 110));
    expect(await vifIndex(OIF)).toBe(vifBefore);
  });

  it("a rename is a removal plus an addition: routes naming the old name wait, routes naming the new one install", async () => {
    const OLD = "hp5x";
    const NEW = "hp5y";
    const ONLY_OLD = "239.60.5.1"; // in0 → hp5x
    const BOTH = "239.60.5.2"; // in0 → out1, hp5x
    const ONLY_NEW = "239.60.5.3"; // in0 → hp5y
    const l = await leaf(OLD);
    await mfcd.client.addRoute({ route: { source: src(), group: ONLY_OLD, iif: "in0", oifs: [OLD] } });
    await mfcd.client.addRoute({ route: { source: src(), group: BOTH, iif: "in0", oifs: ["out1", OLD] } });
    const pendingNew = await mfcd.client.addRoute({ route: { source: src(), group: ONLY_NEW, iif: "in0", oifs: [NEW] } });
    expect(pendingNew.route?.state).toBe(PENDING);
    expect(pendingNew.route?.missingInterfaces).toEqual([NEW]);
    const ifindex = await ifindexOf(OLD);

    await ipBatch([`link set ${OLD} down`, `link set ${OLD} name ${NEW}`, `link set ${NEW} up`], lab.router);
    const onlyOld = await routeWhen(ONLY_OLD, (r) => r.state === PENDING, "route on the old name pending");
    expect(onlyOld.missingInterfaces).toEqual([OLD]);
    const both = await routeWhen(BOTH, (r) => r.missingInterfaces.includes(OLD), "old name missing");
    expect(both.state).toBe(INSTALLED);
    const onlyNew = await routeWhen(ONLY_NEW, (r) => r.state === INSTALLED, "route on the new name installed");
    expect(onlyNew.missingInterfaces).toEqual([]);

    const vifs = await kernelVifs(lab.router);
    expect(vifs.map((v) => v.name)).not.toContain(OLD);
    const newVif = vifs.find((v) => v.name === NEW);
    expect(newVif?.ifindex, "same device, new name").toBe(ifindex);
    expect(await kernelRoute(lab.router, src(), ONLY_OLD)).toBeUndefined();
    expect([...((await kernelRoute(lab.router, src(), BOTH))?.oifs.keys() ?? [])]).toEqual([await vifIndex("out1")]);
    expect([...((await kernelRoute(lab.router, src(), ONLY_NEW))?.oifs.keys() ?? [])]).toEqual([newVif?.vif]);
    const listedVifs = (await mfcd.client.listRoutes({})).vifs.map((v) => v.interface);
    expect(listedVifs).toContain(NEW);
    expect(listedVifs).not.toContain(OLD);

    // Traffic: only ONLY_NEW reaches the renamed link; BOTH still reaches out1.
    const [rOld, rBoth, rNew, rBoth1] = await Promise.all([
      behind(l, ONLY_OLD),
      behind(l, BOTH),
      behind(l, ONLY_NEW),
      rcv1(BOTH),
    ]);
    const leafBefore = await netstat(l.ns, "IpExtInMcastPkts");
    await send(ONLY_OLD, 10);
    await send(BOTH, 10);
    await send(ONLY_NEW, 10); // behind the others on the same path
    await Promise.all([rNew.waitForCount(10), rBoth1.waitForCount(10)]);
    expect((await netstat(l.ns, "IpExtInMcastPkts")) - leafBefore, "multicast datagrams reaching the renamed link").toBe(10);
    expect((await rOld.stop()).count).toBe(0);
    expect((await rBoth.stop()).count).toBe(0);
  });

  it("an oif deleted and re-created in one breath (one ip batch) ends up on a VIF of the new device", async () => {
    const G = "239.60.7.1";
    const OIF = "hp7o";
    const l = await leaf(OIF);
    const oldIfindex = await ifindexOf(OIF);
    await mfcd.client.addRoute({ route: { source: src(), group: G, iif: "in0", oifs: ["out1", OIF] } });
    const oldVif = await vifIndex(OIF);

    await ipBatch(
      [
        `link del ${OIF}`,
        `link add ${OIF} type veth peer name eth0 netns ${l.ns}`,
        `addr add ${l.routerAddr}/24 dev ${OIF}`,
        `link set ${OIF} multicast on up`,
      ],
      lab.router,
    );
    await ipBatch([`addr add ${l.addr}/24 dev eth0`, "link set eth0 multicast on up", `route add default via ${l.routerAddr} dev eth0`], l.ns);
    const newIfindex = await ifindexOf(OIF);
    expect(newIfindex).not.toBe(oldIfindex);

    await waitFor(async () => (await kernelVifs(lab.router)).find((v) => v.name === OIF)?.ifindex === newIfindex, {
      timeoutMs: NOTICE_MS,
      message: "a VIF on the new device",
    });
    const vif = await vifIndex(OIF);
    await waitFor(async () => (await kernelRoute(lab.router, src(), G))?.oifs.has(vif!) === true, {
      timeoutMs: NOTICE_MS,
      message: "entry forwards to the new VIF",
    });
    const r = await routeWhen(G, (x) => x.missingInterfaces.length === 0 && x.state === INSTALLED, "installed on both oifs");
    expect(r.reason).toBe("");
    expect((await listed(G)).list.vifs.find((v) => v.interface === OIF)?.ifindex).toBe(newIfindex);
    if (vif !== oldVif) expect((await kernelRoute(lab.router, src(), G))?.oifs.has(oldVif!)).toBe(false);

    const [rl, r1] = await Promise.all([behind(l, G), rcv1(G)]);
    await send(G, 10);
    await Promise.all([rl.waitForCount(10), r1.waitForCount(10)]);
  });

  it("two interfaces swap names: each route follows the name, not the device", async () => {
    const [A, B] = ["239.60.8.1", "239.60.8.2"];
    const [la, lb] = await Promise.all([leaf("hp8a"), leaf("hp8b")]);
    await mfcd.client.addRoute({ route: { source: src(), group: A, iif: "in0", oifs: ["hp8a"] } });
    await mfcd.client.addRoute({ route: { source: src(), group: B, iif: "in0", oifs: ["hp8b"] } });
    const [ia, ib] = [await ifindexOf("hp8a"), await ifindexOf("hp8b")];

    await ipBatch(
      [
        "link set hp8a down",
        "link set hp8b down",
        "link set hp8a name hp8t",
        "link set hp8b name hp8a",
        "link set hp8t name hp8b",
        "link set hp8a up",
        "link set hp8b up",
      ],
      lab.router,
    );
    // Now the device behind leaf `la` is called hp8b and the one behind `lb` hp8a.
    await waitFor(
      async () => {
        const vifs = await kernelVifs(lab.router);
        const byName = (n: string) => vifs.find((v) => v.name === n);
        const a = await kernelRoute(lab.router, src(), A);
        const b = await kernelRoute(lab.router, src(), B);
        return (
          byName("hp8a")?.ifindex === ib &&
          byName("hp8b")?.ifindex === ia &&
          a?.oifs.size === 1 &&
          a.oifs.has(byName("hp8a")!.vif) &&
          b?.oifs.size === 1 &&
          b.oifs.has(byName("hp8b")!.vif)
        );
      },
      { timeoutMs: NOTICE_MS, message: () => "VIFs and entries follow the names" },
    );
    for (const g of [A, B]) {
      const r = await routeWhen(g, (x) => x.state === INSTALLED && x.missingInterfaces.length === 0 && x.downInterfaces.length === 0, "installed");
      expect(r.reason).toBe("");
    }
    const listedVifs = (await mfcd.client.listRoutes({})).vifs.map((v) => [v.interface, v.ifindex]);
    expect(listedVifs).toContainEqual(["hp8a", ib]);
    expect(listedVifs).toContainEqual(["hp8b", ia]);

    const [aAtLa, aAtLb, bAtLa, bAtLb] = await Promise.all([behind(la, A), behind(lb, A), behind(la, B), behind(lb, B)]);
    await send(A, 10);
    await send(B, 10);
    await Promise.all([aAtLb.waitForCount(10), bAtLa.waitForCount(10)]);
    expect((await aAtLa.stop()).count, "A follows the name hp8a to the other device").toBe(0);
    expect((await bAtLb.stop()).count, "B follows the name hp8b to the other device").toBe(0);
  });

  it("VIF reuse hazard, repeated: a newcomer interface never receives the traffic of a route whose oif was deleted", async () => {
    const A = "239.60.6.1"; // in0 → o1, o2
    const O1 = "hp6a";
    const O2 = "hp6b";
    const [l1, l2] = await Promise.all([leaf(O1), leaf(O2)]);
    await mfcd.client.addRoute({ route: { source: src(), group: A, iif: "in0", oifs: [O1, O2] } });
    const rA2 = await behind(l2, A);
    let expectedAtO2 = 0;

    for (let round = 1; round <= 4; round++) {
      if (round > 1) {
        await plug(l1);
        await routeWhen(A, (r) => r.missingInterfaces.length === 0, `round ${round}: o1 back`);
      }
      const o1Vif = await vifIndex(O1);
      expect(o1Vif, `round ${round}: o1 has a VIF`).toBeDefined();
      expect((await kernelRoute(lab.router, src(), A))?.oifs.has(o1Vif!)).toBe(true);

      // Delete o1 and give a newcomer a VIF through another route B. Odd rounds: the newcomer is
      // plugged after the delete (mfcd has had time to rewrite A, so the newcomer may take o1's
      // old index). Even rounds: the newcomer exists already and AddRoute B races the delete
      // (mfcd may not have seen it yet).
      const newcomerIf = `hp6n${round}`;
      const B = `239.60.6.${10 + round}`;
      const addB = () => mfcd.client.addRoute({ route: { source: src(), group: B, iif: "in0", oifs: [newcomerIf] } });
      let newcomer: Leaf;
      if (round % 2 === 1) {
        await unplug(l1);
        newcomer = await leaf(newcomerIf);
        await addB();
      } else {
        newcomer = await leaf(newcomerIf);
        await Promise.all([unplug(l1), addB()]);
      }
      const nVif = await vifIndex(newcomer.routerIf);
      expect(nVif, `round ${round}: newcomer has a VIF`).toBeDefined();
      expect(
        (await kernelRoute(lab.router, src(), A))?.oifs.has(nVif!),
        `round ${round}: A's entry must not name the newcomer's VIF ${nVif}`,
      ).toBe(false);

      const [rAn, rBn] = await Promise.all([behind(newcomer, A), behind(newcomer, B)]);
      const newcomerBefore = await netstat(newcomer.ns, "IpExtInMcastPkts");
      await send(A, 20, undefined, round * 1000);
      await send(B, 10); // behind A's packets on the same path
      expectedAtO2 += 20;
      await Promise.all([rA2.waitForCount(expectedAtO2), rBn.waitForCount(10)]);
      expect((await netstat(newcomer.ns, "IpExtInMcastPkts")) - newcomerBefore, `round ${round}: datagrams at the newcomer`).toBe(10);
      expect((await rAn.stop()).count, `round ${round}: A's traffic at the newcomer`).toBe(0);
      const a = (await routeWhen(A, (r) => r.missingInterfaces.includes(O1), `round ${round}: o1 missing`)).state;
      expect(a).toBe(INSTALLED);
    }
    const got = await rA2.stop();
    expect(got.seqs).toEqual([1, 2, 3, 4].flatMap((round) => range(round * 1000, round * 1000 + 20)));
  });
});

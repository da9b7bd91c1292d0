// kernel-needs: ipv4
// End-to-end: ApplyRoutes — one owner's complete route set, applied as a diff against the real
// kernel, with live traffic on the routes it must not touch.
//
//   src —in0— router (mfcd) —out1— rcv1, —out2— rcv2, —x1..x31— p1..p31 (one "xtra" namespace)
//
// One lab and one daemon for the file; every test uses its own groups and leaves no route behind.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RouteState, Status, type ListRoutesResponse, type Route } from "../../src/sdk/index.js";
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
import { sendMulticast, startReceiver, startStream, type Receiver } from "../helpers/traffic.js";
import { rejection, range } from "../helpers/rejection.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
const CTL = "ctl";
let lab: Lab;
let mfcd: MfcdProcess;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 2, extraRouterLinks: 31 });
  mfcd = await startMfcd(lab.router, { args: ["--state-file", "none"] });
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
const route = (group: string, oifs: string[]): Route => ({ source: src(), group, iif: "in0", oifs, oifTtl: {}, table: 0 });
const xs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `x${from + i}`);
const byGroup = (routes: Route[]) => [...routes].sort((a, b) => a.group.localeCompare(b.group));

async function receiver(i: number, group: string): Promise<Receiver> {
  return stops.add(await startReceiver(lab.receivers[i - 1]!, { group, port: PORT, ifaceAddr: lab.addrs.receivers[i - 1]! }));
}

function send(group: string, count: number) {
  return sendMulticast(lab.source, { group, port: PORT, ttl: 8, ifaceAddr: src(), count, intervalMs: 1 });
}


/** Everything the kernel shows about mfcd's table, counters included. */
async function kernelState() {
  const [entries, vifs] = await Promise.all([kernelRoutes(lab.router), kernelVifs(lab.router)]);
  return {
    entries: entries
      .map((e) => ({ source: e.source, group: e.group, parent: e.parent, oifs: [...e.oifs].sort(), counters: e.counters }))
      .sort((a, b) => a.group.localeCompare(b.group)),
    vifs: vifs.map((v) => ({ vif: v.vif, name: v.name, ifindex: v.ifindex, flags: v.flags, counters: v.counters })),
  };
}

/** ListRoutes routes sorted by group (the order of a map is not part of the contract). */
function sortedList(list: ListRoutesResponse): ListRoutesResponse {
  return { ...list, routes: [...list.routes].sort((a, b) => (a.route?.group ?? "").localeCompare(b.route?.group ?? "")) };
}
const listNow = async () => sortedList(await mfcd.client.listRoutes({}));
function withoutCounters(list: ListRoutesResponse) {
  return {
    routes: list.routes.map(({ counters: _, ...r }) => r),
    vifs: list.vifs.map(({ inPackets: _a, inBytes: _b, outPackets: _c, outBytes: _d, ...v }) => v),
    foreignEntries: list.foreignEntries,
  };
}

async function vifIndex(name: string): Promise<number | undefined> {
  return (await kernelVifs(lab.router)).find((v) => v.name === name)?.vif;
}

async function packets(group: string): Promise<bigint> {
  const e = await kernelRoute(lab.router, src(), group);
  if (!e) throw new Error(`no kernel entry for ${group}`);
  return e.counters.packets;
}

describe("ApplyRoutes (real kernel, real traffic)", () => {
  it("adds a set, re-applies it untouched, applies exactly the diff, and a live stream loses nothing", async () => {
    const [G1, G2, G3, G4] = ["239.70.1.1", "239.70.1.2", "239.70.1.3", "239.70.1.4"];
    const set1 = [route(G1, ["out1"]), route(G2, ["out1", "out2"]), route(G3, ["out2"])];

    const first = await mfcd.client.applyRoutes({ owner: CTL, routes: set1 });
    expect(first).toMatchObject({ added: 3, removed: 0, replaced: 0, unchanged: 0, dryRun: false });
    expect(byGroup(first.addedRoutes)).toEqual(set1);
    let list = await listNow();
    expect(list.routes.map((r) => [r.route, r.owner, r.state])).toEqual(set1.map((r) => [r, CTL, RouteState.ROUTE_STATE_INSTALLED]));
    expect((await kernelRoutes(lab.router)).map((e) => e.group).sort()).toEqual([G1, G2, G3]);

    // Counters on G2 (no stream) and a live 2 ms stream on G1.
    const g2 = await receiver(2, G2);
    await send(G2, 10);
    await g2.waitForCount(10);
    const r1 = await receiver(1, G1);
    const stream = stops.add(
      await startStream(lab.source, { group: G1, port: PORT, ttl: 8, ifaceAddr: src(), intervalMs: 2, durationMs: bound(40_000) }),
    );
    await r1.waitForCount(25);

    // Re-apply the same set: nothing changes, the kernel entries are not rewritten.
    const shapeBefore = (await kernelState()).entries.map(({ counters: _, ...rest }) => rest);
    const g1Before = await packets(G1);
    const again = await mfcd.client.applyRoutes({ owner: CTL, routes: set1, listUnchanged: true });
    expect(again).toMatchObject({ added: 0, removed: 0, replaced: 0, unchanged: 3, addedRoutes: [], removedRoutes: [], replacedRoutes: [] });
    expect(byGroup(again.unchangedRoutes)).toEqual(set1);
    expect((await kernelState()).entries.map(({ counters: _, ...rest }) => rest)).toEqual(shapeBefore);
    expect(await packets(G1), "G1's counter keeps growing (entry not re-created)").toBeGreaterThanOrEqual(g1Before);
    expect(await packets(G2)).toBe(10n);
    await r1.waitForCount(r1.count + 25);

    // Change the other routes: G2 replaced, G3 removed, G4 added, G1 unchanged.
    const set2 = [route(G1, ["out1"]), route(G2, ["out2"]), route(G4, ["out1"])];
    const g1Mid = await packets(G1);
    const diff = await mfcd.client.applyRoutes({ owner: CTL, routes: set2, listUnchanged: true });
    expect(diff).toEqual({
      added: 1,
      removed: 1,
      replaced: 1,
      unchanged: 1,
      addedRoutes: [route(G4, ["out1"])],
      removedRoutes: [route(G3, ["out2"])],
      replacedRoutes: [route(G2, ["out2"])],
      unchangedRoutes: [route(G1, ["out1"])],
      dryRun: false,
    });
    expect(await packets(G1)).toBeGreaterThanOrEqual(g1Mid);
    expect(await packets(G2), "G2 replaced in place: counters kept").toBe(10n);
    expect(await kernelRoute(lab.router, src(), G3)).toBeUndefined();
    const out1 = await vifIndex("out1");
    const out2 = await vifIndex("out2");
    expect([...((await kernelRoute(lab.router, src(), G2))?.oifs.keys() ?? [])]).toEqual([out2]);
    expect([...((await kernelRoute(lab.router, src(), G4))?.oifs.keys() ?? [])]).toEqual([out1]);
    list = await listNow();
    expect(list.routes.map((r) => [r.route, r.owner, r.state])).toEqual(set2.map((r) => [r, CTL, RouteState.ROUTE_STATE_INSTALLED]));

    await r1.waitForCount(r1.count + 25);
    const { sent } = await stream.stop();
    await r1.waitForCount(sent);
    expect((await r1.stop()).seqs, "no packet of G1 lost across both applies").toEqual(range(0, sent));
    expect(await packets(G1)).toBe(BigInt(sent));
  });

  it("dry_run returns the diff and changes nothing in the kernel or in ListRoutes", async () => {
    const [G1, G2, G3, G5] = ["239.70.2.1", "239.70.2.2", "239.70.2.3", "239.70.2.5"];
    await mfcd.client.applyRoutes({ owner: CTL, routes: [route(G1, ["out1"]), route(G2, ["out2"]), route(G3, ["out1"])] });
    const r = await receiver(1, G1);
    await send(G1, 10);
    await r.waitForCount(10);
    const [listBefore, kernelBefore] = [await listNow(), await kernelState()];

    const dry = await mfcd.client.applyRoutes({
      owner: CTL,
      routes: [route(G1, ["out1", "out2"]), route(G3, ["out1"]), route(G5, ["x1"])],
      dryRun: true,
      listUnchanged: true,
    });
    expect(dry).toEqual({
      added: 1,
      removed: 1,
      replaced: 1,
      unchanged: 1,
      addedRoutes: [route(G5, ["x1"])],
      removedRoutes: [route(G2, ["out2"])],
      replacedRoutes: [route(G1, ["out1", "out2"])],
      unchangedRoutes: [route(G3, ["out1"])],
      dryRun: true,
    });
    expect(await listNow()).toEqual(listBefore);
    expect(await kernelState()).toEqual(kernelBefore);
    expect(await vifIndex("x1"), "a dry run takes no VIF").toBeUndefined();
  });

  it("owners: empty sets need allow_empty, other owners' routes are refused by name, \"config\" is reserved", async () => {
    const [G1, G2, G6] = ["239.70.3.1", "239.70.3.2", "239.70.3.6"];
    await mfcd.client.applyRoutes({ owner: CTL, routes: [route(G1, ["out1"]), route(G2, ["out2"])] });
    await mfcd.client.addRoute({ route: route(G6, ["out1"]) }); // owner "api"
    const [listBefore, kernelBefore] = [await listNow(), await kernelState()];
    expect(listBefore.routes.map((r) => [r.route?.group, r.owner])).toEqual([[G1, CTL], [G2, CTL], [G6, "api"]]);
    const unchanged = async () => {
      expect(await listNow()).toEqual(listBefore);
      expect(await kernelState()).toEqual(kernelBefore);
    };

    const empty = await rejection(mfcd.client.applyRoutes({ owner: CTL, routes: [] }));
    expect(empty.code).toBe(Status.INVALID_ARGUMENT);
    expect(empty.fieldViolations.map((v) => v.field)).toEqual(["routes"]);
    expect(empty.details).toContain("allow_empty");
    await unchanged();

    const taken = await rejection(mfcd.client.applyRoutes({ owner: CTL, routes: [route(G1, ["out1"]), route(G6, ["out1"])] }));
    expect(taken.code).toBe(Status.FAILED_PRECONDITION);
    expect(taken.reason).toBe("ROUTE_OWNED_BY_OTHER");
    expect(taken.details).toContain('"api"');
    expect(taken.details).toContain(G6);
    await unchanged();

    for (const call of [
      () => mfcd.client.applyRoutes({ owner: "config", routes: [route(G1, ["out1"])] }),
      () => mfcd.client.applyRoutes({ owner: "config", routes: [], allowEmpty: true }),
      () => mfcd.client.addRoute({ owner: "config", route: route("239.70.3.9", ["out1"]) }),
    ]) {
      const reserved = await rejection(call());
      expect(reserved.code).toBe(Status.INVALID_ARGUMENT);
      expect(reserved.fieldViolations.map((v) => v.field)).toEqual(["owner"]);
      expect(reserved.details).toContain("config");
    }
    await unchanged();

    const wipe = await mfcd.client.applyRoutes({ owner: CTL, routes: [], allowEmpty: true });
    expect(wipe).toMatchObject({ added: 0, removed: 2, replaced: 0, unchanged: 0 });
    expect(byGroup(wipe.removedRoutes)).toEqual([route(G1, ["out1"]), route(G2, ["out2"])]);
    const after = await listNow();
    expect(after.routes.map((r) => [r.route?.group, r.owner, r.state])).toEqual([[G6, "api", RouteState.ROUTE_STATE_INSTALLED]]);
    expect((await kernelRoutes(lab.router)).map((e) => e.group)).toEqual([G6]);
    expect((await kernelVifs(lab.router)).map((v) => v.name)).toEqual(["in0", "out1"]);
  });

  it("an apply that would overflow the 32-VIF table → RESOURCE_EXHAUSTED, kernel and ListRoutes exactly as before", async () => {
    const [A, B, C, D, E, F] = ["239.70.4.1", "239.70.4.2", "239.70.4.3", "239.70.4.4", "239.70.4.5", "239.70.4.6"];
    await mfcd.client.applyRoutes({ owner: CTL, routes: [route(A, ["out1"]), route(B, ["out2"]), route(C, ["x1"])] });
    await mfcd.client.addRoute({ route: route(D, xs(2, 29)) }); // api: 4 + 28 = 32 VIFs
    expect(await kernelVifs(lab.router)).toHaveLength(32);
    const rB = await receiver(2, B);
    await send(B, 10);
    await rB.waitForCount(10);
    const [listBefore, kernelBefore] = [await listNow(), await kernelState()];

    // Removes B (frees out2), replaces A (takes out2 again), keeps C, adds E and F (x30, x31):
    // the removal and the replace succeed before the additions find the table full.
    const err = await rejection(
      mfcd.client.applyRoutes({ owner: CTL, routes: [route(A, ["out1", "out2"]), route(C, ["x1"]), route(E, ["x30"]), route(F, ["x31"])] }),
    );
    expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(err.reason).toBe("VIF_TABLE_FULL");
    const [listAfter, kernelAfter] = [await listNow(), await kernelState()];
    // Same routes, states, VIF numbers and kernel entries ...
    expect(withoutCounters(listAfter)).toEqual(withoutCounters(listBefore));
    expect(kernelAfter.entries.map(({ counters: _, ...e }) => e)).toEqual(kernelBefore.entries.map(({ counters: _, ...e }) => e));
    expect(kernelAfter.vifs.map(({ counters: _, ...v }) => v)).toEqual(kernelBefore.vifs.map(({ counters: _, ...v }) => v));
    // ... and nothing was deleted and re-created on the way (that would reset B's counters).
    expect(listAfter, "B's entry and out2's VIF kept their counters").toEqual(listBefore);
    expect(kernelAfter, "B's entry and out2's VIF kept their counters").toEqual(kernelBefore);

    // Still fully working: B forwards, and the same apply without the extra VIFs goes through.
    await send(B, 10);
    await rB.waitForCount(20);
    const ok = await mfcd.client.applyRoutes({ owner: CTL, routes: [route(A, ["out1", "out2"]), route(C, ["x1"])] });
    expect(ok).toMatchObject({ added: 0, removed: 1, replaced: 1, unchanged: 1 });
  });
});

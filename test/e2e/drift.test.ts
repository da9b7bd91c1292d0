// kernel-needs: ipv4
// End-to-end: kernel entries changed behind mfcd's back by another privileged process — a second
// raw IGMP socket in the router namespace without MRT_INIT (test/helpers/foreign-mroute.ts).
//
//   src —in0— router (mfcd) —out1— rcv1
//                           —out2— rcv2
//
// One lab and one daemon for the file; every test uses its own groups and leaves no route (and
// no foreign entry) behind.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RouteState, type RouteStatus } from "../../src/sdk/index.js";
import { foreignAddMfc, foreignDelMfc } from "../helpers/foreign-mroute.js";
import { createLab, type Lab } from "../helpers/lab.js";
import {
  deleteAllRoutes,
  kernelRoute,
  kernelVifs,
  startMfcd,
  StopList,
  type MfcdProcess,
} from "../helpers/mfcd-process.js";
import { sendMulticast, startReceiver, waitFor, type Receiver } from "../helpers/traffic.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
let lab: Lab;
let mfcd: MfcdProcess;
const stops = new StopList();
/** Foreign entries a test created, removed after it (also when it failed). */
const foreignLeft: { source: string; group: string }[] = [];

beforeAll(async () => {
  lab = await createLab({ receivers: 2 });
  mfcd = await startMfcd(lab.router, { args: ["--state-file", "none"] });
});
afterEach(async () => {
  await stops.stopAll();
  for (const { source, group } of foreignLeft.splice(0)) {
    try {
      foreignDelMfc(lab.router, source, group);
    } catch {
      // already gone
    }
  }
  await deleteAllRoutes(mfcd.client);
});
afterAll(async () => {
  await stops.stopAll();
  await mfcd?.stop();
  await lab?.cleanup();
});

const src = () => lab.addrs.source;
const route = (group: string, oifs: string[] = ["out1", "out2"]) => ({ source: src(), group, iif: "in0", oifs });

async function receiver(i: number, group: string): Promise<Receiver> {
  return stops.add(await startReceiver(lab.receivers[i - 1]!, { group, port: PORT, ifaceAddr: lab.addrs.receivers[i - 1]! }));
}

function send(group: string, count: number, firstSeq = 0) {
  return sendMulticast(lab.source, { group, port: PORT, ttl: 8, ifaceAddr: src(), count, intervalMs: 1, firstSeq });
}

async function vifIndex(name: string): Promise<number> {
  const v = (await kernelVifs(lab.router)).find((x) => x.name === name)?.vif;
  if (v === undefined) throw new Error(`no kernel VIF for ${name}`);
  return v;
}

async function listedRoute(group: string): Promise<RouteStatus | undefined> {
  return (await mfcd.client.listRoutes({})).routes.find((r) => r.route?.group === group);
}

/** Waits until ListRoutes shows at least `n` drift repairs of the route of `group`. */
async function repairedAtLeast(group: string, n: number): Promise<RouteStatus> {
  const r = await waitFor(
    async () => {
      const listed = await listedRoute(group);
      return listed && listed.driftRepairs >= n ? listed : undefined;
    },
    { message: `${n} drift repair(s) of ${group}` },
  );
  if (!r) throw new Error("unreachable");
  return r;
}

/** The kernel entry of (src, group) as [parent, sorted oif VIFs], or undefined. */
async function entryShape(group: string): Promise<[number, number[]] | undefined> {
  const e = await kernelRoute(lab.router, src(), group);
  return e && [e.parent, [...e.oifs.keys()].sort((a, b) => a - b)];
}

describe("drift repair (foreign changes to mfcd's kernel entries)", () => {
  it("a foreign MRT_DEL_MFC of mfcd's (S,G) is repaired by itself and traffic flows again", async () => {
    const G = "239.50.1.1";
    await mfcd.client.addRoute({ route: route(G) });
    const [r1, r2] = await Promise.all([receiver(1, G), receiver(2, G)]);
    await send(G, 10);
    await Promise.all([r1.waitForCount(10), r2.waitForCount(10)]);
    const shape = await entryShape(G);
    expect(shape).toBeDefined();
    expect((await listedRoute(G))?.driftRepairs).toBe(0);

    // The foreign delete succeeds (so the entry really was removed) ...
    foreignDelMfc(lab.router, src(), G);
    // ... and comes back without any client call: the MFC delete event triggers the repair.
    await waitFor(async () => (await entryShape(G)) !== undefined, { timeoutMs: 10_000, message: "entry re-installed" });
    expect(await entryShape(G)).toEqual(shape);

    const listed = await repairedAtLeast(G, 1);
    expect(listed.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    expect(listed.driftRepairs).toBeGreaterThanOrEqual(1);
    expect(listed.lastDrift).toMatch(/removed/);

    await send(G, 10, 100);
    await Promise.all([r1.waitForCount(20), r2.waitForCount(20)]);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs.slice(10)).toEqual([100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
    expect(got2.count).toBe(20);
  });

  it("a foreign MRT_ADD_MFC that alters mfcd's entry (oifs, then iif) is repaired back", async () => {
    const G = "239.50.2.1";
    await mfcd.client.addRoute({ route: route(G) });
    const [in0, out1, out2] = [await vifIndex("in0"), await vifIndex("out1"), await vifIndex("out2")];
    const original: [number, number[]] = [in0, [out1, out2].sort((a, b) => a - b)];
    expect(await entryShape(G)).toEqual(original);

    // Drop out2 from the entry.
    foreignAddMfc(lab.router, src(), G, in0, [out1]);
    const afterOifs = await repairedAtLeast(G, 1);
    await waitFor(async () => JSON.stringify(await entryShape(G)) === JSON.stringify(original), {
      message: "oifs repaired",
    });
    expect(afterOifs.lastDrift).toContain("out2");

    // Move the input interface to out1 and forward to in0 instead.
    foreignAddMfc(lab.router, src(), G, out1, [in0, out2]);
    const afterIif = await repairedAtLeast(G, 2);
    await waitFor(async () => JSON.stringify(await entryShape(G)) === JSON.stringify(original), {
      message: "iif repaired",
    });
    expect(afterIif.lastDrift).toMatch(/iif/);
    expect(afterIif.state).toBe(RouteState.ROUTE_STATE_INSTALLED);

    const [r1, r2] = await Promise.all([receiver(1, G), receiver(2, G)]);
    await send(G, 10);
    await Promise.all([r1.waitForCount(10), r2.waitForCount(10)]);
    expect((await listedRoute(G))?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
  });

  it("a foreign static entry for an (S,G) mfcd does not own is reported in foreign_entries and left alone", async () => {
    const OURS = "239.50.3.1";
    const THEIRS = "239.50.3.2";
    await mfcd.client.addRoute({ route: route(OURS, ["out1"]) });
    const [in0, out1] = [await vifIndex("in0"), await vifIndex("out1")];

    foreignAddMfc(lab.router, src(), THEIRS, in0, [out1]);
    foreignLeft.push({ source: src(), group: THEIRS });
    const foreign = await waitFor(
      async () => (await mfcd.client.listRoutes({})).foreignEntries.find((f) => f.group === THEIRS),
      { message: "foreign entry listed" },
    );
    expect(foreign).toMatchObject({ source: src(), group: THEIRS, iif: "in0", oifs: ["out1"] });
    // Not adopted as a route of mfcd's.
    expect((await mfcd.client.listRoutes({})).routes.map((r) => r.route?.group)).toEqual([OURS]);

    // It forwards (mfcd holds MRT_INIT), and mfcd's later full checks keep reporting it with its
    // counters instead of deleting it.
    const r1 = await receiver(1, THEIRS);
    await send(THEIRS, 10);
    await r1.waitForCount(10);
    const counted = await waitFor(
      async () =>
        (await mfcd.client.listRoutes({})).foreignEntries.find((f) => f.group === THEIRS && f.counters?.packets === 10n),
      { message: "foreign entry counters refreshed by a later drift check" },
    );
    if (!counted) throw new Error("unreachable");
    expect(counted.oifs).toEqual(["out1"]);
    expect(await entryShape(THEIRS)).toEqual([in0, [out1]]);
    expect((await kernelRoute(lab.router, src(), THEIRS))?.counters.packets).toBe(10n);
    // And mfcd's own route is untouched by its presence.
    const ours = await listedRoute(OURS);
    expect(ours?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    expect(ours?.driftRepairs).toBe(0);
  });
});

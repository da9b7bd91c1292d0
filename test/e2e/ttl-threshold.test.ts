// kernel-needs: ipv4
// End-to-end: per-oif TTL thresholds (Route.oif_ttl, IPv4) on the real kernel with real traffic.
//
//   src —in0— router (mfcd) —out1— rcv1   threshold 1 (the default)
//                           —out2— rcv2   threshold from oif_ttl
//
// The kernel sends a packet out of an oif only if the TTL it arrived with is greater than the
// oif's threshold (then decrements it). So with {out2: 3}: TTL 2 and 3 leave through out1 only,
// TTL 4 through both. "Not delivered" is never a wait: a later burst on the same path that does
// arrive proves the earlier packets were handled. One lab and one daemon for the file; each test
// deletes its routes.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RouteState, Status, type Route } from "../../src/sdk/index.js";
import { readMrCache } from "../helpers/kernel-view.js";
import { createLab, type Lab } from "../helpers/lab.js";
import {
  deleteAllRoutes,
  kernelRoute,
  kernelRoutes,
  kernelVifs,
  startMfcd,
  StopList,
  tempSocketPath,
  type MfcdProcess,
} from "../helpers/mfcd-process.js";
import { sendMulticast, startReceiver, startStream, type Receiver } from "../helpers/traffic.js";
import { rejection, range } from "../helpers/rejection.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;

let lab: Lab;
let socketPath: string;
let mfcd: MfcdProcess;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 2 });
  socketPath = tempSocketPath();
  mfcd = await startMfcd(lab.router, { socketPath });
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
const G = (n: number) => `239.${lab.k}.80.${n}`;
const route = (group: string, oifTtl: Record<string, number> = {}, oifs = ["out1", "out2"]): Route => ({
  source: src(),
  group,
  iif: "in0",
  oifs,
  oifTtl,
  table: 0,
});

async function receiver(i: number, group: string): Promise<Receiver> {
  return stops.add(await startReceiver(lab.receivers[i - 1]!, { group, port: PORT, ifaceAddr: lab.addrs.receivers[i - 1]! }));
}

function send(group: string, ttl: number, count: number, firstSeq: number) {
  return sendMulticast(lab.source, { group, port: PORT, ttl, ifaceAddr: src(), count, firstSeq, intervalMs: 1 });
}

/** The kernel entry's oifs as interface name → threshold (from /proc/net/ip_mr_cache "vif:ttl"). */
async function kernelThresholds(group: string): Promise<Record<string, number>> {
  const entry = await kernelRoute(lab.router, src(), group);
  if (!entry) throw new Error(`no kernel entry for ${group}`);
  const names = new Map((await kernelVifs(lab.router)).map((v) => [v.vif, v.name]));
  return Object.fromEntries([...entry.oifs].map(([vif, ttl]) => [names.get(vif) ?? `vif${vif}`, ttl]));
}



describe("per-oif TTL thresholds (real kernel, real traffic)", () => {
  it("{out2: 3}: TTL 2 and 3 reach rcv1 only, TTL 4 reaches both; the kernel entry shows vif:ttl", async () => {
    const g = G(1);
    const added = await mfcd.client.addRoute({ route: route(g, { out2: 3 }) });
    expect(added.route).toMatchObject({ route: route(g, { out2: 3 }), state: RouteState.ROUTE_STATE_INSTALLED });
    expect((await mfcd.client.listRoutes({})).routes[0]?.route?.oifTtl).toEqual({ out2: 3 });

    expect(await kernelThresholds(g)).toEqual({ out1: 1, out2: 3 });
    const out2 = (await kernelVifs(lab.router)).find((v) => v.name === "out2")!.vif;
    expect(await readMrCache(lab.router)).toMatch(new RegExp(`\\s${out2}:3(\\s|$)`, "m"));

    const [r1, r2] = await Promise.all([receiver(1, g), receiver(2, g)]);
    await send(g, 2, 10, 0);
    await r1.waitForCount(10);
    await send(g, 3, 10, 100);
    await r1.waitForCount(20);
    await send(g, 4, 10, 200); // behind the TTL 2/3 bursts on the same path
    await Promise.all([r1.waitForCount(30), r2.waitForCount(10)]);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs, "out1 (threshold 1): every TTL ≥ 2").toEqual([...range(0, 10), ...range(100, 110), ...range(200, 210)]);
    expect(got2.seqs, "out2 (threshold 3): TTL 4 only").toEqual(range(200, 210));

    const list = await mfcd.client.listRoutes({});
    expect(list.routes[0]?.counters?.packets).toBe(30n);
    const out = (name: string) => list.vifs.find((v) => v.interface === name)?.outPackets;
    expect([out("out1"), out("out2")]).toEqual([30n, 10n]);
    expect((await kernelVifs(lab.router)).map((v) => [v.name, v.counters.outPackets])).toEqual([
      ["in0", 0n],
      ["out1", 30n],
      ["out2", 10n],
    ]);
  });

  it("replacing the thresholds in place: a TTL-4 stream stays on rcv1 without loss while out2 is switched off and on", async () => {
    const g = G(2);
    await mfcd.client.addRoute({ route: route(g) });
    const vifsBefore = (await kernelVifs(lab.router)).map((v) => [v.vif, v.name]);
    const [r1, r2] = await Promise.all([receiver(1, g), receiver(2, g)]);
    // Counters survive an in-place replace and count the stream in order: packet seq k is the
    // (k+1)-th counted, so a reading before/after a replace brackets where the switch happened.
    const counted = async () => Number((await mfcd.client.listRoutes({})).routes[0]?.counters?.packets ?? -1n);

    const stream = stops.add(
      await startStream(lab.source, { group: g, port: PORT, ttl: 4, ifaceAddr: src(), intervalMs: 2, durationMs: bound(30_000) }),
    );
    await r2.waitForCount(20);
    const p1 = await counted();
    const off = await mfcd.client.addRoute({ route: route(g, { out2: 4 }), replace: true }); // TTL 4 > 4: no
    expect(off.route?.route?.oifTtl).toEqual({ out2: 4 });
    const p2 = await counted();
    expect(await kernelThresholds(g)).toEqual({ out1: 1, out2: 4 });
    await r1.waitForCount(p2 + 25);
    const p3 = await counted();
    await mfcd.client.addRoute({ route: route(g, { out2: 3 }), replace: true }); // TTL 4 > 3: yes
    const p4 = await counted();
    expect(await kernelThresholds(g)).toEqual({ out1: 1, out2: 3 });
    await r2.waitForCount(p2 + 20); // ≥ 20 of the second run

    // The same thresholds again are a no-op; different ones need replace.
    await mfcd.client.addRoute({ route: route(g, { out2: 3 }) });
    const exists = await rejection(mfcd.client.addRoute({ route: route(g, { out2: 5 }) }));
    expect(exists.code).toBe(Status.ALREADY_EXISTS);

    const { sent } = await stream.stop();
    await r1.waitForCount(sent);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs, "rcv1 got every packet, in order, without a gap").toEqual(range(0, sent));
    // rcv2: one run from 0 up to the first replace, then one run from the second replace on.
    const s2 = got2.seqs;
    const gap = s2.findIndex((s, i) => i > 0 && s !== s2[i - 1]! + 1);
    expect(gap, `rcv2 has exactly one gap: ${JSON.stringify(s2)}`).toBeGreaterThan(0);
    const [firstRun, secondRun] = [s2.slice(0, gap), s2.slice(gap)];
    expect(firstRun).toEqual(range(0, firstRun.length));
    expect(secondRun).toEqual(range(secondRun[0]!, sent));
    expect(firstRun.length, "out2 forwarded until the threshold rose").toBeGreaterThanOrEqual(p1);
    expect(firstRun.length, "and not after that replace returned").toBeLessThanOrEqual(p2);
    expect(secondRun[0]!, "out2 stayed off until the threshold fell").toBeGreaterThanOrEqual(p3);
    expect(secondRun[0]!, "and forwarded right after that replace returned").toBeLessThanOrEqual(p4);

    // In place: the same VIFs, one entry that counted the whole stream.
    expect((await kernelVifs(lab.router)).map((v) => [v.vif, v.name])).toEqual(vifsBefore);
    expect((await kernelRoute(lab.router, src(), g))?.counters.packets).toBe(BigInt(sent));
  });

  it("invalid thresholds (0, 255, an interface that is not an oif) → INVALID_ARGUMENT naming route.oif_ttl[...]; nothing installed", async () => {
    const g = G(3);
    const cases: { oifTtl: Record<string, number>; field: string; says: RegExp }[] = [
      { oifTtl: { out2: 0 }, field: "route.oif_ttl[out2]", says: /^0: a TTL threshold is 1\.\.254/ },
      { oifTtl: { out2: 255 }, field: "route.oif_ttl[out2]", says: /^255: a TTL threshold is 1\.\.254/ },
      { oifTtl: { out3: 2 }, field: "route.oif_ttl[out3]", says: /"out3" is not one of the oifs/ },
      { oifTtl: { in0: 2 }, field: "route.oif_ttl[in0]", says: /"in0" is not one of the oifs/ },
    ];
    for (const c of cases) {
      const err = await rejection(mfcd.client.addRoute({ route: route(g, c.oifTtl) }));
      expect(err.code, JSON.stringify(c.oifTtl)).toBe(Status.INVALID_ARGUMENT);
      expect(err.fieldViolations, JSON.stringify(c.oifTtl)).toEqual([{ field: c.field, description: expect.stringMatching(c.says) }]);
    }
    const all = await rejection(mfcd.client.addRoute({ route: route(g, { out1: 0, out2: 255, out3: 2 }) }));
    expect(all.fieldViolations.map((v) => v.field).sort()).toEqual(["route.oif_ttl[out1]", "route.oif_ttl[out2]", "route.oif_ttl[out3]"]);
    // ApplyRoutes names the route's index.
    const applied = await rejection(mfcd.client.applyRoutes({ routes: [route(G(4)), route(g, { out2: 0 })] }));
    expect(applied.code).toBe(Status.INVALID_ARGUMENT);
    expect(applied.fieldViolations.map((v) => v.field)).toEqual(["routes[1].oif_ttl[out2]"]);

    expect((await mfcd.client.listRoutes({})).routes).toEqual([]);
    expect(await kernelRoutes(lab.router)).toEqual([]);

    // The edges are accepted; 1 is the default and is not echoed back.
    const ok = await mfcd.client.addRoute({ route: route(g, { out1: 1, out2: 254 }) });
    expect(ok.route?.route?.oifTtl).toEqual({ out2: 254 });
    expect(await kernelThresholds(g)).toEqual({ out1: 1, out2: 254 });
  });

  it("thresholds survive a restart with the same state file", async () => {
    const g = G(5);
    await mfcd.client.addRoute({ route: route(g, { out2: 3 }) });
    expect(await mfcd.stop()).toEqual({ code: 0, signal: null });
    expect(await kernelRoutes(lab.router)).toEqual([]);
    mfcd = await startMfcd(lab.router, { socketPath });
    const { routes } = await mfcd.client.listRoutes({});
    expect(routes.map((x) => [x.route, x.state])).toEqual([[route(g, { out2: 3 }), RouteState.ROUTE_STATE_INSTALLED]]);
    expect(await kernelThresholds(g)).toEqual({ out1: 1, out2: 3 });

    const [r1, r2] = await Promise.all([receiver(1, g), receiver(2, g)]);
    await send(g, 3, 5, 0);
    await send(g, 4, 5, 10);
    await Promise.all([r1.waitForCount(10), r2.waitForCount(5)]);
    const [got1, got2] = await Promise.all([r1.stop(), r2.stop()]);
    expect(got1.seqs).toEqual([...range(0, 5), ...range(10, 15)]);
    expect(got2.seqs, "TTL 3 stays off out2 after the restart too").toEqual(range(10, 15));
  });
});

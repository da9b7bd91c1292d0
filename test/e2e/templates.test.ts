// kernel-needs: ipv4
// End-to-end: template routes — (*,G) and source/group prefixes — learned into concrete (S,G)
// kernel entries from NOCACHE upcalls, stop filters, conversion, removal, idle expiry, a source
// moving between iifs, and persistence (issue 5 §5). Real kernel, real multicast.
//
//   src   eth0 10.K.0.2, also OUT 172.16.K.2/32 —in0— router (mfcd) —out1— rcv1
//                                                                   —out2— rcv2
//   xtra  p1   10.K.129.2, also 10.K.0.2/32 (the same source as src!) —x1—
//
// x1 plays "in1": the second input interface. OUT is a source outside 10.K.0.0/16.
// Every test runs its own mfcd (some need --learned-idle, one restarts it) on the one lab;
// afterEach stops daemons, streams and receivers. Ports tell flows of one group apart.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RouteState, Status, type MfcClient, type Route, type RouteStatus } from "../../src/sdk/index.js";
import { loadStateFile } from "../../src/state/load-state-file.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { kernelRoute, kernelRoutes, kernelVifs, startMfcd, StopList, tempSocketPath, type MfcdProcess } from "../helpers/mfcd-process.js";
import { ip } from "../helpers/netns.js";
import { sendMulticast, startReceiver, startStream, waitFor, type Receiver, type Stream } from "../helpers/traffic.js";
import { rejection, range } from "../helpers/rejection.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
const INSTALLED = RouteState.ROUTE_STATE_INSTALLED;

let lab: Lab;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 2, extraRouterLinks: 1 });
  await ip(["addr", "add", `${OUT()}/32`, "dev", "eth0"], lab.source);
  await ip(["addr", "add", `${S()}/32`, "dev", "p1"], lab.extraPeer);
});
afterEach(async () => {
  await stops.stopAll();
});
afterAll(async () => {
  await stops.stopAll();
  await lab?.cleanup();
});

/** The source `src` sends from (inside every 10.K.0.0/16 template). */
const S = () => lab.addrs.source;
/** A second source on `src`, outside 10.K.0.0/16. */
const OUT = () => `172.16.${lab.k}.2`;
/** x1's peer address (a source that only ever arrives on x1). */
const PEER = () => lab.addrs.extraPeers[0]!;

async function daemon(args: string[] = [], socketPath?: string): Promise<MfcdProcess> {
  return stops.add(await startMfcd(lab.router, { args, ...(socketPath === undefined ? {} : { socketPath }) }));
}

const tpl = (source: string, group: string, iif: string, oifs: string[]): Route => ({ source, group, iif, oifs, oifTtl: {}, table: 0 });

async function receiver(i: number, group: string, port = PORT): Promise<Receiver> {
  return stops.add(await startReceiver(lab.receivers[i - 1]!, { group, port, ifaceAddr: lab.addrs.receivers[i - 1]! }));
}

type From = "S@in0" | "OUT@in0" | "S@x1" | "PEER@x1";
function sender(from: From): { ns: string; ifaceAddr: string } {
  switch (from) {
    case "S@in0":
      return { ns: lab.source, ifaceAddr: S() };
    case "OUT@in0":
      return { ns: lab.source, ifaceAddr: OUT() };
    case "S@x1":
      return { ns: lab.extraPeer!, ifaceAddr: S() };
    case "PEER@x1":
      return { ns: lab.extraPeer!, ifaceAddr: PEER() };
  }
}

/**
 * Gap between the first datagrams of a flow mfcd learns, until one of them is delivered. While
 * the kernel waits for mfcd to resolve an (S,G) it queues at most 4 of its packets and drops the
 * rest, so "nothing lost but a first datagram" holds only if the entry is installed within
 * 4 gaps: natively ~1 ms, in a user-mode Linux guest tens to hundreds of ms (hence bound()).
 */
const LEARN_GAP_MS = bound(50);

/**
 * A sequence-numbered stream (one datagram every 10 ms, TTL 8) until stop(). With `learnedBy`,
 * it starts with one datagram every LEARN_GAP_MS and goes to full rate once each of those
 * receivers got a datagram more than it had (the learned entry is installed); it fails if that
 * never happens.
 */
async function stream(
  from: From,
  group: string,
  opts: { port?: number; firstSeq?: number; learnedBy?: Receiver[] } = {},
): Promise<Stream> {
  const { ns, ifaceAddr } = sender(from);
  const learners = opts.learnedBy ?? [];
  const counts = learners.map((r) => r.count);
  const s = stops.add(
    await startStream(ns, {
      group,
      port: opts.port ?? PORT,
      ttl: 8,
      ifaceAddr,
      intervalMs: 10,
      firstSeq: opts.firstSeq ?? 0,
      ...(learners.length > 0 ? { startIntervalMs: LEARN_GAP_MS } : {}),
    }),
  );
  await Promise.all(learners.map((r, i) => r.waitForCount(counts[i]! + 1)));
  s.fullRate();
  return s;
}

function burst(from: From, group: string, count: number, opts: { port?: number; firstSeq?: number; intervalMs?: number } = {}) {
  const { ns, ifaceAddr } = sender(from);
  const intervalMs = opts.intervalMs ?? 2;
  return sendMulticast(ns, { group, port: opts.port ?? PORT, ttl: 8, ifaceAddr, count, intervalMs, firstSeq: opts.firstSeq ?? 0 });
}

/** Every listed route (explicit, template, learned, stop filter) with this source and group. */
async function listed(client: MfcClient, source: string, group: string): Promise<RouteStatus[]> {
  const { routes } = await client.listRoutes({});
  return routes.filter((r) => r.route?.source === source && r.route.group === group);
}

/** The one learned entry or stop filter for (source, group), if listed. */
async function learnedEntry(client: MfcClient, source: string, group: string): Promise<RouteStatus | undefined> {
  return (await listed(client, source, group)).find((r) => r.learned || r.stopFilter);
}

/** Waits until (source, group) is listed as learned (or stop filter) matching `pred`. */
function waitLearned(
  client: MfcClient,
  source: string,
  group: string,
  pred: (r: RouteStatus) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<RouteStatus> {
  let last: RouteStatus | undefined;
  return waitFor<RouteStatus | false>(
    async () => {
      last = await learnedEntry(client, source, group);
      return last !== undefined && pred(last) && last;
    },
    { timeoutMs, intervalMs: 50, message: () => `(${source}, ${group}) listed as ${JSON.stringify(last, big)}` },
  ) as Promise<RouteStatus>;
}

/** Waits until the entry's kernel packet counter passed `min`; returns it. */
async function waitPackets(client: MfcClient, source: string, group: string, min: bigint): Promise<bigint> {
  const r = await waitLearned(client, source, group, (x) => (x.counters?.packets ?? 0n) >= min);
  return r.counters?.packets ?? 0n;
}

/** The resolved /proc/net/ip_mr_cache entry for (source, group) with VIFs as interface names. */
async function procEntry(source: string, group: string): Promise<{ iif: string; oifs: string[]; packets: bigint } | undefined> {
  const e = await kernelRoute(lab.router, source, group);
  if (!e) return undefined;
  const names = new Map((await kernelVifs(lab.router)).map((v) => [v.vif, v.name]));
  const name = (vif: number) => names.get(vif) ?? `vif${vif}`;
  return { iif: name(e.parent), oifs: [...e.oifs.keys()].map(name).sort(), packets: e.counters.packets };
}

/**
 * Stops the stream, waits (generously) for the receiver to have all but `allowedLoss` of the
 * sent datagrams, stops the receiver and returns the sequence numbers that never arrived.
 */
async function finish(s: Stream, r: Receiver, firstSeq = 0, allowedLoss = 1): Promise<{ sent: number; seqs: number[]; missing: number[] }> {
  const { sent } = await s.stop();
  await r.waitForCount(sent - allowedLoss, { timeoutMs: 5000 }).catch(() => undefined); // judged below
  const { seqs } = await r.stop();
  const got = new Set(seqs);
  expect(got.size, "no duplicates").toBe(seqs.length);
  return { sent, seqs, missing: range(firstSeq, firstSeq + sent).filter((q) => !got.has(q)) };
}

/**
 * At most one datagram lost, and only one of the first ones (before the entry was learned). The
 * flow must have been started with `learnedBy` (a slow start), see LEARN_GAP_MS.
 */
function expectLearnedLoss(missing: number[], firstSeq = 0): void {
  expect(missing.length, `missing ${JSON.stringify(missing)}`).toBeLessThanOrEqual(1);
  for (const q of missing) expect(q, "only one of the first datagrams may be lost").toBeLessThan(firstSeq + 4);
}


const big = (_k: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);

describe("template routes: (*,G) and prefixes learned from upcalls (real kernel, real traffic)", () => {
  it("(*,G): the template holds VIFs but no kernel entry; a new flow is learned as a concrete (S,G) and loses at most its first datagram", async () => {
    const mfcd = await daemon();
    const G = "239.41.1.1";
    const added = await mfcd.client.addRoute({ route: tpl("", G, "in0", ["out1", "out2"]) });
    expect(added.route).toMatchObject({ route: { source: "", group: G, iif: "in0", oifs: ["out1", "out2"] }, state: INSTALLED });
    expect(added.route?.reason).toMatch(/\b0 \(S,G\) learned/);
    const [listedTpl] = await listed(mfcd.client, "", G);
    expect(listedTpl).toMatchObject({ state: INSTALLED, learned: false, stopFilter: false });
    expect(listedTpl?.reason).toMatch(/\b0 \(S,G\) learned/);
    // VIFs for the iif (so upcalls arrive) and the oifs, but nothing in the MFC for G.
    expect((await kernelVifs(lab.router)).map((v) => v.name).sort()).toEqual(["in0", "out1", "out2"]);
    expect((await kernelRoutes(lab.router)).filter((e) => e.group === G)).toEqual([]);

    const [r1, r2] = await Promise.all([receiver(1, G), receiver(2, G)]);
    const s = await stream("S@in0", G, { learnedBy: [r1, r2] });
    await Promise.all([r1.waitForCount(30), r2.waitForCount(30)]);

    const learned = await waitLearned(mfcd.client, S(), G);
    expect(learned).toMatchObject({
      route: { source: S(), group: G, iif: "in0", oifs: ["out1", "out2"] },
      state: INSTALLED,
      learned: true,
      stopFilter: false,
      template: `(*, ${G}) from in0`,
    });
    expect((await listed(mfcd.client, "", G))[0]?.reason).toMatch(/\b1 \(S,G\) learned/);
    expect(await procEntry(S(), G)).toMatchObject({ iif: "in0", oifs: ["out1", "out2"] });
    // WatchStats shows the learned flow (with its counters and template) next to the template.
    for await (const update of mfcd.client.watchStats({ group: G })) {
      const flow = update.routes.find((r) => r.source === S());
      expect(flow).toMatchObject({ group: G, iif: "in0", learned: true, template: `(*, ${G}) from in0` });
      expect(flow?.counters?.packets).toBeGreaterThan(0n);
      expect(update.routes.find((r) => r.source === "")).toMatchObject({ learned: false, template: "" });
      break;
    }

    // One stream, two receivers: stop it once, then judge each receiver.
    const { sent } = await s.stop();
    for (const r of [r1, r2]) {
      await r.waitForCount(sent - 1, { timeoutMs: 5000 }).catch(() => undefined);
      const { seqs } = await r.stop();
      const got = new Set(seqs);
      expect(got.size).toBe(seqs.length);
      expectLearnedLoss(range(0, sent).filter((q) => !got.has(q)));
    }
  });

  it("prefixes on source and group: a matching flow is forwarded; a source or a group outside them gets a stop filter that counts and delivers nothing", async () => {
    const mfcd = await daemon();
    const G = "239.40.1.1"; // inside 239.40.0.0/16
    const G_OUTSIDE = "239.42.1.1";
    const srcPrefix = `10.${lab.k}.0.0/16`;
    await mfcd.client.addRoute({ route: tpl(srcPrefix, "239.40.0.0/16", "in0", ["out1"]) });

    const [rMatch, rOut, rGroup] = await Promise.all([receiver(1, G, 5001), receiver(1, G, 5002), receiver(1, G_OUTSIDE, 5003)]);
    const sMatch = await stream("S@in0", G, { port: 5001, learnedBy: [rMatch] });
    const sOut = await stream("OUT@in0", G, { port: 5002, firstSeq: 100_000 });
    const sGroup = await stream("S@in0", G_OUTSIDE, { port: 5003, firstSeq: 200_000 });

    await rMatch.waitForCount(20);
    expect(await waitLearned(mfcd.client, S(), G)).toMatchObject({
      route: { iif: "in0", oifs: ["out1"] },
      learned: true,
      stopFilter: false,
      template: `(${srcPrefix}, 239.40.0.0/16) from in0`,
    });
    for (const [source, group] of [[OUT(), G], [S(), G_OUTSIDE]] as const) {
      const f = await waitLearned(mfcd.client, source, group);
      expect(f, `(${source}, ${group})`).toMatchObject({
        route: { source, group, iif: "in0", oifs: [] },
        state: INSTALLED,
        learned: false,
        stopFilter: true,
        template: "",
      });
      expect(f.reason).toMatch(/stop filter/);
      // The kernel keeps counting the flow on the entry without oifs.
      const p0 = await waitPackets(mfcd.client, source, group, 5n);
      await waitPackets(mfcd.client, source, group, p0 + 10n);
      expect(await procEntry(source, group), `/proc (${source}, ${group})`).toMatchObject({ iif: "in0", oifs: [] });
    }

    // The filtered flows stop; the forwarded one keeps arriving (their packets had their chance).
    await Promise.all([sOut.stop(), sGroup.stop()]);
    await rMatch.waitForCount(rMatch.count + 20);
    const [gotOut, gotGroup] = await Promise.all([rOut.stop(), rGroup.stop()]);
    expect(gotOut.count, "datagrams from the source outside 10.K.0.0/16").toBe(0);
    expect(gotGroup.count, "datagrams to the group outside 239.40.0.0/16").toBe(0);
    const { missing } = await finish(sMatch, rMatch);
    expectLearnedLoss(missing);
  });

  it("a template added while a stop filter exists converts it in place: the flow reaches the receiver without a new upcall", async () => {
    const mfcd = await daemon();
    const G1 = "239.43.1.1";
    const G2 = "239.43.2.2";
    await mfcd.client.addRoute({ route: tpl("", G1, "in0", ["out1"]) });
    const r2 = await receiver(2, G2);
    const s = await stream("S@in0", G2);

    expect(await waitLearned(mfcd.client, S(), G2)).toMatchObject({ stopFilter: true, route: { iif: "in0", oifs: [] } });
    const p0 = await waitPackets(mfcd.client, S(), G2, 20n);
    expect(r2.count, "nothing delivered through the stop filter").toBe(0);

    const added = await mfcd.client.addRoute({ route: tpl("", G2, "in0", ["out2"]) });
    // The stop filter is now this template's learned entry.
    expect(added.route?.reason).toMatch(/\b1 \(S,G\) learned/);
    expect(await learnedEntry(mfcd.client, S(), G2)).toMatchObject({
      route: { iif: "in0", oifs: ["out2"] },
      learned: true,
      stopFilter: false,
      template: `(*, ${G2}) from in0`,
    });
    await r2.waitForCount(20);
    // Rewritten in place (the kernel keeps an entry's counters on ADD_MFC): the entry that
    // delivered what the receiver got is the stop filter that had already counted p0 packets,
    // not a new one learned from another upcall.
    const delivered = BigInt(r2.count);
    const p1 = await waitPackets(mfcd.client, S(), G2, 0n);
    expect(p1).toBeGreaterThanOrEqual(p0 + delivered);
    expect(await procEntry(S(), G2)).toMatchObject({ iif: "in0", oifs: ["out2"] });

    // From the first delivered datagram on, nothing was lost.
    const { sent, seqs } = await finish(s, r2, 0, Number.MAX_SAFE_INTEGER);
    const first = seqs[0] ?? -1;
    expect(first).toBeGreaterThan(0);
    expect(seqs).toEqual(range(first, sent));
  });

  it("DelRoute of a template (with its iif) removes what it taught; an explicit overlapping (S,G) keeps forwarding; without iif it deletes the only template with that (S,G), and names the iifs when several have it", async () => {
    const mfcd = await daemon();
    const G = "239.44.1.1";
    await mfcd.client.addRoute({ route: tpl("", G, "in0", ["out1"]) });
    const [rLearned, rExplicit] = await Promise.all([receiver(1, G, 5001), receiver(1, G, 5002)]);

    // OUT's flow is first learned from the template, then taken over by an explicit route.
    const sExplicit = await stream("OUT@in0", G, { port: 5002, learnedBy: [rExplicit] });
    await waitLearned(mfcd.client, OUT(), G, (r) => r.learned);
    const explicit = tpl(OUT(), G, "in0", ["out1", "out2"]);
    expect((await mfcd.client.addRoute({ route: explicit })).route).toMatchObject({ route: explicit, state: INSTALLED });
    const outRows = await listed(mfcd.client, OUT(), G);
    expect(outRows.map((r) => ({ learned: r.learned, stopFilter: r.stopFilter, owner: r.owner }))).toEqual([
      { learned: false, stopFilter: false, owner: "api" },
    ]);
    expect(await procEntry(OUT(), G)).toMatchObject({ iif: "in0", oifs: ["out1", "out2"] });

    const sLearned = await stream("S@in0", G, { port: 5001, learnedBy: [rLearned] });
    await rLearned.waitForCount(20);
    expect(await waitLearned(mfcd.client, S(), G)).toMatchObject({ learned: true, template: `(*, ${G}) from in0` });
    const learnedResult = await finish(sLearned, rLearned, 0, 1);
    expectLearnedLoss(learnedResult.missing);
    expect(await procEntry(S(), G)).toBeDefined();

    // Two templates with (*, G): DelRoute without an iif names their iifs and deletes neither.
    await mfcd.client.addRoute({ route: tpl("", G, "x1", ["out2"]) });
    const noIif = await rejection(mfcd.client.delRoute({ source: "", group: G }));
    expect(noIif.code).toBe(Status.FAILED_PRECONDITION);
    expect(noIif.message).toMatch(/in0, x1/);
    expect(await listed(mfcd.client, "", G)).toHaveLength(2);
    await mfcd.client.delRoute({ source: "", group: G, iif: "x1" });
    expect(await listed(mfcd.client, "", G)).toHaveLength(1);

    // Exactly one left: DelRoute without its iif deletes that one.
    await mfcd.client.delRoute({ source: "", group: G });
    expect(await procEntry(S(), G), "learned entry gone from /proc").toBeUndefined();
    expect(await listed(mfcd.client, "", G)).toEqual([]);
    expect(await listed(mfcd.client, S(), G)).toEqual([]);
    expect(await listed(mfcd.client, OUT(), G)).toMatchObject([{ route: explicit, state: INSTALLED, learned: false }]);
    expect(await procEntry(OUT(), G)).toMatchObject({ iif: "in0", oifs: ["out1", "out2"] });

    // S's flow is no longer forwarded (no template: no entry is learned, not even a stop filter);
    // the explicit flow keeps arriving behind it.
    const rLater = await receiver(1, G, 5001);
    await burst("S@in0", G, 30, { port: 5001, firstSeq: 100_000 });
    await rExplicit.waitForCount(rExplicit.count + 30);
    expect(rLater.count, "datagrams of the flow the deleted template taught").toBe(0);
    expect(await procEntry(S(), G)).toBeUndefined();
    expect(await listed(mfcd.client, S(), G)).toEqual([]);

    const { missing } = await finish(sExplicit, rExplicit);
    expectLearnedLoss(missing); // at most the learning of the first datagram; nothing at takeover or deletion
  });

  it("an explicit (S,G) takes over a stop filter in place, also when the stop filter holds the last reference on its iif's VIF", async () => {
    const mfcd = await daemon();
    const G = "239.51.2.2";
    await mfcd.client.addRoute({ route: tpl("", "239.51.1.1", "in0", ["out1"]) }); // templates in play: stop filters
    const holder = tpl(OUT(), "239.51.9.9", "x1", ["out2"]); // the only route that makes x1 a VIF
    await mfcd.client.addRoute({ route: holder });
    const r = await receiver(1, G);
    const s = await stream("PEER@x1", G);
    expect(await waitLearned(mfcd.client, PEER(), G)).toMatchObject({ stopFilter: true, route: { iif: "x1", oifs: [] } });
    await mfcd.client.delRoute({ source: OUT(), group: "239.51.9.9" });
    expect((await kernelVifs(lab.router)).map((v) => v.name), "x1 still a VIF: the stop filter uses it").toContain("x1");
    const p0 = await waitPackets(mfcd.client, PEER(), G, 20n);

    const explicit = tpl(PEER(), G, "x1", ["out1"]);
    expect((await mfcd.client.addRoute({ route: explicit })).route).toMatchObject({ route: explicit, state: INSTALLED });
    await r.waitForCount(20);
    // Count deliveries before reading the kernel's counter: the stream goes on in between.
    const delivered = BigInt(r.count);
    const rows = await listed(mfcd.client, PEER(), G);
    expect(rows.map((x) => ({ learned: x.learned, stopFilter: x.stopFilter, state: x.state }))).toEqual([
      { learned: false, stopFilter: false, state: INSTALLED },
    ]);
    expect(rows[0]?.counters?.packets ?? 0n, "the stop filter's entry, rewritten in place").toBeGreaterThanOrEqual(p0 + delivered);
    expect(await procEntry(PEER(), G)).toMatchObject({ iif: "x1", oifs: ["out1"] });
    // Every kernel entry names a live VIF (no stale parent left for a later VIF to inherit).
    const vifs = new Set((await kernelVifs(lab.router)).map((v) => v.vif));
    for (const e of await kernelRoutes(lab.router)) expect(vifs.has(e.parent), `parent of (${e.source}, ${e.group})`).toBe(true);
    const { sent, seqs } = await finish(s, r, 0, Number.MAX_SAFE_INTEGER);
    expect(seqs).toEqual(range(seqs[0] ?? -1, sent)); // nothing lost after the takeover
  });

  it("an iif no template allows gets a stop filter while the allowed iif forwards (both are VIFs)", async () => {
    const mfcd = await daemon();
    const G = "239.45.1.1";
    // x1 is a VIF (an oif of the template) but no template allows it as iif.
    await mfcd.client.addRoute({ route: tpl("", G, "in0", ["out1", "x1"]) });
    expect((await kernelVifs(lab.router)).map((v) => v.name).sort()).toEqual(["in0", "out1", "x1"]);
    const [rIn0, rX1] = await Promise.all([receiver(1, G, 5001), receiver(1, G, 5002)]);
    const sIn0 = await stream("S@in0", G, { port: 5001, learnedBy: [rIn0] });
    const sX1 = await stream("PEER@x1", G, { port: 5002, firstSeq: 100_000 });

    await rIn0.waitForCount(20);
    expect(await waitLearned(mfcd.client, S(), G)).toMatchObject({
      route: { iif: "in0", oifs: ["out1", "x1"] },
      learned: true,
      template: `(*, ${G}) from in0`,
    });
    const filter = await waitLearned(mfcd.client, PEER(), G);
    expect(filter).toMatchObject({ route: { source: PEER(), group: G, iif: "x1", oifs: [] }, stopFilter: true, learned: false });
    expect(filter.reason).toMatch(/x1/);
    const p0 = await waitPackets(mfcd.client, PEER(), G, 5n);
    await waitPackets(mfcd.client, PEER(), G, p0 + 10n);
    expect(await procEntry(PEER(), G)).toMatchObject({ iif: "x1", oifs: [] });
    expect(await procEntry(S(), G)).toMatchObject({ iif: "in0", oifs: ["out1", "x1"] });

    await sX1.stop();
    await rIn0.waitForCount(rIn0.count + 20);
    expect((await rX1.stop()).count, "datagrams that arrived on x1").toBe(0);
    const { missing } = await finish(sIn0, rIn0);
    expectLearnedLoss(missing);
  });

  it("--learned-idle 2: an idle learned entry and an idle stop filter go from ListRoutes and /proc; an active learned entry stays", async () => {
    const mfcd = await daemon(["--learned-idle", "2"]);
    const G = "239.46.1.1";
    const G_UNMATCHED = "239.47.1.1";
    await mfcd.client.addRoute({ route: tpl("", G, "in0", ["out1"]) });
    const [rActive, rIdle] = await Promise.all([receiver(1, G, 5003), receiver(1, G, 5001)]);

    const active = await stream("OUT@in0", G, { port: 5003, learnedBy: [rActive] });
    const idle = await stream("S@in0", G, { port: 5001 });
    const idleFilter = await stream("S@in0", G_UNMATCHED, { port: 5002 });
    await waitLearned(mfcd.client, OUT(), G, (r) => r.learned);
    await waitLearned(mfcd.client, S(), G, (r) => r.learned);
    await waitLearned(mfcd.client, S(), G_UNMATCHED, (r) => r.stopFilter);
    await rIdle.waitForCount(20);
    expect(await procEntry(S(), G)).toBeDefined();
    expect(await procEntry(S(), G_UNMATCHED)).toBeDefined();

    await Promise.all([idle.stop(), idleFilter.stop()]);
    await waitFor(
      async () =>
        !(await learnedEntry(mfcd.client, S(), G)) &&
        !(await learnedEntry(mfcd.client, S(), G_UNMATCHED)) &&
        !(await procEntry(S(), G)) &&
        !(await procEntry(S(), G_UNMATCHED)),
      { timeoutMs: 20_000, intervalMs: 100, message: "idle learned entry and stop filter removed" },
    );

    // The active entry is still there, and it is the same kernel entry all along: it counted at
    // least every datagram the receiver got (a re-learned entry would have started from zero).
    const delivered = BigInt(rActive.count);
    const still = await learnedEntry(mfcd.client, OUT(), G);
    expect(still).toMatchObject({ learned: true, route: { iif: "in0", oifs: ["out1"] } });
    expect(still?.counters?.packets ?? 0n).toBeGreaterThanOrEqual(delivered);
    expect(await procEntry(OUT(), G)).toMatchObject({ iif: "in0", oifs: ["out1"] });
    expect((await listed(mfcd.client, "", G))[0]?.reason).toMatch(/\b1 \(S,G\) learned/);
    // Kernel events in the log: each flow learned (info), the idle ones removed.
    const log = mfcd.stderr().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(log.filter((l) => l.msg === "route learned from template" && l.group === G).map((l) => l.source).sort()).toEqual(
      [OUT(), S()].sort(),
    );
    expect(log.some((l) => l.msg === "idle learned entries removed" && Number(l.removed) >= 1)).toBe(true);

    // An expired flow is learned again by its next packets (while an entry is unresolved the
    // kernel queues only 4 packets, so the flow starts slowly until one is delivered).
    const countBefore = rIdle.count;
    const again = await stream("S@in0", G, { port: 5001, firstSeq: 1000, learnedBy: [rIdle] });
    await rIdle.waitForCount(countBefore + 15);
    await again.stop();
    const { missing } = await finish(active, rActive);
    expectLearnedLoss(missing);
  });

  it("a source moving between iifs: learned on in0, then re-learned on in1 (x1) once it sends there", { timeout: bound(80_000) }, async () => {
    // Default --learned-idle (60 s): re-learning comes from the moved-flow sweep, not idle expiry.
    const mfcd = await daemon();
    const G = "239.48.1.1";
    await mfcd.client.addRoute({ route: tpl("", G, "in0", ["out1"]) });
    await mfcd.client.addRoute({ route: tpl("", G, "x1", ["out1"]) });
    expect((await mfcd.client.listRoutes({})).routes.filter((r) => r.route?.source === "")).toHaveLength(2);
    const r = await receiver(1, G);

    const viaIn0 = await stream("S@in0", G, { learnedBy: [r] });
    await r.waitForCount(20);
    expect(await waitLearned(mfcd.client, S(), G)).toMatchObject({ route: { iif: "in0" }, template: `(*, ${G}) from in0` });
    const { sent } = await viaIn0.stop();
    await r.waitForCount(sent - 1, { timeoutMs: 5000 });
    const before = r.count;

    const viaX1 = await stream("S@x1", G, { firstSeq: 100_000 });
    await r.waitForCount(before + 20, { timeoutMs: 45_000 });
    expect(await waitLearned(mfcd.client, S(), G, (x) => x.route?.iif === "x1")).toMatchObject({
      route: { source: S(), group: G, iif: "x1", oifs: ["out1"] },
      learned: true,
      template: `(*, ${G}) from x1`,
    });
    expect(await procEntry(S(), G)).toMatchObject({ iif: "x1", oifs: ["out1"] });
    await viaX1.stop();
    const { seqs } = await r.stop();
    expect(seqs.filter((q) => q >= 100_000).length).toBeGreaterThanOrEqual(20);
    expect(range(0, sent).filter((q) => !seqs.includes(q)).length, "losses on in0").toBeLessThanOrEqual(1);
  });

  it("a source moving to an iif that is an oif of its learned entry: re-learned from the WRONGVIF upcall (MRT_ASSERT), the old entry rewritten in place", async () => {
    const mfcd = await daemon();
    const G = "239.52.1.1";
    // x1 is an oif of what in0's template teaches: the kernel raises WRONGVIF when the flow
    // arrives there (it never does for an arrival VIF outside the oifs; see the test above).
    await mfcd.client.addRoute({ route: tpl("", G, "in0", ["out1", "x1"]) });
    await mfcd.client.addRoute({ route: tpl("", G, "x1", ["out1"]) });
    const r = await receiver(1, G);

    const viaIn0 = await stream("S@in0", G, { learnedBy: [r] });
    await r.waitForCount(20);
    expect(await waitLearned(mfcd.client, S(), G)).toMatchObject({ route: { iif: "in0", oifs: ["out1", "x1"] }, learned: true });
    const { sent } = await viaIn0.stop();
    await r.waitForCount(sent - 1, { timeoutMs: 5000 }).catch(() => undefined);
    const onIn0 = await waitPackets(mfcd.client, S(), G, BigInt(sent - 1));
    const before = r.count;

    const viaX1 = await stream("S@x1", G, { firstSeq: 100_000 });
    await r.waitForCount(before + 20);
    expect(await waitLearned(mfcd.client, S(), G, (x) => x.route?.iif === "x1")).toMatchObject({
      route: { source: S(), group: G, iif: "x1", oifs: ["out1"] },
      learned: true,
      template: `(*, ${G}) from x1`,
    });
    expect(await procEntry(S(), G)).toMatchObject({ iif: "x1", oifs: ["out1"] });
    await viaX1.stop();
    const { seqs } = await r.stop();
    const fromX1 = seqs.filter((q) => q >= 100_000).length;
    expect(fromX1).toBeGreaterThanOrEqual(20);

    // The WRONGVIF path, not the moved-flow sweep (which deletes the entry and learns it anew
    // from a NOCACHE upcall, outcome "learned"): the engine says "relearned" ...
    const vifOf = new Map((await kernelVifs(lab.router)).map((v) => [v.name, v.vif]));
    const log = mfcd.stderr().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    const learnedLines = log.filter((l) => l.msg === "route learned from template" && l.group === G && l.source === S());
    expect(learnedLines.map((l) => [l.outcome, l.vif])).toEqual([
      ["learned", vifOf.get("in0")],
      ["relearned", vifOf.get("x1")],
    ]);
    // ... and the kernel entry was replaced in place (ADD_MFC keeps counters): it counted the
    // in0 packets and, after them, everything x1 delivered.
    const after = (await learnedEntry(mfcd.client, S(), G))?.counters?.packets ?? 0n;
    expect(after).toBeGreaterThanOrEqual(onIn0 + BigInt(fromX1));
  });

  it("persistence: templates survive a restart with the same state file (a deleted one stays deleted); learned entries are re-learned, not stored", async () => {
    const socketPath = tempSocketPath(); // its directory holds mfcd.state across the restart
    const first = await daemon([], socketPath);
    const G = "239.49.1.1";
    const anySource = tpl("", G, "in0", ["out1"]);
    const prefix = tpl(`10.${lab.k}.0.0/16`, "239.50.0.0/16", "in0", ["out2"]);
    const deleted = tpl("", G, "x1", ["out2"]);
    for (const t of [anySource, prefix, deleted]) await first.client.addRoute({ route: t });
    await first.client.delRoute({ source: "", group: G, iif: "x1" });

    const r = await receiver(1, G);
    const s = await stream("S@in0", G);
    await waitLearned(first.client, S(), G, (x) => x.learned);
    await r.waitForCount(20);

    const storedKeys = () =>
      loadStateFile(first.statePath!)
        .routes.map((x) => `${x.source}|${x.group}|${x.iif}`)
        .sort();
    const expected = [`|${G}|in0`, `10.${lab.k}.0.0/16|239.50.0.0/16|in0`].sort();
    expect(storedKeys()).toEqual(expected);

    const vifsBefore = (await kernelVifs(lab.router)).map((v) => `${v.vif} ${v.name}`);
    await first.stop("SIGKILL");
    // Learned entries are dynamic: they went with mfcd's socket (re-learned below). The
    // templates' VIFs are static: they stay, same indexes, for the next mfcd to adopt.
    await waitFor(async () => (await kernelRoutes(lab.router)).length === 0, { message: "learned entry gone after kill -9" });
    expect((await kernelVifs(lab.router)).map((v) => `${v.vif} ${v.name}`)).toEqual(vifsBefore);

    const second = await daemon([], socketPath);
    const templates = (await second.client.listRoutes({})).routes.filter((x) => !x.learned && !x.stopFilter);
    expect(templates.map((x) => ({ route: x.route, state: x.state })).sort((a, b) => (a.route!.group < b.route!.group ? -1 : 1))).toEqual([
      { route: anySource, state: INSTALLED },
      { route: prefix, state: INSTALLED },
    ]);
    const countAtRestart = r.count;
    await r.waitForCount(countAtRestart + 20, { timeoutMs: 20_000 });
    expect(await waitLearned(second.client, S(), G, (x) => x.learned)).toMatchObject({
      route: { iif: "in0", oifs: ["out1"] },
      template: `(*, ${G}) from in0`,
    });
    expect(await procEntry(S(), G)).toMatchObject({ iif: "in0", oifs: ["out1"] });
    expect(storedKeys()).toEqual(expected);
    await s.stop();
  });
});

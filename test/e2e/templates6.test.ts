// kernel-needs: ipv6 ipv6-tables
// IPv6 templates: (*,G) and source/group prefixes learn concrete (S,G) entries from MRT6
// NOCACHE upcalls, like IPv4.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseIp6MrCache, parseIp6MrVif } from "../../src/kernel/mroute/index.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { startMfcd, StopList, type MfcdProcess } from "../helpers/mfcd-process.js";
import { execIn, ip } from "../helpers/netns.js";
import { bound } from "../helpers/time-bounds.js";
import { waitFor } from "../helpers/traffic.js";
import { addIpv6, sendMulticast6, startReceiver6, type Lab6Addrs, type Receiver6 } from "../helpers/traffic6.js";

const PORT = 5000;
/** --learned-idle of the conversion/idle test's daemon, in seconds. */
const LEARNED_IDLE_S = Math.ceil(bound(2000) / 1000);

/**
 * Sends `count` datagrams (firstSeq..) of a flow the router learns from its first packets, and
 * waits until `rcv` has all but one of them. While the kernel waits for mfcd to resolve an (S,G)
 * it queues at most 4 of its packets and drops the rest, so a fast burst loses everything the
 * install latency covers beyond 4 (natively ~1 ms, in a user-mode Linux guest tens to hundreds
 * of ms). So: 3 datagrams first, then — once one of them was delivered, i.e. the entry is
 * installed (this fails if it never is) — the rest.
 */
async function sendLearned(
  rcv: Receiver6,
  send: (count: number, firstSeq: number) => Promise<unknown>,
  count: number,
  firstSeq = 0,
): Promise<void> {
  const before = rcv.count;
  const head = Math.min(3, count);
  await send(head, firstSeq);
  await rcv.waitForCount(before + 1);
  if (count > head) await send(count - head, firstSeq + head);
  await rcv.waitForCount(before + count - 1);
}
let lab: Lab;
let lab6: Lab6Addrs;
let mfcd: MfcdProcess;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 1 });
  lab6 = await addIpv6(lab);
  mfcd = await startMfcd(lab.router);
});
afterAll(async () => {
  await stops.stopAll();
  await mfcd?.stop();
  await lab?.cleanup();
});

const kx = () => lab.k.toString(16);
const send = (group: string, count: number, firstSeq = 0) =>
  sendMulticast6(lab.source, { group, port: PORT, hops: 8, source: lab6.source, iface: lab.sourceIface, count, firstSeq, intervalMs: 5 });
async function cache6() {
  return parseIp6MrCache(await execIn(lab.router, ["cat", "/proc/net/ip6_mr_cache"])).filter((e) => !e.unresolved);
}

describe("IPv6 templates", () => {
  it("(*,G) learns the concrete (S,G) from the first packets; a group outside a prefix template gets a stop filter", async () => {
    const G = `ff3e::${kx()}:71`;
    await mfcd.client.addRoute({ route: { source: "", group: G, iif: "in0", oifs: ["out1"] } });
    const templates = (await mfcd.client.listRoutes({})).routes.filter((r) => r.route?.source === "");
    expect(templates.map((r) => r.route?.group)).toEqual([G]);
    expect(await cache6()).toEqual([]); // a template writes no kernel entry by itself

    const rcv = stops.add(await startReceiver6(lab.receivers[0]!, { group: G, port: PORT, iface: lab.receiverIface }));
    await sendLearned(rcv, (n, first) => send(G, n, first), 20);
    const got = await rcv.stop();
    // At most one of the first packets may be lost while the entry is learned.
    expect(got.count).toBeGreaterThanOrEqual(19);
    const learned = await waitFor(async () =>
      (await mfcd.client.listRoutes({})).routes.find((r) => r.learned && r.route?.group === G),
    );
    expect(learned?.route?.source).toBe(lab6.source);
    expect(learned?.template).toContain(G);
    expect((await cache6()).map((e) => [e.source, e.group])).toEqual([[lab6.source, G]]);

    // A prefix template for another group range: the source's traffic to a group outside it
    // is stopped (stop filter, counted), inside it forwarded.
    const P = `ff3e::${kx()}:100/120`;
    await mfcd.client.addRoute({ route: { source: `${lab6.source}/64`, group: P, iif: "in0", oifs: ["out1"] } });
    const outside = `ff3e::${kx()}:200`;
    await send(outside, 5, 100);
    const stop = await waitFor(async () =>
      (await mfcd.client.listRoutes({})).routes.find((r) => r.stopFilter && r.route?.group === outside),
    );
    expect(stop?.route?.oifs).toEqual([]);
    const inside = `ff3e::${kx()}:1a5`;
    const rcv2 = stops.add(await startReceiver6(lab.receivers[0]!, { group: inside, port: PORT, iface: lab.receiverIface }));
    await sendLearned(rcv2, (n, first) => send(inside, n, first), 10, 200);
    const l2 = await waitFor(async () =>
      (await mfcd.client.listRoutes({})).routes.find((r) => r.learned && r.route?.group === inside),
    );
    expect(l2?.template).toContain("/120");
  });

  it("IPv6 template validation: link-local group prefixes are refused; DelRoute without iif deletes the only matching template", async () => {
    await expect(
      mfcd.client.addRoute({ route: { source: "", group: "ff02::/16", iif: "in0", oifs: ["out1"] } }),
    ).rejects.toMatchObject({ code: 3 });
    // The only template with that (source, group): DelRoute without its iif deletes it.
    await mfcd.client.delRoute({ source: "", group: `ff3e::${kx()}:71` });
    expect((await mfcd.client.listRoutes({})).routes.some((r) => r.route?.group === `ff3e::${kx()}:71` && r.learned)).toBe(false);
  });
});

// A source moving between iifs, IPv6: the same source address on the source's eth0 (in0) and
// on xtra's p1 (x1). Its own lab and daemon.
describe("IPv6 templates: a source moving between iifs", () => {
  let mlab: Lab;
  let m6: Lab6Addrs;
  let daemon: MfcdProcess;
  const mstops = new StopList();

  beforeAll(async () => {
    mlab = await createLab({ receivers: 1, extraRouterLinks: 1 });
    m6 = await addIpv6(mlab);
    await ip(["-6", "addr", "add", `${m6.source}/128`, "dev", "p1", "nodad"], mlab.extraPeer);
    daemon = await startMfcd(mlab.router);
  });
  afterAll(async () => {
    await mstops.stopAll();
    await daemon?.stop();
    await mlab?.cleanup();
  });

  it("re-learned on the new iif from the WRONGMIF upcall (MRT6_ASSERT), the old entry rewritten in place", async () => {
    const G = `ff3e::${mlab.k.toString(16)}:81`;
    const S = m6.source;
    // x1 is an oif of what in0's template teaches: the kernel raises MRT6MSG_WRONGMIF when the
    // flow arrives there (with MRT6_ASSERT on; never for an arrival MIF outside the oifs).
    await daemon.client.addRoute({ route: { source: "", group: G, iif: "in0", oifs: ["out1", "x1"] } });
    await daemon.client.addRoute({ route: { source: "", group: G, iif: "x1", oifs: ["out1"] } });
    const rcv = mstops.add(await startReceiver6(mlab.receivers[0]!, { group: G, port: PORT, iface: mlab.receiverIface }));
    const send = (ns: string, iface: string, count: number, firstSeq: number) =>
      sendMulticast6(ns, { group: G, port: PORT, hops: 8, source: S, iface, count, firstSeq, intervalMs: 5 });
    const entry = async () => (await daemon.client.listRoutes({})).routes.find((r) => r.learned && r.route?.group === G);

    await sendLearned(rcv, (n, first) => send(mlab.source, mlab.sourceIface, n, first), 20, 0);
    expect(await waitFor(entry)).toMatchObject({ route: { source: S, iif: "in0", oifs: ["out1", "x1"] } });
    const onIn0 = (await entry())?.counters?.packets ?? 0n;
    expect(onIn0).toBeGreaterThanOrEqual(19n);

    // The first packet on x1 raises WRONGMIF (and is dropped); the entry moves to x1.
    await send(mlab.extraPeer!, "p1", 20, 1000);
    const moved = await waitFor(async () => {
      const e = await entry();
      return e?.route?.iif === "x1" && e;
    });
    expect(moved).toMatchObject({ route: { source: S, group: G, iif: "x1", oifs: ["out1"] }, template: `(*, ${G}) from x1` });
    const mifs = new Map(parseIp6MrVif(await execIn(mlab.router, ["cat", "/proc/net/ip6_mr_vif"])).map((m) => [m.name, m.vif]));
    const cache = parseIp6MrCache(await execIn(mlab.router, ["cat", "/proc/net/ip6_mr_cache"])).filter((e) => !e.unresolved);
    expect(cache.map((e) => [e.source, e.group, e.parent, [...e.oifs.keys()]])).toEqual([[S, G, mifs.get("x1"), [mifs.get("out1")]]]);

    // Forwarded from x1 now: a later burst arrives whole.
    const before = rcv.count;
    await send(mlab.extraPeer!, "p1", 10, 2000);
    await rcv.waitForCount(before + 10);
    const { seqs } = await rcv.stop();
    expect(seqs.filter((q) => q >= 2000)).toEqual(Array.from({ length: 10 }, (_, i) => 2000 + i));
    const fromX1 = seqs.filter((q) => q >= 1000).length;

    // The WRONGMIF path, not the moved-flow sweep (which deletes the entry and learns it anew
    // from a NOCACHE upcall, outcome "learned").
    const log = daemon.stderr().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    const lines = log.filter((l) => l.msg === "route learned from template" && l.group === G);
    expect(lines.map((l) => [l.family, l.outcome, l.vif])).toEqual([
      ["ipv6", "learned", mifs.get("in0")],
      ["ipv6", "relearned", mifs.get("x1")],
    ]);
    // Replaced in place (MRT6_ADD_MFC keeps counters): the entry counted the in0 packets too.
    expect((await entry())?.counters?.packets ?? 0n).toBeGreaterThanOrEqual(onIn0 + BigInt(fromX1));
  });
});

// Another table, IPv6: mfcd opens an MRT6 socket for table 7 on first use, reads its upcalls,
// and its own `--mrule 6:x1=7` steers x1's traffic there. Its own lab and daemon.
describe("IPv6 templates in another table, steered by mfcd's --mrule", () => {
  let tlab: Lab;
  let t6: Lab6Addrs;
  let daemon: MfcdProcess;
  const tstops = new StopList();

  beforeAll(async () => {
    tlab = await createLab({ receivers: 1, extraRouterLinks: 1 });
    t6 = await addIpv6(tlab);
    await ip(["-6", "addr", "add", `${t6.source}/128`, "dev", "p1", "nodad"], tlab.extraPeer);
    daemon = await startMfcd(tlab.router, { args: ["--mrule", "6:x1=7"] });
  });
  afterAll(async () => {
    await tstops.stopAll();
    await daemon?.stop();
    await tlab?.cleanup();
  });

  it("a (*,G) template in table 7 learns x1's flow in table 7 only; the learned entry carries the table", async () => {
    const G = `ff3e::${tlab.k.toString(16)}:91`;
    expect(await ip(["-6", "mrule", "show"], tlab.router)).toMatch(/iif x1 lookup 7/);
    const template = { source: "", group: G, iif: "x1", oifs: ["out1"], oifTtl: {}, table: 7 };
    expect((await daemon.client.addRoute({ route: template })).route?.route).toEqual(template);
    const rcv = tstops.add(await startReceiver6(tlab.receivers[0]!, { group: G, port: PORT, iface: tlab.receiverIface }));
    await sendLearned(
      rcv,
      (count, firstSeq) =>
        sendMulticast6(tlab.extraPeer!, { group: G, port: PORT, hops: 8, source: t6.source, iface: "p1", count, firstSeq, intervalMs: 5 }),
      20,
    );

    const learned = await waitFor(async () =>
      (await daemon.client.listRoutes({})).routes.find((r) => r.learned && r.route?.group === G),
    );
    expect(learned).toMatchObject({ route: { source: t6.source, group: G, iif: "x1", oifs: ["out1"], table: 7 }, template: `(*, ${G}) from x1` });
    // The kernel entry is in table 7; the default IPv6 table has none.
    const table7 = JSON.parse(await ip(["-6", "-j", "mroute", "show", "table", "7"], tlab.router)) as { src: string; iif: string }[];
    expect(table7.filter((e) => e.iif !== "unresolved").map((e) => [e.src, e.iif])).toEqual([[t6.source, "x1"]]);
    expect(parseIp6MrCache(await execIn(tlab.router, ["cat", "/proc/net/ip6_mr_cache"]))).toEqual([]);
    const got = await rcv.stop();
    expect(got.count).toBeGreaterThanOrEqual(19);
  });
});

// The rest of the template lifecycle for IPv6: stop filter conversion, template deletion next to
// an explicit (S,G), idle expiry. Two sources on the source's eth0. Its own lab and daemon.
describe("IPv6 templates: conversion, deletion, idle expiry", () => {
  let clab: Lab;
  let c6: Lab6Addrs;
  let daemon: MfcdProcess;
  const cstops = new StopList();
  const S2 = () => c6.source.replace(/::2$/, "::3");

  beforeAll(async () => {
    clab = await createLab({ receivers: 2 });
    c6 = await addIpv6(clab);
    await ip(["-6", "addr", "add", `${S2()}/128`, "dev", clab.sourceIface, "nodad"], clab.source);
    // Idle after 2 s natively; longer where every step is slow (time-bounds.ts), so that the stop
    // filter does not expire between the steps below that still need it.
    daemon = await startMfcd(clab.router, { args: ["--learned-idle", String(LEARNED_IDLE_S)] });
  });
  afterAll(async () => {
    await cstops.stopAll();
    await daemon?.stop();
    await clab?.cleanup();
  });

  it("a stop filter is converted by a new template; deleting a template keeps an explicit (S,G); idle learned entries go", async () => {
    const kxc = clab.k.toString(16);
    const G1 = `ff3e::${kxc}:a1`;
    const G2 = `ff3e::${kxc}:a2`;
    const send = (source: string, group: string, count: number, firstSeq: number) =>
      sendMulticast6(clab.source, { group, port: PORT, hops: 8, source, iface: clab.sourceIface, count, firstSeq, intervalMs: 5 });
    const rows = async (source: string, group: string) =>
      (await daemon.client.listRoutes({})).routes.filter((r) => r.route?.source === source && r.route.group === group);
    const cache = async () =>
      parseIp6MrCache(await execIn(clab.router, ["cat", "/proc/net/ip6_mr_cache"])).filter((e) => !e.unresolved);
    const mifs = async () =>
      new Map(parseIp6MrVif(await execIn(clab.router, ["cat", "/proc/net/ip6_mr_vif"])).map((m) => [m.name, m.vif]));

    // G1's template puts templates in play: G2's flow gets a stop filter, counted, not delivered.
    await daemon.client.addRoute({ route: { source: "", group: G1, iif: "in0", oifs: ["out1"] } });
    const r2 = cstops.add(await startReceiver6(clab.receivers[1]!, { group: G2, port: PORT, iface: clab.receiverIface }));
    await send(c6.source, G2, 10, 0);
    const filter = await waitFor(async () => (await rows(c6.source, G2)).find((r) => r.stopFilter && (r.counters?.packets ?? 0n) > 0n));
    expect(filter).toMatchObject({ route: { iif: "in0", oifs: [] }, learned: false });
    const p0 = filter.counters?.packets ?? 0n;
    expect(r2.count).toBe(0);

    // A template for G2: the stop filter becomes its learned entry at once, in place (no new
    // upcall needed: the next burst arrives whole, and the entry kept the packets it counted).
    await daemon.client.addRoute({ route: { source: "", group: G2, iif: "in0", oifs: ["out2"] } });
    expect(await rows(c6.source, G2)).toMatchObject([{ learned: true, stopFilter: false, route: { oifs: ["out2"] }, template: `(*, ${G2}) from in0` }]);
    const m = await mifs();
    expect((await cache()).find((e) => e.group === G2)).toMatchObject({ parent: m.get("in0"), oifs: new Map([[m.get("out2"), 1]]) });
    await send(c6.source, G2, 10, 100);
    await r2.waitForCount(10);
    expect((await r2.stop()).seqs).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    expect((await rows(c6.source, G2))[0]?.counters?.packets).toBe(p0 + 10n);

    // G1: S2's flow is learned from the template, S's is an explicit route overlapping it.
    const explicit = { source: c6.source, group: G1, iif: "in0", oifs: ["out1", "out2"], oifTtl: {}, table: 0 };
    await daemon.client.addRoute({ route: explicit });
    const r1 = cstops.add(await startReceiver6(clab.receivers[0]!, { group: G1, port: PORT, iface: clab.receiverIface }));
    await sendLearned(r1, (n, first) => send(S2(), G1, n, first), 10, 0);
    await waitFor(async () => (await rows(S2(), G1)).some((r) => r.learned));
    await daemon.client.delRoute({ source: "", group: G1, iif: "in0" });
    expect(await rows(S2(), G1), "what the template taught is gone").toEqual([]);
    expect((await cache()).some((e) => e.source === S2() && e.group === G1)).toBe(false);
    expect(await rows(c6.source, G1)).toMatchObject([{ route: explicit, learned: false }]);
    const before = r1.count;
    await send(c6.source, G1, 10, 1000);
    await r1.waitForCount(before + 10);
    expect((await r1.stop()).seqs.filter((q) => q >= 1000)).toHaveLength(10);

    // --learned-idle: (S, G2) carries nothing more and goes, from ListRoutes and the kernel;
    // the explicit route stays.
    await waitFor(async () => (await rows(c6.source, G2)).length === 0 && !(await cache()).some((e) => e.group === G2), {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    expect((await cache()).map((e) => [e.source, e.group])).toEqual([[c6.source, G1]]);
  });
});

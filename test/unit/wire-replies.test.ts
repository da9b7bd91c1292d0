// ListRoutesReply and WatchStatsReply write the responses field by field; they must produce
// exactly the bytes ts-proto writes for the converted messages (proto-views.ts), for every
// kind of field content: defaults, long and non-ASCII strings, counters beyond 2^53, nested
// messages longer than 127 bytes, IPv6, tables, templates.
import { describe, expect, it } from "vitest";
import type { SgCounters } from "../../src/engine/kernel-port.js";
import type { ForeignView, RouteSpec, RouteView, VifView } from "../../src/engine/route-engine.js";
import { ListRoutesResponse, WatchStatsResponse } from "../../src/gen/mfc.js";
import { CounterRates } from "../../src/server/wire/counter-rates.js";
import { listRoutesReply } from "../../src/server/wire/index.js";
import { ProtoWriter } from "../../src/server/wire/proto-writer.js";
import { toCounters, toForeignEntry, toRouteStatus, toTimestamp, toVifStatus } from "../../src/server/wire/proto-views.js";
import { watchStatsReplies } from "../../src/server/wire/watch-stats-reply.js";

const specs: RouteSpec[] = [
  { family: "ipv4", table: 0, source: "10.0.0.1", group: "239.1.1.1", iif: "eth0", oifs: ["eth1", "eth2"] },
  { family: "ipv4", table: 7, source: "", group: "239.1.1.0/24", iif: "eth0", oifs: ["eth1"], oifTtl: { eth1: 64 } },
  { family: "ipv4", table: 0, source: "10.0.0.2", group: "239.1.1.2", iif: "eth3", oifs: [], rewriteSource: "10.9.9.9", setTtl: 9 },
  { family: "ipv6", table: 254, source: "2001:db8::1", group: "ff3e::8000:1", iif: "v6in", oifs: ["v6out"] },
  {
    family: "ipv4",
    table: 4_000_000_000,
    source: "10.0.0.3",
    group: "239.1.1.3",
    iif: "e0",
    oifs: Array.from({ length: 40 }, (_, i) => `oif-number-${i}`),
  },
];

const counters = [
  undefined,
  { packets: 0n, bytes: 0n, wrongIf: 0n },
  { packets: 1n, bytes: 1500n, wrongIf: 0n },
  { packets: 2n ** 40n, bytes: 2n ** 60n + 12345n, wrongIf: 2n ** 64n - 1n },
];

function views(): RouteView[] {
  return specs.flatMap((spec, i) =>
    counters.map((c, j): RouteView => ({
      spec,
      owner: j === 0 ? "" : `owner-${i}`,
      state: (["installed", "pending", "drifted"] as const)[j % 3] ?? "installed",
      reason: j === 1 ? "" : j === 2 ? "drift: kernel entry missing ✓ ünïcode" : "x".repeat(300),
      counters: c ?? { packets: 0n, bytes: 0n, wrongIf: 0n },
      missing: j === 3 ? ["eth9", "eth10"] : [],
      down: j === 2 ? ["eth1"] : [],
      driftRepairs: j * 1000,
      lastDrift: j === 3 ? "2026-11-26T00:00:00.000Z: kernel entry was removed" : "",
      ...(j === 1 ? { learned: true, stopFilter: false, template: "(*, 239.1.1.0/24) from eth0" } : {}),
      ...(j === 2 ? { learned: false, stopFilter: true } : {}),
    })),
  );
}

const vifs: VifView[] = [
  { family: "ipv4", table: 0, vif: 0, name: "eth0", ifindex: 2, refs: 3, counters: { inPackets: 5n, inBytes: 2n ** 55n, outPackets: 0n, outBytes: 7n }, up: true, running: false },
  { family: "ipv6", table: 254, vif: 31, name: "v6in", ifindex: 99, refs: 0, counters: { inPackets: 0n, inBytes: 0n, outPackets: 0n, outBytes: 0n }, up: false, running: false },
];

const foreign: ForeignView[] = [
  { family: "ipv4", table: 0, source: "10.1.1.1", group: "239.2.2.2", iif: "vif 3", oifs: ["eth1"], counters: { packets: 3n, bytes: 4n, wrongIf: 5n } },
];

function listOf(routes: RouteView[], vifList: VifView[] = [], foreignList: ForeignView[] = []): Uint8Array {
  return listRoutesReply({
    forEachView: (visit) => routes.forEach((v) => visit(v)),
    vifViews: () => vifList,
    foreignViews: () => foreignList,
  }).bytes;
}

describe("listRoutesReply", () => {
  it("writes the bytes ts-proto writes for the converted response", () => {
    const v = views();
    const expected = ListRoutesResponse.encode({
      routes: v.map(toRouteStatus),
      vifs: vifs.map(toVifStatus),
      foreignEntries: foreign.map(toForeignEntry),
    }).finish();
    expect(Buffer.from(listOf(v, vifs, foreign))).toEqual(Buffer.from(expected));
  });

  it("an empty list is an empty message", () => {
    expect(listOf([]).length).toBe(0);
  });

  it("a spec's encoding follows the spec object (a replaced route is re-encoded)", () => {
    const [first] = views();
    if (!first) throw new Error("no view");
    const before = listOf([first]);
    const replaced = { ...first, spec: { ...first.spec, oifs: ["eth7"] } };
    expect(ListRoutesResponse.decode(listOf([replaced])).routes[0]?.route?.oifs).toEqual(["eth7"]);
    expect(ListRoutesResponse.decode(before).routes[0]?.route?.oifs).toEqual(["eth1", "eth2"]);
  });
});

describe("watchStatsReplies", () => {
  // Distinct route keys (rates are kept per route).
  const routes = specs.flatMap((spec) => counters.map((c, j) => ({ spec: { ...spec, group: `${spec.group}-${j}` }, counters: c })));
  const engineWith = (list: { spec: RouteSpec; counters: SgCounters | undefined }[]) => ({
    forEachStats: (_filter: unknown, visit: (spec: RouteSpec, c: SgCounters | undefined) => void) =>
      list.forEach((r) => visit(r.spec, r.counters)),
    vifViews: () => vifs,
  });
  const expectedParts = (
    list: { spec: RouteSpec; counters: SgCounters | undefined }[],
    rate: (i: number) => [number, number],
    perMessage: number,
    time = toTimestamp(1_764_000_000_123),
  ) => {
    const parts = Math.max(1, Math.ceil(list.length / perMessage));
    return Array.from({ length: parts }, (_, part) =>
      Buffer.from(
        WatchStatsResponse.encode({
          time,
          routes: list.slice(part * perMessage, (part + 1) * perMessage).map(({ spec, counters: c }, k) => ({
            source: spec.source,
            group: spec.group,
            iif: spec.iif,
            table: spec.table,
            counters: toCounters(c),
            packetsPerSecond: rate(part * perMessage + k)[0],
            bytesPerSecond: rate(part * perMessage + k)[1],
            learned: false,
            template: "",
          })),
          vifs: part === 0 ? vifs.map(toVifStatus) : [],
          part,
          parts,
        }).finish(),
      ),
    );
  };

  it("entries learned from a template carry learned and the template's text, byte for byte as ts-proto", () => {
    const rates = new CounterRates();
    const time = toTimestamp(1_764_000_000_123);
    rates.begin(1000);
    const [configured, learned] = routes;
    if (!configured || !learned) throw new Error("no routes");
    const template = "(*, 239.2.0.0/16) from eth0";
    const engine = {
      forEachStats: (_f: unknown, visit: (spec: RouteSpec, c: SgCounters | undefined, learnedFrom?: string) => void) => {
        visit(configured.spec, configured.counters);
        visit(learned.spec, learned.counters, template);
      },
      vifViews: () => vifs,
    };
    const [bytes] = watchStatsReplies(engine, {}, rates, time, 10).map((r) => Buffer.from(r.bytes));
    const expected = WatchStatsResponse.encode({
      time,
      routes: [configured, learned].map(({ spec, counters: c }, i) => ({
        source: spec.source,
        group: spec.group,
        iif: spec.iif,
        table: spec.table,
        counters: toCounters(c),
        packetsPerSecond: 0,
        bytesPerSecond: 0,
        learned: i === 1,
        template: i === 1 ? template : "",
      })),
      vifs: vifs.map(toVifStatus),
      part: 0,
      parts: 1,
    }).finish();
    expect(bytes).toEqual(Buffer.from(expected));
    expect(WatchStatsResponse.decode(bytes!).routes.map((r) => [r.learned, r.template])).toEqual([
      [false, ""],
      [true, template],
    ]);
  });

  it("writes the bytes ts-proto writes, split into parts, with rates from the previous update", () => {
    const rates = new CounterRates();
    const time = toTimestamp(1_764_000_000_123);
    rates.begin(1000);
    const first = watchStatsReplies(engineWith(routes), {}, rates, time, 7).map((r) => Buffer.from(r.bytes));
    expect(first).toEqual(expectedParts(routes, () => [0, 0], 7));
    // Two seconds later every counter grew by (i+1) packets and 1000(i+1) bytes, except route
    // 2's, which went down (entry re-created): rate 0.
    const later = routes.map((r, i) => {
      const c = r.counters ?? { packets: 0n, bytes: 0n, wrongIf: 0n };
      const grow = i === 2 ? -1n : BigInt(i + 1);
      return { spec: r.spec, counters: { packets: c.packets + grow, bytes: c.bytes + grow * 1000n, wrongIf: c.wrongIf } };
    });
    rates.begin(3000);
    const second = watchStatsReplies(engineWith(later), {}, rates, time, 7).map((r) => Buffer.from(r.bytes));
    // Counters above 2^53 lose precision as doubles, as Number(delta) did before.
    const rate = (i: number): [number, number] => {
      if (i === 2) return [0, 0];
      const before = routes[i]?.counters ?? { packets: 0n, bytes: 0n };
      const after = later[i]?.counters ?? { packets: 0n, bytes: 0n };
      return [(Number(after.packets) - Number(before.packets)) / 2, (Number(after.bytes) - Number(before.bytes)) / 2];
    };
    expect(second).toEqual(expectedParts(later, rate, 7));
  });

  it("an update without routes is one message with the VIFs", () => {
    const rates = new CounterRates();
    rates.begin(1);
    const replies = watchStatsReplies(engineWith([]), {}, rates, toTimestamp(5), 10);
    expect(replies.map((r) => Buffer.from(r.bytes))).toEqual(expectedParts([], () => [0, 0], 10, toTimestamp(5)));
  });
});

describe("ProtoWriter", () => {
  it("nested messages of any length get a minimal varint length", () => {
    for (const n of [0, 1, 127, 128, 16_383, 16_384, 2_097_152]) {
      const w = new ProtoWriter(16);
      const at = w.fork(10);
      w.raw(new Uint8Array(n).fill(7));
      w.join(at);
      const out = w.finish();
      const header = n < 128 ? 2 : n < 16_384 ? 3 : n < 2_097_152 ? 4 : 5;
      expect(out.length).toBe(header + n);
      let len = 0;
      for (let i = header - 1; i >= 1; i--) len = len * 128 + ((out[i] ?? 0) & 0x7f);
      expect(len).toBe(n);
      expect(out.subarray(header).every((b) => b === 7)).toBe(true);
    }
  });
});

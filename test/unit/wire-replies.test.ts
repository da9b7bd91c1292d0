// ListRoutesReply and WatchStatsReply write the responses field by field; they must produce
// exactly the bytes ts-proto writes for the converted messages (proto-views.ts), for every
// kind of field content: defaults, long and non-ASCII strings, counters beyond 2^53, nested
// messages longer than 127 bytes, IPv6, tables, templates.
import { describe, expect, it } from "vitest";
import type { ForeignView, RouteSpec, RouteStatsView, RouteView, VifView } from "../../src/engine/route-engine.js";
import { ListRoutesResponse, WatchStatsResponse } from "../../src/gen/mfc.js";
import { ListRoutesReply } from "../../src/server/list-routes-reply.js";
import { ProtoWriter } from "../../src/server/proto-writer.js";
import { toCounters, toForeignEntry, toRouteStatus, toTimestamp, toVifStatus } from "../../src/server/proto-views.js";
import { WatchStatsReply } from "../../src/server/watch-stats-reply.js";

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

describe("ListRoutesReply", () => {
  it("writes the bytes ts-proto writes for the converted response", () => {
    const v = views();
    const expected = ListRoutesResponse.encode({
      routes: v.map(toRouteStatus),
      vifs: vifs.map(toVifStatus),
      foreignEntries: foreign.map(toForeignEntry),
    }).finish();
    expect(Buffer.from(new ListRoutesReply(v, vifs, foreign).encode())).toEqual(Buffer.from(expected));
  });

  it("an empty list is an empty message", () => {
    expect(new ListRoutesReply([], [], []).encode().length).toBe(0);
  });

  it("a spec's encoding follows the spec object (a replaced route is re-encoded)", () => {
    const [first] = views();
    if (!first) throw new Error("no view");
    const before = new ListRoutesReply([first], [], []).encode();
    const replaced = { ...first, spec: { ...first.spec, oifs: ["eth7"] } };
    const after = ListRoutesResponse.decode(new ListRoutesReply([replaced], [], []).encode());
    expect(after.routes[0]?.route?.oifs).toEqual(["eth7"]);
    expect(ListRoutesResponse.decode(before).routes[0]?.route?.oifs).toEqual(["eth1", "eth2"]);
  });
});

describe("WatchStatsReply", () => {
  it("writes the bytes ts-proto writes for the converted response, per part", () => {
    const routes: RouteStatsView[] = specs.flatMap((spec) => counters.map((c) => ({ spec, counters: c })));
    const pps = Float64Array.from(routes, (_, i) => (i % 3 === 0 ? 0 : i * 1.5));
    const bps = Float64Array.from(routes, (_, i) => (i % 4 === 0 ? 0 : i * 1e9 + 0.25));
    const time = toTimestamp(1_764_000_000_123);
    const split = 7;
    for (const [part, from, to] of [
      [0, 0, split],
      [1, split, routes.length],
    ] as const) {
      const reply = new WatchStatsReply({
        time,
        routes,
        packetsPerSecond: pps,
        bytesPerSecond: bps,
        from,
        to,
        vifs: part === 0 ? vifs : [],
        part,
        parts: 2,
      });
      const expected = WatchStatsResponse.encode({
        time,
        routes: routes.slice(from, to).map(({ spec, counters: c }, k) => ({
          source: spec.source,
          group: spec.group,
          iif: spec.iif,
          table: spec.table,
          counters: toCounters(c),
          packetsPerSecond: pps[from + k] ?? 0,
          bytesPerSecond: bps[from + k] ?? 0,
        })),
        vifs: part === 0 ? vifs.map(toVifStatus) : [],
        part,
        parts: 2,
      }).finish();
      expect(Buffer.from(reply.encode())).toEqual(Buffer.from(expected));
    }
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

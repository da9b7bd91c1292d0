// kernel-needs: none
// UpcallRing: per-(S,G) rings of recent upcalls, LRU-bounded flows. Pure data structure: no
// kernel, no root.
import { describe, expect, it } from "vitest";
import { type Upcall, UpcallRing } from "../../src/kernel/poll/index.js";

function up(at: number, type: Upcall["type"] = "nocache", group = "239.1.1.1", source = "10.0.0.1", vif = 0): Upcall {
  return { type, vif, source, group, at };
}

describe("UpcallRing", () => {
  it("keeps the last perFlow upcalls of a flow, oldest first", () => {
    const ring = new UpcallRing({ perFlow: 3 });
    for (let i = 1; i <= 5; i++) ring.push(up(i * 10, i % 2 ? "nocache" : "wrongvif"));
    expect(ring.recent("10.0.0.1", "239.1.1.1").map((u) => u.at)).toEqual([30, 40, 50]);
    expect(ring.recent("10.0.0.1", "239.9.9.9")).toEqual([]);
    expect(ring.summary("10.0.0.1", "239.1.1.1")).toEqual({
      source: "10.0.0.1",
      group: "239.1.1.1",
      nocache: 3,
      wrongvif: 2,
      firstAt: 10,
      lastAt: 50,
    });
    // recent() returns copies.
    ring.recent("10.0.0.1", "239.1.1.1")[0]!.at = -1;
    expect(ring.recent("10.0.0.1", "239.1.1.1")[0]!.at).toBe(30);
  });

  it("counts by type since a time, and says when overwritten upcalls may be missing", () => {
    const ring = new UpcallRing({ perFlow: 3 });
    ring.push(up(10));
    ring.push(up(20, "wrongvif"));
    expect(ring.counts("10.0.0.1", "239.1.1.1")).toEqual({ nocache: 1, wrongvif: 1, total: 2, complete: true });
    expect(ring.counts("10.0.0.1", "239.1.1.1", 15)).toEqual({ nocache: 0, wrongvif: 1, total: 1, complete: true });
    ring.push(up(30));
    ring.push(up(40, "wrongvif")); // overwrites at=10
    // The window reaches back past the oldest kept upcall: the overwritten one might belong.
    expect(ring.counts("10.0.0.1", "239.1.1.1", 0)).toEqual({ nocache: 1, wrongvif: 2, total: 3, complete: false });
    expect(ring.counts("10.0.0.1", "239.1.1.1", 20)).toEqual({ nocache: 1, wrongvif: 2, total: 3, complete: false });
    // It does not: exact.
    expect(ring.counts("10.0.0.1", "239.1.1.1", 25)).toEqual({ nocache: 1, wrongvif: 1, total: 2, complete: true });
    expect(ring.counts("10.9.9.9", "239.1.1.1")).toEqual({ nocache: 0, wrongvif: 0, total: 0, complete: true });
  });

  it("evicts the least recently updated flow beyond maxFlows; reads do not refresh", () => {
    const ring = new UpcallRing({ perFlow: 2, maxFlows: 2 });
    ring.push(up(1, "nocache", "239.0.0.1"));
    ring.push(up(2, "nocache", "239.0.0.2"));
    ring.recent("10.0.0.1", "239.0.0.1"); // no effect on eviction order
    ring.counts("10.0.0.1", "239.0.0.1");
    ring.push(up(3, "nocache", "239.0.0.2")); // 239.0.0.2 updated: 239.0.0.1 is now oldest
    ring.push(up(4, "nocache", "239.0.0.3"));
    expect(ring.size).toBe(2);
    expect(ring.evictedFlows).toBe(1);
    expect(ring.recent("10.0.0.1", "239.0.0.1")).toEqual([]);
    expect(ring.flows().map((f) => f.group)).toEqual(["239.0.0.2", "239.0.0.3"]);
    // The same group from another source is another flow.
    ring.push(up(5, "wrongvif", "239.0.0.3", "10.0.0.2"));
    expect(ring.flows().map((f) => `${f.source}|${f.group}`)).toEqual(["10.0.0.1|239.0.0.3", "10.0.0.2|239.0.0.3"]);
    expect(ring.delete("10.0.0.2", "239.0.0.3")).toBe(true);
    ring.clear();
    expect(ring.size).toBe(0);
  });

  it("defaults to 16 per flow and 4096 flows; rejects bad sizes", () => {
    const ring = new UpcallRing();
    expect([ring.perFlow, ring.maxFlows]).toEqual([16, 4096]);
    for (let i = 0; i < 5000; i++) ring.push(up(i, "nocache", `239.0.${i >> 8}.${i & 255}`));
    expect(ring.size).toBe(4096);
    for (let i = 0; i < 40; i++) ring.push(up(i));
    expect(ring.recent("10.0.0.1", "239.1.1.1")).toHaveLength(16);
    expect(() => new UpcallRing({ perFlow: 0 })).toThrow(RangeError);
    expect(() => new UpcallRing({ maxFlows: 1.5 })).toThrow(RangeError);
  });
});

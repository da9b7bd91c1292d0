import { beforeEach, describe, expect, it } from "vitest";
import { DomainError } from "../../src/engine/domain-error.js";
import { BULK_COUNTERS_AFTER, RouteEngine, type RouteSpec } from "../../src/engine/route-engine.js";
import type { KernelPort } from "../../src/engine/kernel-port.js";
import { FakeKernel } from "./fake-kernel.js";

function spec(source: string, group: string, iif: string, oifs: string[]): RouteSpec {
  return { family: "ipv4", table: 0, source, group, iif, oifs };
}

function kindOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? err.kind : `other: ${String(err)}`;
  }
  return undefined;
}

describe("RouteEngine", () => {
  let kernel: FakeKernel;
  let engine: RouteEngine;

  beforeEach(() => {
    kernel = new FakeKernel();
    for (let i = 0; i < 40; i++) kernel.addInterface(`eth${i}`, 100 + i);
    engine = new RouteEngine(() => kernel);
  });

  it("installs with lowest free VIFs and TTL threshold 1", () => {
    const view = engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1", "eth2"]));
    expect(view.state).toBe("installed");
    expect([...kernel.vifs]).toEqual([[0, 100], [1, 101], [2, 102]]);
    const entry = kernel.mfc.get("10.0.0.1|239.1.1.1");
    expect(entry?.parent).toBe(0);
    expect([...(entry?.oifs ?? [])]).toEqual([[1, 1], [2, 1]]);
  });

  it("shares VIFs across routes by reference count and releases them when unused", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    engine.add(spec("10.0.0.1", "239.1.1.2", "eth0", ["eth2"]));
    expect(engine.vifViews().map((v) => [v.name, v.refs])).toEqual([["eth0", 2], ["eth1", 1], ["eth2", 1]]);
    engine.delete(spec("10.0.0.1", "239.1.1.1", "", []));
    expect(engine.vifViews().map((v) => [v.name, v.refs])).toEqual([["eth0", 1], ["eth2", 1]]);
    expect(kernel.vifs.has(1)).toBe(false);
    // Freed index 1 is the lowest free one again.
    engine.add(spec("10.0.0.1", "239.1.1.3", "eth0", ["eth5"]));
    expect(kernel.vifs.get(1)).toBe(105);
  });

  it("identical re-add is a no-op", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1", "eth2"]));
    const before = kernel.calls.length;
    const view = engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth2", "eth1"]));
    expect(view.state).toBe("installed");
    expect(kernel.calls.length).toBe(before);
  });

  it("re-add of a route whose kernel entry vanished re-installs it", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    kernel.mfc.clear();
    expect(engine.list().routes[0]?.state).toBe("drifted");
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    expect(engine.list().routes[0]?.state).toBe("installed");
  });

  it("different route for the same key is ALREADY_EXISTS unless replace", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    expect(kindOf(() => engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth2"])))).toBe("already-exists");
    const view = engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth2"]), { replace: true });
    expect(view.spec.oifs).toEqual(["eth2"]);
    // Replaced in place (no delMfc), then the unused VIF for eth1 released.
    expect(kernel.calls.filter((c) => c.startsWith("delMfc"))).toEqual([]);
    expect(kernel.calls.at(-1)).toBe("delVif 1");
    expect(engine.vifViews().map((v) => v.name)).toEqual(["eth0", "eth2"]);
  });

  it("delete of a missing route is NOT_FOUND", () => {
    expect(kindOf(() => engine.delete(spec("10.0.0.9", "239.1.1.1", "", [])))).toBe("not-found");
  });

  it("unknown interface with requireInterfaces is FAILED_PRECONDITION naming it, with no kernel call", () => {
    let message = "";
    try {
      engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["nope0"]), { requireInterfaces: true });
    } catch (err) {
      message = (err as Error).message;
      expect((err as DomainError).kind).toBe("failed-precondition");
    }
    expect(message).toContain('"nope0"');
    expect(kernel.calls).toEqual([]);
  });

  it("33rd interface is RESOURCE_EXHAUSTED with state unchanged", () => {
    for (let i = 1; i <= 31; i++) engine.add(spec("10.0.0.1", `239.1.1.${i}`, "eth0", [`eth${i}`]));
    expect(kernel.vifs.size).toBe(32);
    const calls = kernel.calls.length;
    const err = (() => {
      try {
        engine.add(spec("10.0.0.1", "239.1.2.1", "eth0", ["eth32"]));
      } catch (e) {
        return e as DomainError;
      }
      return undefined;
    })();
    expect(err?.kind).toBe("resource-exhausted");
    expect(err?.message).toContain("32 VIFs");
    expect(err?.message).toContain("Another table");
    expect(kernel.calls.length).toBe(calls);
    expect(engine.size).toBe(31);
  });

  it("a failure part-way rolls back new VIFs and keeps other routes intact", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    const vifsBefore = [...kernel.vifs];
    kernel.failNext = { op: "addMfc", errno: "EINVAL" };
    expect(() => engine.add(spec("10.0.0.2", "239.1.1.2", "eth0", ["eth3", "eth4"]))).toThrow();
    expect([...kernel.vifs]).toEqual(vifsBefore);
    expect(engine.size).toBe(1);
    expect(engine.vifViews().map((v) => [v.name, v.refs])).toEqual([["eth0", 1], ["eth1", 1]]);
    expect(engine.list().routes[0]?.state).toBe("installed");
  });

  it("a failed replace leaves the old route as it was", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    kernel.failNext = { op: "addMfc", errno: "EINVAL" };
    expect(() => engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth2"]), { replace: true })).toThrow();
    expect(engine.get(spec("10.0.0.1", "239.1.1.1", "", []))?.spec.oifs).toEqual(["eth1"]);
    expect([...kernel.vifs.keys()]).toEqual([0, 1]);
    expect([...(kernel.mfc.get("10.0.0.1|239.1.1.1")?.oifs.keys() ?? [])]).toEqual([1]);
  });

  it("skips a VIF index occupied by a foreign VIF", () => {
    kernel.vifs.set(0, 999);
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    expect(kernel.vifs.get(1)).toBe(100);
    expect(kernel.vifs.get(2)).toBe(101);
  });

  it("never reuses a VIF index that a kernel entry still carries a TTL for", () => {
    // A stale foreign entry pointing at VIF 1 (e.g. left after an interface vanished).
    kernel.mfc.set("10.9.9.9|239.9.9.9", {
      source: "10.9.9.9", group: "239.9.9.9", parent: 5,
      oifs: new Map([[1, 1]]), counters: { packets: 0n, bytes: 0n, wrongIf: 0n },
    });
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth3"]));
    expect(kernel.vifs.get(0)).toBe(100);
    expect(kernel.vifs.get(1)).toBeUndefined();
    expect(kernel.vifs.get(2)).toBe(103);
  });

  it("repairs and reports an entry altered behind its back", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1", "eth2"]));
    const entry = kernel.mfc.get("10.0.0.1|239.1.1.1");
    entry?.oifs.delete(2);
    expect(engine.checkDrift()).toBe(1);
    const [view] = engine.list().routes;
    expect(view?.state).toBe("installed");
    expect(view?.driftRepairs).toBe(1);
    expect(view?.lastDrift).toContain("lacks oif eth2");
    expect([...(kernel.mfc.get("10.0.0.1|239.1.1.1")?.oifs.keys() ?? [])]).toEqual([1, 2]);
    expect(engine.checkDrift()).toBe(0);
  });

  it("a deleted kernel entry shows DRIFTED until repaired; an identical re-add repairs it too", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    kernel.mfc.clear();
    expect(engine.list().routes[0]?.state).toBe("drifted");
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    expect(engine.list().routes[0]?.state).toBe("installed");
  });

  it("stats filters by source and group", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    engine.add(spec("10.0.0.2", "239.1.1.1", "eth0", ["eth1"]));
    engine.add(spec("10.0.0.1", "239.1.1.2", "eth0", ["eth1"]));
    expect(engine.stats({ group: "239.1.1.1" }).routes).toHaveLength(2);
    expect(engine.stats({ source: "10.0.0.1", group: "239.1.1.2" }).routes).toHaveLength(1);
  });

  it("a pass over many routes switches to one bulk counter read per table; few routes stay per entry", () => {
    const n = BULK_COUNTERS_AFTER + 50;
    const specs = Array.from({ length: n }, (_, i) => spec(`10.0.${i >> 8}.${i & 255}`, "239.1.1.1", "eth0", ["eth1"]));
    engine.apply("api", specs);
    for (const [i, s] of specs.entries()) {
      const entry = kernel.mfc.get(`${s.source}|${s.group}`);
      if (entry) entry.counters = { packets: BigInt(i), bytes: BigInt(i * 100), wrongIf: 0n };
    }
    // One entry vanished behind our back: the bulk read must report it missing, as the ioctl does.
    const gone = specs[n - 1] as RouteSpec;
    kernel.mfc.delete(`${gone.source}|${gone.group}`);
    let bulkReads = 0;
    let entryReads = 0;
    const sgCounters = kernel.sgCounters.bind(kernel);
    kernel.sgCounters = (source, group) => (entryReads++, sgCounters(source, group));
    const port: KernelPort = kernel; // the fake has no bulk read of its own
    port.sgCountersAll = () => {
      bulkReads++;
      const all = new Map([...kernel.mfc.values()].map((e) => [`${e.source}|${e.group}`, { ...e.counters }]));
      return { get: (source, group) => all.get(`${source}|${group}`) };
    };
    const views = engine.list().routes;
    expect([bulkReads, entryReads]).toEqual([1, BULK_COUNTERS_AFTER]);
    expect(views.map((v) => v.counters.packets)).toEqual([...specs.keys()].map((i) => (i === n - 1 ? 0n : BigInt(i))));
    expect(views.at(-1)).toMatchObject({ state: "drifted", reason: "kernel entry missing" });
    const stats = engine.stats().routes;
    expect(bulkReads).toBe(2);
    expect(stats.map((r) => r.counters?.bytes)).toEqual([...specs.keys()].map((i) => (i === n - 1 ? undefined : BigInt(i * 100))));
    // A filtered pass over a few routes never dumps.
    expect(engine.stats({ source: "10.0.0.7" }).routes).toHaveLength(1);
    expect(bulkReads).toBe(2);
  });
});

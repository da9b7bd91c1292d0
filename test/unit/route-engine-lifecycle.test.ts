import { beforeEach, describe, expect, it } from "vitest";
import { DomainError } from "../../src/engine/domain-error.js";
import { RouteEngine, type RouteSpec } from "../../src/engine/route-engine.js";
import { FakeKernel } from "./fake-kernel.js";

function spec(source: string, group: string, iif: string, oifs: string[]): RouteSpec {
  return { family: "ipv4", table: 0, source, group, iif, oifs };
}

function thrown(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error("expected a DomainError");
}

/** oif ifindexes of the kernel entry (what the kernel would really forward to). */
function oifIfindexes(kernel: FakeKernel, key: string): number[] {
  const entry = kernel.mfc.get(key);
  return [...(entry?.oifs.keys() ?? [])].map((vif) => kernel.vifs.get(vif) ?? -1).sort();
}

describe("RouteEngine lifecycle: pending routes and hot-plug", () => {
  let kernel: FakeKernel;
  let engine: RouteEngine;

  beforeEach(() => {
    kernel = new FakeKernel();
    for (let i = 0; i < 6; i++) kernel.addInterface(`eth${i}`, 100 + i);
    engine = new RouteEngine(() => kernel);
  });

  it("accepts a route whose iif does not exist yet as PENDING and installs it when it appears", () => {
    const view = engine.add(spec("10.0.0.1", "239.1.1.1", "late0", ["eth1"]));
    expect(view.state).toBe("pending");
    expect(view.reason).toContain("late0");
    expect(view.missing).toEqual(["late0"]);
    expect(kernel.mfc.size).toBe(0);
    expect(engine.syncInterfaces()).toBe(0);
    kernel.addInterface("late0", 200);
    expect(engine.syncInterfaces()).toBe(1);
    const after = engine.list().routes[0];
    expect(after?.state).toBe("installed");
    expect(after?.missing).toEqual([]);
    expect(oifIfindexes(kernel, "10.0.0.1|239.1.1.1")).toEqual([101]);
  });

  it("an oif that vanishes is dropped from the entry (others keep forwarding) and comes back with a new ifindex", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1", "eth2"]));
    kernel.removeInterface("eth2");
    engine.syncInterfaces();
    let view = engine.list().routes[0];
    expect(view?.state).toBe("installed");
    expect(view?.missing).toEqual(["eth2"]);
    expect(view?.reason).toContain("eth2 does not exist");
    expect(oifIfindexes(kernel, "10.0.0.1|239.1.1.1")).toEqual([101]);
    // The dead VIF slot is gone once no entry names it.
    expect(engine.vifViews().map((v) => v.name)).toEqual(["eth0", "eth1"]);
    kernel.addInterface("eth2", 300);
    engine.syncInterfaces();
    view = engine.list().routes[0];
    expect(view?.missing).toEqual([]);
    expect(oifIfindexes(kernel, "10.0.0.1|239.1.1.1")).toEqual([101, 300]);
  });

  it("a vanished iif makes the route PENDING (entry removed) until it is back", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    kernel.removeInterface("eth0");
    engine.syncInterfaces();
    expect(engine.list().routes[0]?.state).toBe("pending");
    expect(kernel.mfc.size).toBe(0);
    kernel.addInterface("eth0", 400);
    engine.syncInterfaces();
    expect(engine.list().routes[0]?.state).toBe("installed");
    expect(kernel.vifs.get(kernel.mfc.get("10.0.0.1|239.1.1.1")?.parent ?? -1)).toBe(400);
  });

  it("a rename is a removal plus an addition: the old VIF is deleted, the new name gets one", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    engine.add(spec("10.0.0.2", "239.1.1.1", "eth0", ["new1"]));
    kernel.renameInterface("eth1", "new1");
    engine.syncInterfaces();
    const views = engine.list().routes;
    expect(views.find((v) => v.spec.source === "10.0.0.1")?.state).toBe("pending");
    expect(views.find((v) => v.spec.source === "10.0.0.2")?.state).toBe("installed");
    expect(engine.vifViews().map((v) => [v.name, v.ifindex])).toEqual([["eth0", 100], ["new1", 101]]);
    // Exactly one VIF on ifindex 101 in the kernel.
    expect([...kernel.vifs.values()].filter((i) => i === 101)).toHaveLength(1);
  });

  it("reuse hazard under churn: a freed index taken by a newcomer never carries old routes' traffic", () => {
    // Route A uses eth1 (VIF 1); eth1 is deleted; eth5 takes an index; A must not forward to eth5.
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1", "eth2"]));
    kernel.removeInterface("eth1");
    // A newcomer arrives before the sweep ran: it must not get index 1 (still named by A's entry).
    engine.add(spec("10.0.0.2", "239.1.1.2", "eth0", ["eth5"]));
    expect(oifIfindexes(kernel, "10.0.0.1|239.1.1.1")).not.toContain(105);
    engine.syncInterfaces();
    engine.add(spec("10.0.0.3", "239.1.1.3", "eth0", ["eth4"]));
    for (let round = 0; round < 20; round++) {
      kernel.removeInterface("eth4");
      engine.syncInterfaces();
      kernel.addInterface("eth4", 500 + round);
      engine.syncInterfaces();
    }
    expect(oifIfindexes(kernel, "10.0.0.1|239.1.1.1")).toEqual([102]);
    expect(oifIfindexes(kernel, "10.0.0.2|239.1.1.2")).toEqual([105]);
    expect(oifIfindexes(kernel, "10.0.0.3|239.1.1.3")).toEqual([519]);
  });

  it("link state is reported: down interfaces are listed, nothing is reinstalled", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    engine.setLinks([
      { ifindex: 100, name: "eth0", up: true, running: true },
      { ifindex: 101, name: "eth1", up: false, running: false },
    ]);
    const calls = kernel.calls.length;
    const view = engine.list().routes[0];
    expect(view?.state).toBe("installed");
    expect(view?.down).toEqual(["eth1"]);
    expect(view?.reason).toContain("eth1 down");
    expect(engine.vifViews().find((v) => v.name === "eth1")?.up).toBe(false);
    engine.noteLink({ ifindex: 101, name: "eth1", up: true, running: true });
    expect(engine.list().routes[0]?.down).toEqual([]);
    expect(kernel.calls.length).toBe(calls);
  });

  it("checkEntry puts back an entry deleted behind its back and counts the repair", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    kernel.mfc.delete("10.0.0.1|239.1.1.1");
    expect(engine.checkEntry({ family: "ipv4", table: 0, source: "10.0.0.1", group: "239.1.1.1" })).toBe(true);
    expect(kernel.mfc.has("10.0.0.1|239.1.1.1")).toBe(true);
    expect(engine.list().routes[0]?.driftRepairs).toBe(1);
    expect(engine.list().routes[0]?.lastDrift).toContain("removed behind");
  });

  it("foreign kernel entries are reported by checkDrift and never deleted", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    kernel.mfc.set("10.9.9.9|239.9.9.9", {
      source: "10.9.9.9", group: "239.9.9.9", parent: 0,
      oifs: new Map([[1, 1]]), counters: { packets: 3n, bytes: 0n, wrongIf: 0n },
    });
    engine.checkDrift();
    const { foreign } = engine.list();
    expect(foreign.map((f) => [f.source, f.group, f.iif, f.oifs])).toEqual([["10.9.9.9", "239.9.9.9", "eth0", ["eth1"]]]);
    expect(kernel.mfc.has("10.9.9.9|239.9.9.9")).toBe(true);
  });

  it("restore never drops a route: one that cannot be installed stays desired with the reason", () => {
    kernel.failNext = { op: "addMfc", errno: "ENFILE" };
    const result = engine.restore([
      { spec: spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]), owner: "api" },
      { spec: spec("10.0.0.2", "239.1.1.1", "eth0", ["eth2"]), owner: "config" },
      { spec: spec("10.0.0.3", "239.1.1.1", "gone9", ["eth2"]), owner: "api" },
    ]);
    expect(result).toMatchObject({ installed: 1, pending: 2 });
    const views = engine.list().routes;
    expect(views.map((v) => v.state)).toEqual(["pending", "installed", "pending"]);
    expect(views[0]?.reason).toContain("could not install");
    expect(views[1]?.owner).toBe("config");
    // The next sweep retries the failed one.
    engine.syncInterfaces();
    expect(engine.list().routes[0]?.state).toBe("installed");
  });

  it("--max-routes answers RESOURCE_EXHAUSTED and changes nothing", () => {
    const small = new RouteEngine(() => kernel, { maxRoutes: 2 });
    small.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    small.add(spec("10.0.0.2", "239.1.1.1", "eth0", ["eth1"]));
    const err = thrown(() => small.add(spec("10.0.0.3", "239.1.1.1", "eth0", ["eth1"])));
    expect(err.kind).toBe("resource-exhausted");
    expect(err.message).toContain("--max-routes");
    expect(small.size).toBe(2);
    // Replacing an existing one is still fine at the limit.
    small.add(spec("10.0.0.2", "239.1.1.1", "eth0", ["eth2"]), { replace: true });
  });
});

describe("RouteEngine.apply: declarative sets per owner", () => {
  let kernel: FakeKernel;
  let engine: RouteEngine;

  beforeEach(() => {
    kernel = new FakeKernel();
    for (let i = 0; i < 40; i++) kernel.addInterface(`eth${i}`, 100 + i);
    engine = new RouteEngine(() => kernel);
  });

  it("applies only the difference and is idempotent", () => {
    const a = spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]);
    const b = spec("10.0.0.2", "239.1.1.1", "eth0", ["eth1"]);
    const c = spec("10.0.0.3", "239.1.1.1", "eth0", ["eth1"]);
    let r = engine.apply("ctl", [a, b]);
    expect([r.added.length, r.removed.length, r.replaced.length, r.unchanged.length]).toEqual([2, 0, 0, 0]);
    const calls = kernel.calls.length;
    r = engine.apply("ctl", [a, b]);
    expect([r.added.length, r.removed.length, r.replaced.length, r.unchanged.length]).toEqual([0, 0, 0, 2]);
    expect(kernel.calls.length).toBe(calls); // unchanged routes are not rewritten
    r = engine.apply("ctl", [{ ...a, oifs: ["eth2"] }, c]);
    expect(r.added.map((s) => s.source)).toEqual(["10.0.0.3"]);
    expect(r.removed.map((s) => s.source)).toEqual(["10.0.0.2"]);
    expect(r.replaced.map((s) => s.oifs)).toEqual([["eth2"]]);
    expect(kernel.calls.slice(calls).filter((c) => c.startsWith("addMfc 10.0.0.1"))).toHaveLength(1);
    expect([...kernel.mfc.keys()].sort()).toEqual(["10.0.0.1|239.1.1.1", "10.0.0.3|239.1.1.1"]);
  });

  it("dry run computes the diff and changes nothing", () => {
    engine.apply("ctl", [spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"])]);
    const calls = kernel.calls.length;
    const r = engine.apply("ctl", [spec("10.0.0.2", "239.1.1.1", "eth0", ["eth1"])], { dryRun: true });
    expect(r.dryRun).toBe(true);
    expect([r.added.length, r.removed.length]).toEqual([1, 1]);
    expect(kernel.calls.length).toBe(calls);
    expect(engine.size).toBe(1);
  });

  it("owners never clobber each other; taking another owner's route is FAILED_PRECONDITION naming it", () => {
    engine.add(spec("10.0.0.9", "239.1.1.1", "eth0", ["eth1"])); // owner api
    engine.apply("config", [spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"])]);
    engine.apply("ctl", [spec("10.0.0.2", "239.1.1.1", "eth0", ["eth1"])]);
    engine.apply("config", [spec("10.0.0.3", "239.1.1.1", "eth0", ["eth1"])]);
    expect(engine.list().routes.map((v) => `${v.owner}:${v.spec.source}`).sort()).toEqual([
      "api:10.0.0.9",
      "config:10.0.0.3",
      "ctl:10.0.0.2",
    ]);
    const err = thrown(() => engine.apply("ctl", [spec("10.0.0.9", "239.1.1.1", "eth0", ["eth1"])]));
    expect(err.kind).toBe("failed-precondition");
    expect(err.message).toContain('owned by "api"');
    expect(engine.size).toBe(3);
    const err2 = thrown(() => engine.add(spec("10.0.0.2", "239.1.1.1", "eth0", ["eth1"])));
    expect(err2.message).toContain('owned by "ctl"');
  });

  it("an empty set needs allowEmpty, and then removes only that owner's routes", () => {
    engine.apply("ctl", [spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"])]);
    engine.add(spec("10.0.0.9", "239.1.1.1", "eth0", ["eth1"]));
    const err = thrown(() => engine.apply("ctl", []));
    expect(err.kind).toBe("invalid-argument");
    expect(err.message).toContain("allow_empty");
    expect(engine.size).toBe(2);
    const r = engine.apply("ctl", [], { allowEmpty: true });
    expect(r.removed).toHaveLength(1);
    expect(engine.list().routes.map((v) => v.spec.source)).toEqual(["10.0.0.9"]);
  });

  it("a failure part-way rolls everything back: routes, kernel entries and VIFs as before", () => {
    engine.apply("ctl", [spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]), spec("10.0.0.2", "239.1.1.1", "eth0", ["eth2"])]);
    const mfcBefore = JSON.stringify([...kernel.mfc.entries()].map(([k, e]) => [k, e.parent, [...e.oifs]]));
    const vifsBefore = JSON.stringify([...kernel.vifs]);
    // New set: drop .2, replace .1, add 40 routes over 31 more interfaces → VIF table full.
    const many = Array.from({ length: 39 }, (_, i) => spec(`10.1.0.${i + 1}`, "239.1.1.1", "eth0", [`eth${i + 1}`]));
    const err = thrown(() => engine.apply("ctl", [spec("10.0.0.1", "239.1.1.1", "eth0", ["eth3"]), ...many]));
    expect(err.kind).toBe("resource-exhausted");
    expect(JSON.stringify([...kernel.mfc.entries()].map(([k, e]) => [k, e.parent, [...e.oifs]]))).toBe(mfcBefore);
    expect(JSON.stringify([...kernel.vifs])).toBe(vifsBefore);
    expect(engine.list().routes.map((v) => `${v.spec.source}>${v.spec.oifs.join(",")}`).sort()).toEqual([
      "10.0.0.1>eth1",
      "10.0.0.2>eth2",
    ]);
  });

  it("duplicates in one request are INVALID_ARGUMENT naming the index", () => {
    const err = thrown(() =>
      engine.apply("ctl", [spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]), spec("10.0.0.1", "239.1.1.1", "eth0", ["eth2"])]),
    );
    expect(err.kind).toBe("invalid-argument");
    expect(err.violations[0]?.field).toBe("routes[1]");
  });

  it("route limit covers applies", () => {
    const small = new RouteEngine(() => kernel, { maxRoutes: 3 });
    const err = thrown(() =>
      small.apply("ctl", Array.from({ length: 4 }, (_, i) => spec(`10.0.0.${i + 1}`, "239.1.1.1", "eth0", ["eth1"]))),
    );
    expect(err.kind).toBe("resource-exhausted");
    expect(small.size).toBe(0);
  });
});

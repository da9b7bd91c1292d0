// Adoption (issue 12): a restarted mfcd takes over what its predecessor left in the kernel —
// same VIF indexes, entries kept without a write (counters continue), leftovers removed, and no
// entry kept that could forward to an interface that took a deleted one's VIF index.
import { beforeEach, describe, expect, it } from "vitest";
import { RouteEngine, type RouteSpec } from "../../src/engine/route-engine.js";
import { FakeKernel } from "./fake-kernel.js";

const spec = (source: string, group: string, iif: string, oifs: string[]): RouteSpec => ({ family: "ipv4", table: 0, source, group, iif, oifs });
const writes = (k: FakeKernel): string[] => k.calls.filter((c) => /^(add|del)(Vif|Mfc)/.test(c));

describe("RouteEngine: adopting what a previous mfcd left", () => {
  let kernel: FakeKernel;
  const R1 = spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1", "eth2"]);
  const R2 = spec("10.0.0.2", "239.1.1.2", "eth0", ["eth3"]);

  /** A first mfcd installs `routes`, traffic counts, then it dies: only static state remains. */
  function crashAfter(routes: RouteSpec[]): void {
    const first = new RouteEngine(() => kernel);
    for (const r of routes) first.add(r);
    for (const e of kernel.mfc.values()) e.counters = { packets: 1000n, bytes: 64000n, wrongIf: 0n };
    kernel.ownerClosed();
    kernel.calls.length = 0;
  }

  beforeEach(() => {
    kernel = new FakeKernel({ survives: true });
    for (let i = 0; i < 10; i++) kernel.addInterface(`eth${i}`, 100 + i);
  });

  it("keeps every matching entry and VIF as it is: no kernel write, same VIF indexes, counters continue", () => {
    crashAfter([R1, R2]);
    const vifsBefore = new Map(kernel.vifs);
    const second = new RouteEngine(() => kernel);
    expect(second.restore([R1, R2].map((s) => ({ spec: s, owner: "api" })))).toEqual({ installed: 2, pending: 0, adopted: 2, removedLeftovers: 0 });
    expect(writes(kernel)).toEqual([]);
    expect(kernel.vifs).toEqual(vifsBefore);
    expect(second.list().routes.map((r) => [r.state, r.counters.packets])).toEqual([
      ["installed", 1000n],
      ["installed", 1000n],
    ]);
    // The adopted VIFs are reference-counted like any: deleting R2 releases eth3's VIF.
    second.delete(R2);
    expect(writes(kernel)).toEqual(["delMfc 10.0.0.2 239.1.1.2", "delVif 3"]);
  });

  it("rewrites in place an entry that differs from its restored route (counters kept), and removes leftovers no route claims", () => {
    crashAfter([R1, R2]);
    const changed = { ...R1, oifs: ["eth1"] }; // the state file says so: the kernel write happened, the record too
    const second = new RouteEngine(() => kernel);
    const result = second.restore([{ spec: changed, owner: "api" }]); // R2's record never became durable
    expect(result).toMatchObject({ installed: 1, adopted: 0, removedLeftovers: 1 });
    expect(writes(kernel)).toEqual(["addMfc 10.0.0.1 239.1.1.1 0 1", "delMfc 10.0.0.2 239.1.1.2", "delVif 2", "delVif 3"]);
    expect(kernel.mfc.get("10.0.0.1|239.1.1.1")?.counters.packets).toBe(1000n);
    expect([...kernel.vifs.keys()].sort()).toEqual([0, 1]);
  });

  it("leaves another socket's entries on its own VIFs alone", () => {
    crashAfter([R1]);
    kernel.vifs.set(9, 109); // a foreign VIF (not static from our writer's point of view: another tool's)
    kernel.mfc.set("10.9.9.9|239.9.9.9", { source: "10.9.9.9", group: "239.9.9.9", parent: 9, oifs: new Map([[9, 1]]), counters: { packets: 0n, bytes: 0n, wrongIf: 0n } });
    const second = new RouteEngine(() => kernel);
    expect(second.restore([{ spec: R1, owner: "api" }])).toMatchObject({ adopted: 1, removedLeftovers: 0 });
    expect(kernel.mfc.has("10.9.9.9|239.9.9.9")).toBe(true);
  });

  it("an interface deleted while mfcd was down: the VIF index it left is never handed out before the kept entries are rewritten", () => {
    crashAfter([R1]); // VIFs: 0 eth0, 1 eth1, 2 eth2
    kernel.removeInterface("eth2"); // the kernel drops VIF 2; R1's entry keeps a TTL for 2
    kernel.addInterface("new0", 200);
    expect(kernel.mfc.get("10.0.0.1|239.1.1.1")?.oifs.has(2)).toBe(true);
    const second = new RouteEngine(() => kernel);
    const result = second.restore([{ spec: R1, owner: "api" }]);
    expect(result).toMatchObject({ installed: 1, adopted: 1 }); // eth1 only now: what the kernel shows
    second.add(spec("10.0.0.5", "239.1.1.5", "eth0", ["new0"]));
    const newVif = [...kernel.vifs].find(([, ifindex]) => ifindex === 200)?.[0];
    expect(newVif, "new0 takes the index eth2 left").toBe(2);
    expect(kernel.mfc.get("10.0.0.1|239.1.1.1")?.oifs).toEqual(new Map([[1, 1]]));
    for (const e of kernel.mfc.values()) {
      if (e.source === "10.0.0.5") continue;
      expect(e.oifs.has(newVif as number), `(${e.source}, ${e.group}) must not forward to new0`).toBe(false);
    }
  });

  it("a kept entry that still carries a TTL for a vanished VIF is rewritten before that index is reused", () => {
    // R2 (eth0 → eth3) is kept as it is, but the kernel may still hold a TTL for a VIF whose
    // interface was deleted while no mfcd ran (its dump cannot show it).
    crashAfter([R1, R2]); // VIFs 0 eth0, 1 eth1, 2 eth2, 3 eth3
    kernel.removeInterface("eth2");
    const stale = kernel.mfc.get("10.0.0.2|239.1.1.2");
    stale?.oifs.set(2, 1); // e.g. R2 had eth2 as an oif until a change that was never recorded
    const second = new RouteEngine(() => kernel);
    const R1b = { ...R1, oifs: ["eth1"] };
    expect(second.restore([R1b, R2].map((s) => ({ spec: s, owner: "api" })))).toMatchObject({ adopted: 2 }); // R1b: eth1 only, what the kernel shows
    expect(writes(kernel).filter((c) => c.startsWith("addMfc"))).toEqual([]); // both kept: no write yet
    kernel.calls.length = 0;
    second.add(spec("10.0.0.7", "239.1.1.7", "eth0", ["eth7"])); // eth7 gets index 2, emptied while mfcd was down
    const calls = writes(kernel);
    const rewrite = calls.indexOf("addMfc 10.0.0.2 239.1.1.2 0 3");
    const newVif = calls.findIndex((c) => c.startsWith("addVif"));
    expect(rewrite, calls.join("; ")).toBeGreaterThanOrEqual(0);
    expect(rewrite).toBeLessThan(newVif);
    expect(kernel.mfc.get("10.0.0.2|239.1.1.2")?.oifs).toEqual(new Map([[3, 1]]));
  });

  it("learned entries are written dynamic: they end with the owner socket and are re-learned, never adopted", () => {
    const first = new RouteEngine(() => kernel);
    first.add(spec("", "239.2.2.2", "eth0", ["eth1"]));
    first.onUpcall({ family: "ipv4", table: 0, type: "nocache", source: "10.0.0.9", group: "239.2.2.2", vif: 0 });
    expect(kernel.mfc.has("10.0.0.9|239.2.2.2")).toBe(true);
    kernel.ownerClosed();
    expect(kernel.mfc.has("10.0.0.9|239.2.2.2")).toBe(false);
    expect([...kernel.vifs.keys()].sort()).toEqual([0, 1]); // the template's VIFs stay for the next mfcd
  });
});

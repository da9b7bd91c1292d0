import { beforeEach, describe, expect, it } from "vitest";
import { RouteEngine, type RouteSpec } from "../../src/engine/route-engine.js";
import { validateRoute } from "../../src/server/routes/index.js";
import { FakeKernel } from "./fake-kernel.js";

function spec(source: string, group: string, iif: string, oifs: string[]): RouteSpec {
  return { family: "ipv4", table: 0, source, group, iif, oifs };
}
const up = (vif: number, source: string, group: string, type: "nocache" | "wrongvif" = "nocache") =>
  ({ family: "ipv4", table: 0, type, vif, source, group }) as const;

describe("RouteEngine templates: (*,G) and prefixes learned from upcalls", () => {
  let kernel: FakeKernel;
  let engine: RouteEngine;

  beforeEach(() => {
    kernel = new FakeKernel();
    for (let i = 0; i < 8; i++) kernel.addInterface(`eth${i}`, 100 + i);
    engine = new RouteEngine(() => kernel);
  });

  const vifOf = (name: string) => engine.vifViews().find((v) => v.name === name)?.vif ?? -1;

  it("a template holds VIFs but writes no kernel entry; a NOCACHE upcall learns a concrete (S,G)", () => {
    const view = engine.add(spec("", "239.1.1.1", "eth0", ["eth1", "eth2"]));
    expect(view.state).toBe("installed");
    expect(kernel.mfc.size).toBe(0);
    expect(engine.vifViews().map((v) => v.name)).toEqual(["eth0", "eth1", "eth2"]);
    expect(engine.onUpcall(up(vifOf("eth0"), "10.0.0.5", "239.1.1.1"))).toBe("learned");
    const entry = kernel.mfc.get("10.0.0.5|239.1.1.1");
    expect(entry?.parent).toBe(vifOf("eth0"));
    expect([...(entry?.oifs.keys() ?? [])]).toEqual([vifOf("eth1"), vifOf("eth2")]);
    const learned = engine.list().routes.find((r) => r.learned);
    expect(learned?.template).toBe("(*, 239.1.1.1) from eth0");
    expect(learned?.spec.oifs).toEqual(["eth1", "eth2"]);
  });

  it("prefixes on source and group; the most specific template wins", () => {
    engine.add(spec("10.0.0.0/8", "239.1.0.0/16", "eth0", ["eth1"]));
    engine.add(spec("10.9.0.0/16", "239.1.0.0/16", "eth0", ["eth2"]));
    expect(engine.onUpcall(up(vifOf("eth0"), "10.9.1.1", "239.1.7.7"))).toBe("learned");
    expect([...(kernel.mfc.get("10.9.1.1|239.1.7.7")?.oifs.keys() ?? [])]).toEqual([vifOf("eth2")]);
    expect(engine.onUpcall(up(vifOf("eth0"), "10.1.1.1", "239.1.7.7"))).toBe("learned");
    expect([...(kernel.mfc.get("10.1.1.1|239.1.7.7")?.oifs.keys() ?? [])]).toEqual([vifOf("eth1")]);
    // Outside the group prefix: stop filter.
    expect(engine.onUpcall(up(vifOf("eth0"), "10.1.1.1", "239.2.0.1"))).toBe("stop-filter");
    expect(kernel.mfc.get("10.1.1.1|239.2.0.1")?.oifs.size).toBe(0);
  });

  it("all four template forms — (*,G), (*,G/len), (S/len,G), (S/len,G/len) — pass validation and learn only what they match", () => {
    const forms: [string, string, string, string][] = [
      // source, group, a matching (S,G), an (S,G) outside it
      ["", "239.1.1.1", "10.9.9.9|239.1.1.1", "10.9.9.9|239.1.1.2"],
      ["", "239.2.0.0/16", "10.9.9.9|239.2.3.4", "10.9.9.9|239.3.0.1"],
      ["10.3.0.0/16", "239.4.4.4", "10.3.7.7|239.4.4.4", "10.4.0.1|239.4.4.4"],
      ["10.5.0.0/16", "239.5.0.0/16", "10.5.1.1|239.5.2.2", "10.5.1.1|239.6.0.1"],
    ];
    for (const [source, group] of forms) {
      const checked = validateRoute({ source, group, iif: "eth0", oifs: ["eth1"], oifTtl: {}, table: 0 });
      expect(checked, `${source || "*"}, ${group}`).toMatchObject({ family: "ipv4", source, group });
      expect(engine.add(checked).state).toBe("installed");
    }
    expect(kernel.mfc.size, "templates write no kernel entry").toBe(0);
    for (const [, , inside, outside] of forms) {
      const [s1, g1] = inside.split("|") as [string, string];
      const [s2, g2] = outside.split("|") as [string, string];
      expect(engine.onUpcall(up(vifOf("eth0"), s1, g1)), inside).toBe("learned");
      expect([...(kernel.mfc.get(inside)?.oifs.keys() ?? [])], inside).toEqual([vifOf("eth1")]);
      expect(engine.onUpcall(up(vifOf("eth0"), s2, g2)), outside).toBe("stop-filter");
      expect(kernel.mfc.get(outside)?.oifs.size, outside).toBe(0);
    }
  });

  it("an iif no template allows gets a stop filter; adding a template converts it into forwarding", () => {
    engine.add(spec("", "239.1.1.1", "eth0", ["eth1"]));
    engine.add(spec("10.0.0.1", "239.5.5.5", "eth3", ["eth1"])); // gives eth3 a VIF
    expect(engine.onUpcall(up(vifOf("eth3"), "10.0.0.7", "239.1.1.1"))).toBe("stop-filter");
    expect(engine.list().routes.filter((r) => r.stopFilter).map((r) => r.spec.iif)).toEqual(["eth3"]);
    engine.add(spec("", "239.1.1.1", "eth3", ["eth2"]));
    const entry = kernel.mfc.get("10.0.0.7|239.1.1.1");
    expect(entry?.parent).toBe(vifOf("eth3"));
    expect([...(entry?.oifs.keys() ?? [])]).toEqual([vifOf("eth2")]);
    expect(engine.list().routes.filter((r) => r.stopFilter)).toEqual([]);
  });

  it("deleting a template removes what it taught; an overlapping explicit (S,G) keeps forwarding", () => {
    engine.add(spec("", "239.1.1.1", "eth0", ["eth1"]));
    engine.add(spec("10.0.0.9", "239.1.1.1", "eth0", ["eth2"]));
    engine.onUpcall(up(vifOf("eth0"), "10.0.0.5", "239.1.1.1"));
    // An explicit route's own flow never produces an upcall, and one that does is ignored.
    expect(engine.onUpcall(up(vifOf("eth0"), "10.0.0.9", "239.1.1.1"))).toBe("ignored");
    engine.delete({ family: "ipv4", table: 0, source: "", group: "239.1.1.1", iif: "eth0" });
    expect(kernel.mfc.has("10.0.0.5|239.1.1.1")).toBe(false);
    expect([...(kernel.mfc.get("10.0.0.9|239.1.1.1")?.oifs.keys() ?? [])]).toEqual([vifOf("eth2")]);
  });

  it("idle learned entries and stop filters expire; active ones stay", () => {
    engine.add(spec("", "239.1.1.1", "eth0", ["eth1"]));
    engine.onUpcall(up(vifOf("eth0"), "10.0.0.1", "239.1.1.1"));
    engine.onUpcall(up(vifOf("eth0"), "10.0.0.2", "239.1.1.1"));
    const t0 = Date.now();
    expect(engine.expireLearned(60_000, t0)).toBe(0);
    const active = kernel.mfc.get("10.0.0.1|239.1.1.1");
    if (active) active.counters.packets += 5n;
    expect(engine.expireLearned(60_000, t0 + 61_000)).toBe(1);
    expect(kernel.mfc.has("10.0.0.1|239.1.1.1")).toBe(true);
    expect(kernel.mfc.has("10.0.0.2|239.1.1.1")).toBe(false);
    expect(engine.expireLearned(0, t0 + 10_000_000)).toBe(0); // 0 = never
  });

  it("a learned flow that moves to another iif a template allows is re-learned there", () => {
    engine.add(spec("", "239.1.1.1", "eth0", ["eth2"]));
    engine.add(spec("", "239.1.1.1", "eth1", ["eth2"]));
    engine.onUpcall(up(vifOf("eth0"), "10.0.0.1", "239.1.1.1"));
    expect(engine.onUpcall(up(vifOf("eth1"), "10.0.0.1", "239.1.1.1", "wrongvif"))).toBe("relearned");
    expect(kernel.mfc.get("10.0.0.1|239.1.1.1")?.parent).toBe(vifOf("eth1"));
    // Without a WRONGVIF upcall: wrong_if rising while packets stand still drops the entry so
    // the next packet raises NOCACHE on the new iif.
    const entry = kernel.mfc.get("10.0.0.1|239.1.1.1");
    engine.expireLearned(60_000);
    // As the kernel counts them: wrong-iif packets raise pkt_cnt and wrong_if alike.
    if (entry) {
      entry.counters.packets += 3n;
      entry.counters.wrongIf += 3n;
    }
    engine.expireLearned(60_000);
    expect(kernel.mfc.has("10.0.0.1|239.1.1.1")).toBe(false);
    expect(engine.onUpcall(up(vifOf("eth0"), "10.0.0.1", "239.1.1.1"))).toBe("learned");
  });

  it("without any template, upcalls change nothing (no stop filters behind deleted routes)", () => {
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    engine.delete({ family: "ipv4", table: 0, source: "10.0.0.1", group: "239.1.1.1" });
    engine.add(spec("10.0.0.2", "239.1.1.2", "eth0", ["eth1"]));
    expect(engine.onUpcall(up(vifOf("eth0"), "10.0.0.1", "239.1.1.1"))).toBe("ignored");
    expect(kernel.mfc.has("10.0.0.1|239.1.1.1")).toBe(false);
  });
});

// Defects of issue 11 §6 that live in the engine, each pinned by a test that failed before its fix.
import { beforeEach, describe, expect, it } from "vitest";
import { DomainError } from "../../src/engine/domain-error.js";
import { RouteEngine, type RouteSpec } from "../../src/engine/route-engine.js";
import { KernelError } from "../../src/kernel/ffi/kernel-error.js";
import { FakeKernel } from "./fake-kernel.js";

function spec(source: string, group: string, iif: string, oifs: string[], table = 0): RouteSpec {
  return { family: "ipv4", table, source, group, iif, oifs };
}

function thrown(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error("did not throw");
}

describe("RouteEngine: reads never open a kernel table", () => {
  let kernel: FakeKernel;
  let opened: string[];
  let engine: RouteEngine;

  beforeEach(() => {
    kernel = new FakeKernel();
    for (let i = 0; i < 4; i++) kernel.addInterface(`eth${i}`, 100 + i);
    opened = [];
    engine = new RouteEngine((family, table) => {
      opened.push(`${family}/${table}`);
      return kernel;
    });
    engine.add(spec("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]));
    opened.length = 0;
  });

  it("get, flowSnapshot, list and stats of another table open nothing", () => {
    expect(engine.get({ family: "ipv4", table: 7, source: "10.0.0.1", group: "239.1.1.1" })).toBeUndefined();
    const snap = engine.flowSnapshot({ family: "ipv4", table: 7, source: "10.0.0.1", group: "239.1.1.1" });
    expect(snap.route).toBeUndefined();
    expect(snap.mfc).toBeUndefined();
    engine.list();
    engine.stats();
    expect(opened).toEqual([]);
  });

  it("a dry-run apply into a new table opens nothing", () => {
    const result = engine.apply("ctl", [spec("10.0.0.2", "239.1.1.2", "eth0", ["eth1"], 7)], { dryRun: true });
    expect(result.added).toHaveLength(1);
    expect(opened).toEqual([]);
  });

  it("an AddRoute refused by its checks opens nothing; one accepted opens its table", () => {
    engine.add(spec("10.0.0.9", "239.1.1.9", "eth0", ["eth1"], 7), { owner: "a" });
    expect(opened).toEqual(["ipv4/7"]);
    opened.length = 0;
    expect(thrown(() => engine.add(spec("10.0.0.3", "239.1.1.3", "nope", ["eth1"], 8), { requireInterfaces: true })).reason).toBe(
      "INTERFACE_NOT_FOUND",
    );
    const small = new RouteEngine(
      (family, table) => {
        opened.push(`${family}/${table}`);
        return kernel;
      },
      { maxRoutes: 0 },
    );
    expect(thrown(() => small.add(spec("10.0.0.4", "239.1.1.4", "eth0", ["eth1"], 9))).reason).toBe("ROUTE_LIMIT");
    expect(opened).toEqual([]);
  });
});

describe("RouteEngine: the kernel's id of the default table is the default table", () => {
  it("ensureTable('ipv4', 253) uses the table mfcd already owns instead of opening it again (EADDRINUSE)", () => {
    const kernel = new FakeKernel();
    const opened: string[] = [];
    const engine = new RouteEngine((family, table) => {
      opened.push(`${family}/${table}`);
      if (opened.filter((t) => t.startsWith(family)).length > 1) throw new KernelError("MRT_INIT", 98, "EADDRINUSE");
      return kernel;
    });
    engine.ensureTable("ipv4", 0);
    expect(() => engine.ensureTable("ipv4", 253)).not.toThrow();
    expect(() => engine.ensureTable("ipv6", 254)).not.toThrow();
    expect(opened).toEqual(["ipv4/0", "ipv6/0"]);
  });
});

describe("RouteEngine: templates", () => {
  let kernel: FakeKernel;
  let engine: RouteEngine;
  beforeEach(() => {
    kernel = new FakeKernel();
    for (let i = 0; i < 4; i++) kernel.addInterface(`eth${i}`, 100 + i);
    engine = new RouteEngine(() => kernel);
  });
  const vifOf = (name: string) => engine.vifViews().find((v) => v.name === name)?.vif ?? -1;
  const up = (vif: number, source: string, group: string) =>
    ({ family: "ipv4", table: 0, type: "nocache", vif, source, group }) as const;

  it("a failed install of a learned entry is counted and reported, not swallowed", () => {
    const failures: string[] = [];
    engine = new RouteEngine(() => kernel, { onLearnFailure: (f) => failures.push(`${f.source} ${f.group}: ${f.error}`) });
    engine.add(spec("", "239.1.1.1", "eth0", ["eth1"]));
    kernel.failNext = { op: "addMfc", errno: "ENFILE" };
    expect(engine.onUpcall(up(vifOf("eth0"), "10.0.0.5", "239.1.1.1"))).toBe("failed");
    expect(engine.learnFailures).toBe(1);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toContain("10.0.0.5 239.1.1.1");
  });

  it("restore counts an installed template as installed, not pending", () => {
    const result = engine.restore([
      { spec: spec("", "239.1.1.1", "eth0", ["eth1"]), owner: "api" },
      { spec: spec("10.0.0.1", "239.1.1.2", "eth0", ["eth2"]), owner: "api" },
      { spec: spec("10.0.0.1", "239.1.1.3", "gone", ["eth2"]), owner: "api" },
    ]);
    expect(result).toMatchObject({ installed: 2, pending: 1 });
  });

  it("DelRoute of a template without iif: removed when it is the only one with that (source, group)", () => {
    engine.add(spec("", "239.1.1.1", "eth0", ["eth1"]));
    const removed = engine.delete({ family: "ipv4", table: 0, source: "", group: "239.1.1.1" });
    expect(removed.spec.iif).toBe("eth0");
    expect(engine.size).toBe(0);
  });

  it("DelRoute of a template without iif when several match: FAILED_PRECONDITION naming the iifs", () => {
    engine.add(spec("", "239.1.1.1", "eth0", ["eth1"]));
    engine.add(spec("", "239.1.1.1", "eth2", ["eth1"]));
    const err = thrown(() => engine.delete({ family: "ipv4", table: 0, source: "", group: "239.1.1.1", iif: "" }));
    expect(err.kind).toBe("failed-precondition");
    expect(err.reason).toBe("TEMPLATE_IIF_AMBIGUOUS");
    expect(err.message).toContain("eth0");
    expect(err.message).toContain("eth2");
    expect(err.metadata.iifs).toBe("eth0,eth2");
    expect(engine.size).toBe(2);
  });

  it("ListRoutes reads each template's learned count from an index, not a scan of every learned entry", () => {
    // 300 templates, each with 3 learned entries: a scan per template walks 300 × 900 entries.
    for (let g = 0; g < 300; g++) engine.add(spec("", `239.2.${g >> 8}.${g & 255}`, "eth0", ["eth1"]));
    for (let g = 0; g < 300; g++) {
      for (let s = 1; s <= 3; s++) engine.onUpcall(up(vifOf("eth0"), `10.0.0.${s}`, `239.2.${g >> 8}.${g & 255}`));
    }
    let visited = 0;
    const values = Map.prototype.values;
    Map.prototype.values = function (this: Map<unknown, unknown>) {
      const it = values.call(this);
      return (function* () {
        for (const v of it) {
          visited++;
          yield v;
        }
      })() as unknown as ReturnType<typeof values>;
    } as typeof values;
    let views: ReturnType<RouteEngine["list"]>["routes"];
    try {
      views = engine.list().routes;
    } finally {
      Map.prototype.values = values;
    }
    expect(views.filter((v) => v.spec.source === "" && v.reason === "template: 3 (S,G) learned")).toHaveLength(300);
    expect(visited).toBeLessThan(20_000);
  });
});

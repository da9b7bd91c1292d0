// The engine on a kernel that lacks parts of multicast routing (IPv6, multiple tables): clients'
// routes needing them are refused with FAILED_PRECONDITION naming the option, restored ones stay
// PENDING with that reason (never dropped), and everything else keeps working.
import { beforeEach, describe, expect, it } from "vitest";
import { DomainError } from "../../src/engine/domain-error.js";
import { KERNEL_OPTION_MISSING, type KernelSupport } from "../../src/engine/kernel-support.js";
import { RouteEngine, type RouteSpec } from "../../src/engine/route-engine.js";
import type { AddressFamily } from "../../src/engine/route-key.js";
import { FakeKernel } from "./fake-kernel.js";
import { missingForTable, capabilityEntry } from "../../src/kernel/requirements/index.js";
import type { KernelCapabilities } from "../../src/kernel/system/index.js";

function spec(family: AddressFamily, table: number, source: string, group: string, iif: string, oifs: string[]): RouteSpec {
  return { family, table, source, group, iif, oifs };
}
const v4 = (s: string, g: string, iif: string, oifs: string[], table = 0) => spec("ipv4", table, s, g, iif, oifs);
const v6 = (s: string, g: string, iif: string, oifs: string[], table = 0) => spec("ipv6", table, s, g, iif, oifs);

function thrown(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error("did not throw");
}

/** IPv4 without multiple tables, no IPv6 at all: as Debian's user-mode-linux kernel. */
const caps: KernelCapabilities = {
  release: "6.1.0-test",
  capabilities: [
    capabilityEntry("ipv4", true, ""),
    capabilityEntry("tables", false, "setsockopt(IPPROTO_IP, MRT_TABLE, 253): ENOPROTOOPT (the kernel was built without CONFIG_IP_MROUTE_MULTIPLE_TABLES)"),
    capabilityEntry("ipv6", false, "getsockopt(IPPROTO_IPV6, MRT6_VERSION): ENOPROTOOPT (the kernel was built without CONFIG_IPV6_MROUTE)"),
    capabilityEntry("ipv6-tables", false, "needs CONFIG_IPV6_MROUTE first"),
    capabilityEntry("nft", true, ""),
    capabilityEntry("mfc-dump", true, ""),
  ],
};
const support: KernelSupport = (family, table) => missingForTable(caps, family, table);

describe("RouteEngine on a kernel lacking IPv6 and multiple tables", () => {
  let kernel: FakeKernel;
  let opened: string[];
  let engine: RouteEngine;

  beforeEach(() => {
    kernel = new FakeKernel();
    for (let i = 0; i < 4; i++) kernel.addInterface(`eth${i}`, 100 + i);
    opened = [];
    engine = new RouteEngine(
      (family, table) => {
        opened.push(`${family}/${table}`);
        return kernel;
      },
      { kernelSupport: support },
    );
  });

  it("refuses an IPv6 route with FAILED_PRECONDITION naming CONFIG_IPV6_MROUTE, opening nothing", () => {
    const err = thrown(() => engine.add(v6("2001:db8::1", "ff3e::1", "eth0", ["eth1"])));
    expect(err.kind).toBe("failed-precondition");
    expect(err.reason).toBe(KERNEL_OPTION_MISSING);
    expect(err.metadata.option).toBe("CONFIG_IPV6_MROUTE");
    expect(err.message).toContain("CONFIG_IPV6_MROUTE");
    expect(err.message).toContain("ENOPROTOOPT");
    expect(opened).toEqual([]);
    expect(engine.size).toBe(0);
  });

  it("refuses table 7 (IPv4) naming CONFIG_IP_MROUTE_MULTIPLE_TABLES, and IPv6 table 7 naming CONFIG_IPV6_MROUTE", () => {
    const err = thrown(() => engine.add(v4("10.0.0.1", "239.1.1.1", "eth0", ["eth1"], 7)));
    expect(err.kind).toBe("failed-precondition");
    expect(err.metadata.option).toBe("CONFIG_IP_MROUTE_MULTIPLE_TABLES");
    expect(err.message).toContain("CONFIG_IP_MROUTE_MULTIPLE_TABLES");
    expect(thrown(() => engine.add(v6("2001:db8::1", "ff3e::1", "eth0", ["eth1"], 7))).metadata.option).toBe("CONFIG_IPV6_MROUTE");
    expect(thrown(() => engine.ensureTable("ipv4", 7)).kind).toBe("failed-precondition");
    expect(opened).toEqual([]);
  });

  it("refuses an apply that contains such a route, all or nothing", () => {
    const err = thrown(() =>
      engine.apply("cfg", [v4("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]), v4("10.0.0.2", "239.1.1.2", "eth0", ["eth1"], 7)]),
    );
    expect(err.metadata.option).toBe("CONFIG_IP_MROUTE_MULTIPLE_TABLES");
    expect(engine.size).toBe(0);
    expect(kernel.mfc.size).toBe(0);
  });

  it("keeps IPv4 routes of the default table working", () => {
    const view = engine.add(v4("10.0.0.1", "239.1.1.1", "eth0", ["eth1", "eth2"]));
    expect(view.state).toBe("installed");
    expect(kernel.mfc.has("10.0.0.1|239.1.1.1")).toBe(true);
    expect(opened).toEqual(["ipv4/0"]);
    engine.delete(v4("10.0.0.1", "239.1.1.1", "eth0", []));
    expect(kernel.mfc.size).toBe(0);
  });

  it("keeps restored routes needing a missing part PENDING with the reason, in the records, and deletable", () => {
    const records = [
      { spec: v4("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]), owner: "api" },
      { spec: v6("2001:db8::1", "ff3e::1", "eth0", ["eth1"]), owner: "api" },
      { spec: v4("10.0.0.2", "239.1.1.2", "eth0", ["eth1"], 7), owner: "config" },
    ];
    const result = engine.restore(records);
    expect(result).toMatchObject({ installed: 1, pending: 2 });
    expect(engine.unopenable).toEqual([]);
    const views = engine.list().routes;
    expect(views.map((v) => [v.spec.family, v.spec.table, v.state])).toEqual([
      ["ipv4", 0, "installed"],
      ["ipv6", 0, "pending"],
      ["ipv4", 7, "pending"],
    ]);
    expect(views[1]?.reason).toContain("CONFIG_IPV6_MROUTE");
    expect(views[2]?.reason).toContain("CONFIG_IP_MROUTE_MULTIPLE_TABLES");
    expect(engine.records()).toEqual(records);
    // Background passes leave them alone (no kernel call, same reason).
    engine.syncInterfaces();
    engine.checkDrift();
    expect(engine.list().routes[1]?.reason).toContain("CONFIG_IPV6_MROUTE");
    expect(opened).toEqual(["ipv4/0"]);
    expect(engine.vifViews().every((v) => v.family === "ipv4" && v.table === 0)).toBe(true);
    // Re-adding the same route is refused; deleting it works.
    expect(thrown(() => engine.add(records[1]!.spec)).kind).toBe("failed-precondition");
    engine.delete(records[1]!.spec);
    expect(engine.size).toBe(2);
  });

  it("unavailableTable() answers without opening", () => {
    expect(engine.unavailableTable("ipv4", 0)).toBeUndefined();
    expect(engine.unavailableTable("ipv6", 0)?.metadata.option).toBe("CONFIG_IPV6_MROUTE");
    expect(opened).toEqual([]);
  });
});

describe("RouteEngine on a kernel with IPv6 but no IPv4 multicast routing", () => {
  it("refuses IPv4 naming CONFIG_IP_MROUTE and serves IPv6", () => {
    const kernel = new FakeKernel();
    kernel.addInterface("eth0", 10);
    kernel.addInterface("eth1", 11);
    const noV4: KernelSupport = (family) =>
      family === "ipv4" ? { option: "CONFIG_IP_MROUTE", what: "IPv4 multicast routing", detail: "ENOPROTOOPT" } : undefined;
    const engine = new RouteEngine(() => kernel, { kernelSupport: noV4 });
    expect(thrown(() => engine.add(v4("10.0.0.1", "239.1.1.1", "eth0", ["eth1"]))).metadata.option).toBe("CONFIG_IP_MROUTE");
    expect(engine.add(v6("2001:db8::1", "ff3e::1", "eth0", ["eth1"])).state).toBe("installed");
  });
});

// kernel-needs: debian-uml
// mfcd on a kernel that LACKS options, end to end: Debian's packaged user-mode kernel has IPv4
// multicast routing but neither multiple tables, IPv6 multicast routing nor nf_tables' ip family.
// mfcd must serve what works (IPv4 routes forward real traffic) and refuse the rest with
// FAILED_PRECONDITION naming the kernel option; routes restored from the state file that need a
// missing part stay PENDING with that reason and stay in the file. GetInfo lists all of it.
//
// The test runner boots this file in that kernel (scripts/uml/debian-kernel.sh); the first test
// proves the kernel really is such a kernel, so the rest cannot pass vacuously elsewhere.
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { probeKernelCapabilities, type KernelCapabilities } from "../../src/kernel/system/index.js";
import { StateStore } from "../../src/state/state-store.js";
import { RouteState, Status } from "../../src/sdk/index.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { kernelRoute, startMfcd, StopList, tempStatePath, type MfcdProcess } from "../helpers/mfcd-process.js";
import { sendMulticast, startReceiver } from "../helpers/traffic.js";
import { rejection } from "../helpers/rejection.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
const V6 = { family: "ipv6", table: 0, source: "fd00:1::2", group: "ff3e::4321", iif: "in0", oifs: ["out1"], owner: "config" } as const;

let lab: Lab;
let mfcd: MfcdProcess;
let statePath: string;
let caps: KernelCapabilities;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 1 });
  caps = probeKernelCapabilities({ netns: `/run/netns/${lab.router}` });
  // A route that needs IPv6 multicast routing, as an earlier mfcd on a full kernel persisted it.
  statePath = tempStatePath();
  const { store } = StateStore.open(statePath);
  store.put({ ...V6, oifs: [...V6.oifs] });
  await store.flush();
  await store.close();
  mfcd = await startMfcd(lab.router, { stateFile: statePath });
});
afterEach(() => stops.stopAll());
afterAll(async () => {
  await stops.stopAll();
  await mfcd?.stop();
  await lab?.cleanup();
});

const available = (name: string) => caps.capabilities.find((c) => c.name === name)?.available;

describe("mfcd on a kernel with IPv4 multicast routing only (Debian's user-mode-linux)", () => {
  it("the kernel is such a kernel: ipv4 yes; tables, ipv6, ipv6-tables, nft's ip family no", () => {
    expect({
      ipv4: available("ipv4"),
      tables: available("tables"),
      ipv6: available("ipv6"),
      "ipv6-tables": available("ipv6-tables"),
      nft: available("nft"),
    }).toEqual({ ipv4: true, tables: false, ipv6: false, "ipv6-tables": false, nft: false });
  });

  it("an IPv4 route forwards real multicast", async () => {
    const group = "239.10.0.1";
    const source = lab.addrs.source;
    await mfcd.client.addRoute({ route: { source, group, iif: "in0", oifs: ["out1"] } });
    const rcv = stops.add(await startReceiver(lab.receivers[0]!, { group, port: PORT, ifaceAddr: lab.addrs.receivers[0]! }));
    await sendMulticast(lab.source, { group, port: PORT, ttl: 8, ifaceAddr: source, count: 20, size: 64, intervalMs: 5 });
    expect(await rcv.waitForCount(20)).toBe(20);
    expect((await kernelRoute(lab.router, source, group))?.oifs).toBeDefined();
  });

  it("an IPv6 route is FAILED_PRECONDITION naming CONFIG_IPV6_MROUTE", async () => {
    const err = await rejection(mfcd.client.addRoute({ route: { source: "fd00:1::2", group: "ff3e::1", iif: "in0", oifs: ["out1"] } }));
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain("CONFIG_IPV6_MROUTE");
  });

  it("table 7 is FAILED_PRECONDITION naming CONFIG_IP_MROUTE_MULTIPLE_TABLES", async () => {
    const err = await rejection(
      mfcd.client.addRoute({ route: { source: lab.addrs.source, group: "239.10.0.7", iif: "in0", oifs: ["out1"], table: 7 } }),
    );
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain("CONFIG_IP_MROUTE_MULTIPLE_TABLES");
  });

  it("a rescue option is FAILED_PRECONDITION naming nftables and CONFIG_NF_TABLES_IPV4", async () => {
    const err = await rejection(
      mfcd.client.addRoute({ route: { source: lab.addrs.source, group: "239.10.0.8", iif: "in0", oifs: ["out1"], setTtl: 64 } }),
    );
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain("nftables");
    expect(err.details).toContain("CONFIG_NF_TABLES_IPV4");
  });

  it("a restored IPv6 route stays PENDING naming the option, and stays in the state file", async () => {
    const list = await mfcd.client.listRoutes({});
    const v6 = list.routes.find((r) => r.route?.group === V6.group);
    expect(v6?.state).toBe(RouteState.ROUTE_STATE_PENDING);
    expect(v6?.reason).toContain("CONFIG_IPV6_MROUTE");
    await mfcd.client.addRoute({ route: { source: lab.addrs.source, group: "239.10.0.9", iif: "in0", oifs: ["out1"] } });
    expect(fs.readFileSync(statePath, "utf8")).toContain(V6.group);
  });

  it("GetInfo lists every capability with its option, and what is missing", async () => {
    const info = await mfcd.client.getInfo({});
    const byName = Object.fromEntries(info.kernelCapabilities.map((c) => [c.name, c]));
    expect(byName.ipv4).toMatchObject({ available: true, option: "CONFIG_IP_MROUTE" });
    expect(byName.tables).toMatchObject({ available: false, option: "CONFIG_IP_MROUTE_MULTIPLE_TABLES" });
    expect(byName.ipv6).toMatchObject({ available: false, option: "CONFIG_IPV6_MROUTE" });
    expect(byName["ipv6-tables"]).toMatchObject({ available: false, option: "CONFIG_IPV6_MROUTE_MULTIPLE_TABLES" });
    expect(byName.nft).toMatchObject({ available: false, option: "CONFIG_NF_TABLES_IPV4" });
    expect(info.ownedTables).toEqual([{ family: "ipv4", table: 0 }]);
  });
});

// kernel-needs: ipv4 tables ipv6 ipv6-tables
// --mrule: mfcd owns the table traffic is steered to and installs / removes the ip mrule itself.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMrule, delMrule } from "../../src/kernel/netlink/index.js";
import { addNetns, delNetns, ip, uniqueName } from "../helpers/netns.js";
import { startMfcd } from "../helpers/mfcd-process.js";

async function mrules(ns: string, v6 = false): Promise<string> {
  return ip([...(v6 ? ["-6"] : []), "mrule", "show"], ns);
}

describe("multicast routing rules", () => {
  let ns: string;
  beforeAll(async () => {
    ns = uniqueName("mrule");
    await addNetns(ns);
    await ip(["link", "add", "st0", "type", "veth", "peer", "name", "st1"], ns);
  });
  afterAll(async () => {
    await delNetns(ns);
  });

  it("addMrule/delMrule are ip mrule add/del (idempotent), for IPv4 and IPv6", async () => {
    const file = `/run/netns/${ns}`;
    addMrule({ family: "ipv4", iif: "st0", table: 7 }, file);
    addMrule({ family: "ipv4", iif: "st0", table: 7 }, file);
    addMrule({ family: "ipv6", iif: "st1", table: 9 }, file);
    expect(await mrules(ns)).toMatch(/iif st0 lookup 7/);
    expect((await mrules(ns)).match(/iif st0 lookup 7/g)).toHaveLength(1);
    expect(await mrules(ns, true)).toMatch(/iif st1 lookup 9/);
    delMrule({ family: "ipv4", iif: "st0", table: 7 }, file);
    delMrule({ family: "ipv4", iif: "st0", table: 7 }, file);
    delMrule({ family: "ipv6", iif: "st1", table: 9 }, file);
    expect(await mrules(ns)).not.toMatch(/lookup 7/);
    expect(await mrules(ns, true)).not.toMatch(/lookup 9/);
  });

  it("mfcd --mrule installs the rule, owns the table, and removes the rule on SIGTERM", async () => {
    const mfcd = await startMfcd(ns, { args: ["--mrule", "st0=11", "--mrule", "6:st1=12"] });
    try {
      expect(await mrules(ns)).toMatch(/iif st0 lookup 11/);
      expect(await mrules(ns, true)).toMatch(/iif st1 lookup 12/);
      // The table is mfcd's: a route in it is accepted and installed (its VIFs are table 11's).
      const res = await mfcd.client.addRoute({
        route: { source: "10.0.0.1", group: "239.9.9.9", iif: "st0", oifs: ["st1"], table: 11 },
      });
      expect(res.route?.route?.table).toBe(11);
    } finally {
      const status = await mfcd.stop("SIGTERM");
      expect(status.code).toBe(0);
    }
    expect(await mrules(ns)).not.toMatch(/lookup 11/);
    expect(await mrules(ns, true)).not.toMatch(/lookup 12/);
  });

  it("a bad --mrule exits 2 explaining the format", async () => {
    const { spawnMfcd } = await import("../helpers/mfcd-process.js");
    const spawned = spawnMfcd(ns, { args: ["--mrule", "st0=253"] });
    const status = await spawned.exitWithin(20_000);
    expect(status.code).toBe(2);
    expect(spawned.stderr()).toContain("IIF=TABLE");
  });
});

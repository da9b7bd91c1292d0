// kernel-needs: ipv4
// Diagnose with the VIF table full: a route waiting for its interface cannot be installed when
// the interface appears, because all 32 VIFs are taken — Diagnose names both facts, nothing else.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Severity } from "../../src/gen/mfc.js";
import { addNetns, delNetns, ipBatch, uniqueName } from "../helpers/netns.js";
import { startMfcd, type MfcdProcess } from "../helpers/mfcd-process.js";
import { waitFor } from "../helpers/traffic.js";

describe("Diagnose: VIF table full", () => {
  let ns: string;
  let mfcd: MfcdProcess;
  beforeAll(async () => {
    ns = uniqueName("viffull");
    await addNetns(ns);
    const lines: string[] = [];
    for (let i = 0; i < 32; i++) lines.push(`link add v${i} type veth peer name p${i}`, `link set v${i} up`, `link set p${i} up`);
    await ipBatch(lines, ns);
    mfcd = await startMfcd(ns);
  });
  afterAll(async () => {
    await mfcd?.stop();
    await delNetns(ns);
  });

  it("reports ROUTE_PENDING and VIF_TABLE_FULL for a route that cannot get a VIF", async () => {
    const oifs = Array.from({ length: 31 }, (_, i) => `v${i + 1}`);
    await mfcd.client.addRoute({ route: { source: "10.0.0.1", group: "239.8.8.1", iif: "v0", oifs } });
    const pending = await mfcd.client.addRoute({
      route: { source: "10.0.0.2", group: "239.8.8.2", iif: "late0", oifs: ["v1"] },
    });
    expect(pending.route?.reason).toContain("late0");
    await ipBatch(["link add late0 type veth peer name latep", "link set late0 up", "link set latep up"], ns);
    await waitFor(
      async () => {
        const list = await mfcd.client.listRoutes({});
        const r = list.routes.find((x) => x.route?.group === "239.8.8.2");
        return r?.reason.includes("VIF table full") ? r : undefined;
      },
      { timeoutMs: 15_000 },
    );
    const res = await mfcd.client.diagnose({ source: "10.0.0.2", group: "239.8.8.2", windowMs: 200 });
    const serious = res.findings.filter((f) => f.severity !== Severity.SEVERITY_INFO).map((f) => f.code);
    expect(serious.sort()).toEqual(["ROUTE_PENDING", "VIF_TABLE_FULL"]);
    expect(res.findings.find((f) => f.code === "VIF_TABLE_FULL")?.explanation).toContain("32");
  });
});

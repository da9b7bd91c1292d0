// kernel-needs: ipv4 tables
// Diagnose names another multicast router owning the flow's table (MRT_INIT EADDRINUSE),
// and only then; a Diagnose never claims a table itself.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MrouteSocket } from "../../src/kernel/mroute/index.js";
import { addNetns, delNetns, ip, uniqueName } from "../helpers/netns.js";
import { startMfcd, type MfcdProcess } from "../helpers/mfcd-process.js";

describe("Diagnose: table owned by another multicast router", () => {
  let ns: string;
  let mfcd: MfcdProcess;
  beforeAll(async () => {
    ns = uniqueName("owner");
    await addNetns(ns);
    await ip(["link", "add", "ow0", "type", "veth", "peer", "name", "ow1"], ns);
    mfcd = await startMfcd(ns);
  });
  afterAll(async () => {
    await mfcd?.stop();
    await delNetns(ns);
  });

  it("reports TABLE_OWNED_BY_OTHER while another socket holds MRT_INIT on the table, nothing else", async () => {
    const other = MrouteSocket.open({ netns: `/run/netns/${ns}`, table: 7 });
    try {
      const res = await mfcd.client.diagnose({ source: "10.0.0.1", group: "239.7.7.7", table: 7, windowMs: 200 });
      expect(res.findings.map((f) => f.code)).toEqual(["TABLE_OWNED_BY_OTHER"]);
      expect(res.findings[0]?.explanation).toContain("table 7");
      expect(res.text).toContain("smcroute");
    } finally {
      other.close();
    }
    // Once the other router is gone the finding disappears.
    const res = await mfcd.client.diagnose({ source: "10.0.0.1", group: "239.7.7.7", table: 7, windowMs: 200 });
    expect(res.findings.map((f) => f.code)).not.toContain("TABLE_OWNED_BY_OTHER");
    // A query never claims a table: another router can take table 7 after mfcd diagnosed it
    // (before issue 11, Diagnose opened the table and held it: EADDRINUSE here).
    MrouteSocket.open({ netns: `/run/netns/${ns}`, table: 7 }).close();
  });

  it("the default table by its kernel id (253) is mfcd's own, not another router's", async () => {
    const res = await mfcd.client.diagnose({ source: "10.0.0.1", group: "239.7.7.7", table: 253, windowMs: 200 });
    expect(res.findings.map((f) => f.code)).not.toContain("TABLE_OWNED_BY_OTHER");
  });
});

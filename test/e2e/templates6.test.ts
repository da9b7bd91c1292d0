// IPv6 templates: (*,G) and source/group prefixes learn concrete (S,G) entries from MRT6
// NOCACHE upcalls, like IPv4.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseIp6MrCache } from "../../src/kernel/proc-mroute6.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { startMfcd, StopList, type MfcdProcess } from "../helpers/mfcd-process.js";
import { execIn } from "../helpers/netns.js";
import { waitFor } from "../helpers/traffic.js";
import { addIpv6, sendMulticast6, startReceiver6, type Lab6Addrs } from "../helpers/traffic6.js";

const PORT = 5000;
let lab: Lab;
let lab6: Lab6Addrs;
let mfcd: MfcdProcess;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 1 });
  lab6 = await addIpv6(lab);
  mfcd = await startMfcd(lab.router);
});
afterAll(async () => {
  await stops.stopAll();
  await mfcd?.stop();
  await lab?.cleanup();
});

const kx = () => lab.k.toString(16);
const send = (group: string, count: number, firstSeq = 0) =>
  sendMulticast6(lab.source, { group, port: PORT, hops: 8, source: lab6.source, iface: lab.sourceIface, count, firstSeq, intervalMs: 5 });
async function cache6() {
  return parseIp6MrCache(await execIn(lab.router, ["cat", "/proc/net/ip6_mr_cache"])).filter((e) => !e.unresolved);
}

describe("IPv6 templates", () => {
  it("(*,G) learns the concrete (S,G) from the first packets; a group outside a prefix template gets a stop filter", async () => {
    const G = `ff3e::${kx()}:71`;
    await mfcd.client.addRoute({ route: { source: "", group: G, iif: "in0", oifs: ["out1"] } });
    const templates = (await mfcd.client.listRoutes({})).routes.filter((r) => r.route?.source === "");
    expect(templates.map((r) => r.route?.group)).toEqual([G]);
    expect(await cache6()).toEqual([]); // a template writes no kernel entry by itself

    const rcv = stops.add(await startReceiver6(lab.receivers[0]!, { group: G, port: PORT, iface: lab.receiverIface }));
    await send(G, 20);
    await rcv.waitForCount(19);
    const got = await rcv.stop();
    // At most one of the first packets may be lost while the entry is learned.
    expect(got.count).toBeGreaterThanOrEqual(19);
    const learned = await waitFor(async () =>
      (await mfcd.client.listRoutes({})).routes.find((r) => r.learned && r.route?.group === G),
    );
    expect(learned?.route?.source).toBe(lab6.source);
    expect(learned?.template).toContain(G);
    expect((await cache6()).map((e) => [e.source, e.group])).toEqual([[lab6.source, G]]);

    // A prefix template for another group range: the source's traffic to a group outside it
    // is stopped (stop filter, counted), inside it forwarded.
    const P = `ff3e::${kx()}:100/120`;
    await mfcd.client.addRoute({ route: { source: `${lab6.source}/64`, group: P, iif: "in0", oifs: ["out1"] } });
    const outside = `ff3e::${kx()}:200`;
    await send(outside, 5, 100);
    const stop = await waitFor(async () =>
      (await mfcd.client.listRoutes({})).routes.find((r) => r.stopFilter && r.route?.group === outside),
    );
    expect(stop?.route?.oifs).toEqual([]);
    const inside = `ff3e::${kx()}:1a5`;
    const rcv2 = stops.add(await startReceiver6(lab.receivers[0]!, { group: inside, port: PORT, iface: lab.receiverIface }));
    await send(inside, 10, 200);
    await rcv2.waitForCount(9);
    const l2 = await waitFor(async () =>
      (await mfcd.client.listRoutes({})).routes.find((r) => r.learned && r.route?.group === inside),
    );
    expect(l2?.template).toContain("/120");
  });

  it("IPv6 template validation: link-local group prefixes are refused; DelRoute needs the iif", async () => {
    await expect(
      mfcd.client.addRoute({ route: { source: "", group: "ff02::/16", iif: "in0", oifs: ["out1"] } }),
    ).rejects.toMatchObject({ code: 3 });
    await expect(mfcd.client.delRoute({ source: "", group: `ff3e::${kx()}:71` })).rejects.toMatchObject({ code: 3 });
    await mfcd.client.delRoute({ source: "", group: `ff3e::${kx()}:71`, iif: "in0" });
    expect((await mfcd.client.listRoutes({})).routes.some((r) => r.route?.group === `ff3e::${kx()}:71` && r.learned)).toBe(false);
  });
});

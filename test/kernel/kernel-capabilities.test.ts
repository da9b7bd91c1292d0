// kernel-needs: ipv4 tables ipv6 ipv6-tables nft
// probeKernelCapabilities() against a real kernel that has every option (the host's where it has
// them, the user-mode guest otherwise): every capability is available with no detail, and the
// probe takes nothing — the namespace's tables stay free for the next owner (MRT_INIT works).
// The kernel lacking options is covered by test/e2e/partial-kernel.test.ts (Debian's user-mode
// kernel) and test/e2e/no-mroute-kernel.test.ts (a host without multicast routing).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeKernelCapabilities } from "../../src/kernel/system/index.js";
import { MrouteSocket, Mroute6Socket } from "../../src/kernel/mroute/index.js";
import { addNetns, delNetns, uniqueName } from "../helpers/netns.js";

let ns: string;
beforeAll(async () => {
  ns = uniqueName("caps");
  await addNetns(ns);
});
afterAll(async () => {
  if (ns) await delNetns(ns);
});

describe("probeKernelCapabilities on a kernel with every option", () => {
  it("reports each capability available, with its option and no detail", () => {
    const caps = probeKernelCapabilities({ netns: `/run/netns/${ns}` });
    expect(caps.capabilities.map((c) => [c.name, c.available, c.detail])).toEqual([
      ["ipv4", true, ""],
      ["tables", true, ""],
      ["ipv6", true, ""],
      ["ipv6-tables", true, ""],
      ["nft", true, ""],
      ["mfc-dump", true, ""],
    ]);
    for (const c of caps.capabilities) expect(c.option).toMatch(/^CONFIG_/);
  });

  it("takes no table: afterwards MRT_INIT/MRT6_INIT on the default and on table 7 succeed", () => {
    probeKernelCapabilities({ netns: `/run/netns/${ns}` });
    const opened = [
      MrouteSocket.open({ netns: `/run/netns/${ns}` }),
      MrouteSocket.open({ netns: `/run/netns/${ns}`, table: 7 }),
      Mroute6Socket.open({ netns: `/run/netns/${ns}` }),
      Mroute6Socket.open({ netns: `/run/netns/${ns}`, table: 7 }),
    ];
    for (const s of opened) s.close();
    expect(opened).toHaveLength(4);
  });
});

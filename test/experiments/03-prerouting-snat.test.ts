// kernel-needs: ipv4 nft
// Experiment 3: `snat` in a nat prerouting chain is refused at load time, for a multicast and a
// unicast destination alike — it is a hook restriction, not a multicast one. The same rule in
// postrouting (and input) loads. Only nft rulesets in a fresh namespace; no traffic, no mfcd.
import { describe, expect, it } from "vitest";
import { addNetns, delNetns, uniqueName } from "../helpers/netns.js";
import { conclude, ipTables, nftCmd, nftTry } from "./kit.js";

if (process.getuid?.() !== 0) throw new Error("test/experiments needs root (network namespaces, nft)");

const natRule = (table: string, hook: string, daddr: string, priority: number) =>
  `table ip ${table} {
  chain c {
    type nat hook ${hook} priority ${priority}; policy accept;
    ip daddr ${daddr} snat to 10.0.0.1
  }
}
`;

const REFUSED = "Operation not supported";

describe("experiment 3: snat in prerouting", () => {
  it("is refused with 'Operation not supported' for multicast and unicast; postrouting and input snat load", async () => {
    const ns = uniqueName("nat");
    await addNetns(ns);
    try {
      const preMcast = await nftTry(ns, natRule("pre_mcast", "prerouting", "239.1.1.1", -100));
      const preUcast = await nftTry(ns, natRule("pre_ucast", "prerouting", "10.0.0.9", -100));
      const post = await nftTry(ns, natRule("post_mcast", "postrouting", "239.1.1.1", 100));
      const input = await nftTry(ns, natRule("in_mcast", "input", "239.1.1.1", 100));

      const firstError = (a: typeof preMcast) =>
        a.ok ? "(loaded)" : (/Error: .*/.exec(a.stderr)?.[0].trim() ?? a.stderr.trim());
      expect(preMcast.ok).toBe(false);
      expect(preUcast.ok).toBe(false);
      expect(firstError(preMcast)).toContain(REFUSED);
      expect(firstError(preUcast)).toContain(REFUSED);
      // nft points at the snat statement.
      expect(preMcast.ok ? "" : preMcast.stderr).toMatch(/snat to 10\.0\.0\.1\n\s*\^+/);
      expect(post).toEqual({ ok: true });
      expect(input).toEqual({ ok: true });

      // The refused scripts left nothing behind (a script is one transaction).
      expect((await ipTables(ns)).sort()).toEqual(["in_mcast", "post_mcast"]);
      expect(await nftCmd(ns, ["list", "chain", "ip", "post_mcast", "c"])).toContain("ip daddr 239.1.1.1 snat to 10.0.0.1");

      conclude(
        `nat prerouting 'ip daddr 239.1.1.1 snat to 10.0.0.1' → "${firstError(preMcast)}"; ` +
          `same with unicast daddr 10.0.0.9 → "${firstError(preUcast)}"; ` +
          `postrouting snat: loaded; input snat: loaded`,
      );
    } finally {
      await delNetns(ns);
    }
  });
});

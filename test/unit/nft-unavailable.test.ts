// kernel-needs: none
// "Needs nftables" refusals: the Debian package always, the kernel option when the kernel (not a
// missing nft) is the cause — also through RescueSync.check for rescue options.
import { describe, expect, it } from "vitest";
import { RouteEngine } from "../../src/engine/route-engine.js";
import { createLogger } from "../../src/server/config/index.js";
import { NFT_UNAVAILABLE, nftUnavailable } from "../../src/server/nft/nft-unavailable.js";
import { RescueSync } from "../../src/server/nft/index.js";
import { nftProbeResult, NftError } from "../../src/kernel/nft/index.js";
import { FakeKernel } from "./fake-kernel.js";

describe("nftUnavailable", () => {
  it("nft missing: names the package only", () => {
    const err = nftUnavailable("Trace needs nftables", 'nft not found in PATH (/usr/bin); install the Debian package "nftables"');
    expect(err.kind).toBe("failed-precondition");
    expect(err.reason).toBe(NFT_UNAVAILABLE);
    expect(err.message).toContain('"nftables"');
    expect(err.metadata).toEqual({ package: "nftables" });
    // nft-detect's reason already says how to install it: the message says it once.
    expect(err.message.split('install the Debian package "nftables"')).toHaveLength(2);
  });

  it("kernel without nf_tables' ip family: names the package and CONFIG_NF_TABLES_IPV4", () => {
    const why = nftProbeResult(new NftError(["-c"], "Error: Could not process rule: Operation not supported", 1)).detail;
    const err = nftUnavailable("Trace needs nftables", why);
    expect(err.message).toContain("CONFIG_NF_TABLES_IPV4");
    expect(err.message).toContain('"nftables"');
    expect(err.metadata).toEqual({ package: "nftables", option: "CONFIG_NF_TABLES_IPV4" });
  });

  it("RescueSync.check refuses rescue options with nft's reason", () => {
    const kernel = new FakeKernel();
    const engine = new RouteEngine(() => kernel);
    const why = "nft: Error: Could not process rule: Operation not supported (the kernel lacks nf_tables' ip family: CONFIG_NF_TABLES_IPV4)";
    const rescue = new RescueSync(engine, undefined, why, createLogger("silent"));
    const spec = { family: "ipv4" as const, table: 0, source: "10.0.0.1", group: "239.1.1.1", iif: "eth0", oifs: ["eth1"] };
    expect(() => rescue.check([spec])).not.toThrow();
    try {
      rescue.check([{ ...spec, setTtl: 64 }]);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain("CONFIG_NF_TABLES_IPV4");
      expect((err as Error).message).toContain("nftables");
    }
  });
});

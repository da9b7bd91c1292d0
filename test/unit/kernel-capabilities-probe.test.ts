// probeKernelCapabilities() against this host's real kernel: whatever it has, the probe never
// throws and every capability is either available or says why not with an errno. On a kernel
// without multicast routing (CONFIG_IP_MROUTE/CONFIG_IPV6_MROUTE off) both families must come out
// unavailable with ENOPROTOOPT — checked against /proc's absence only as a cross-check here.
import fs from "node:fs";
import os from "node:os";
import { describe, expect, it } from "vitest";
import { probeKernelCapabilities } from "../../src/kernel/system/index.js";

describe("probeKernelCapabilities on this host", () => {
  const caps = probeKernelCapabilities({ nft: false });

  it("answers every capability without throwing, with the kernel release", () => {
    expect(caps.release).toBe(os.release());
    expect(caps.capabilities.map((c) => c.name)).toEqual(["ipv4", "tables", "ipv6", "ipv6-tables", "nft", "mfc-dump"]);
    for (const c of caps.capabilities) {
      expect(c.option).toMatch(/^CONFIG_/);
      expect(c.detail === "").toBe(c.available);
    }
  });

  it("an unavailable family says why with the syscall's errno", () => {
    for (const c of caps.capabilities.filter((x) => (x.name === "ipv4" || x.name === "ipv6") && !x.available)) {
      expect(c.detail).toMatch(/(ENOPROTOOPT|EPERM|EACCES|EAFNOSUPPORT)/);
    }
  });

  it.skipIf(process.getuid?.() !== 0 || fs.existsSync("/proc/net/ip_mr_vif"))(
    "without /proc/net/ip_mr_vif (no CONFIG_IP_MROUTE) ipv4 is unavailable with ENOPROTOOPT",
    () => {
      const ipv4 = caps.capabilities.find((c) => c.name === "ipv4");
      expect(ipv4?.available).toBe(false);
      expect(ipv4?.detail).toContain("ENOPROTOOPT");
      expect(ipv4?.detail).toContain("CONFIG_IP_MROUTE");
    },
  );

  it.skipIf(process.getuid?.() !== 0 || fs.existsSync("/proc/net/ip6_mr_vif") || !fs.existsSync("/proc/net/if_inet6"))(
    "without /proc/net/ip6_mr_vif (no CONFIG_IPV6_MROUTE) ipv6 is unavailable with ENOPROTOOPT",
    () => {
      const ipv6 = caps.capabilities.find((c) => c.name === "ipv6");
      expect(ipv6?.available).toBe(false);
      expect(ipv6?.detail).toContain("ENOPROTOOPT");
    },
  );

  it("with nft probed, a host without nft says which package to install", () => {
    const withNft = probeKernelCapabilities();
    const nft = withNft.capabilities.find((c) => c.name === "nft");
    if (nft?.available === false) expect(nft.detail).toMatch(/nftables|nft:/);
  });
});

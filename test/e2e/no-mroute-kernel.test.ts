// kernel-needs: none
// End-to-end: mfcd on a kernel without any multicast routing (CONFIG_IP_MROUTE and
// CONFIG_IPV6_MROUTE both off — WSL2, gVisor, some microVM/sandbox kernels). The bin must not
// fail with a bare errno from MRT_INIT or /proc: it exits 1 before taking anything, with one
// message naming both options, how to check them and where they are usually missing. Only
// meaningful where the kernel lacks both: elsewhere it skips (the probe decides, from errnos).
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeKernelCapabilities } from "../../src/kernel/system/index.js";
import { spawnMfcd, StopList } from "../helpers/mfcd-process.js";
import { addNetns, delNetns, uniqueName } from "../helpers/netns.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces)");

const caps = probeKernelCapabilities({ nft: false });
const routable = caps.capabilities.some((c) => (c.name === "ipv4" || c.name === "ipv6") && c.available);

describe.skipIf(routable)("mfcd on a kernel without multicast routing (skipped: this kernel has IPv4 or IPv6 multicast routing)", () => {
  let ns: string;
  const stops = new StopList();

  beforeAll(async () => {
    ns = uniqueName("nomroute");
    await addNetns(ns);
  });
  afterAll(async () => {
    await stops.stopAll();
    await delNetns(ns);
  });

  it("exits 1 with one message naming CONFIG_IP_MROUTE and CONFIG_IPV6_MROUTE, how to check, and where", async () => {
    const mfcd = stops.add(spawnMfcd(ns));
    const status = await mfcd.exitWithin();
    const stderr = mfcd.stderr();
    expect(status.code, stderr).toBe(1);
    expect(stderr).toContain("mfcd: cannot start: ");
    for (const part of [
      "CONFIG_IP_MROUTE",
      "CONFIG_IPV6_MROUTE",
      "ENOPROTOOPT",
      "zcat /proc/config.gz | grep MROUTE",
      "grep MROUTE /boot/config-$(uname -r)",
      "WSL2",
      "gVisor",
      "LinuxKit",
    ]) {
      expect(stderr).toContain(part);
    }
    // Not the old bare failure from opening /proc/thread-self/net/ip_mr_vif.
    expect(stderr).not.toContain("ip_mr_vif");
    // One message: a single line, not a stack.
    expect(stderr.trim().split("\n")).toHaveLength(1);
    // Nothing was listened on, nothing left behind.
    expect(fs.existsSync(mfcd.socketPath)).toBe(false);
  });
});

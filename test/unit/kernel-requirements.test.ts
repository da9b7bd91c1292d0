// kernel-needs: none
// The pure side of the kernel probe: errno → reason text, which capabilities a table needs, and
// the fatal start message when no multicast routing is usable. Runs on any host.
import { describe, expect, it } from "vitest";
import {
  type KernelCapabilities,
  type KernelCapabilityName,
  capability,
  hasCapability,
  withNftCapability,
} from "../../src/kernel/system/index.js";
import {
  CAPABILITY_NAMES,
  capabilitiesForTable,
  capabilityEntry,
  missingForTable,
  noRoutingMessage,
  optionForSyscall,
  probeFailureDetail,
} from "../../src/kernel/requirements/index.js";
import { NftError, nftIpFamilyProbeArgs, nftProbeResult } from "../../src/kernel/nft/index.js";

function caps(missing: Partial<Record<KernelCapabilityName, string>>, release = "6.18.0-test"): KernelCapabilities {
  return {
    release,
    capabilities: CAPABILITY_NAMES.map((n) => capabilityEntry(n, missing[n] === undefined, missing[n] ?? "")),
  };
}
const enoprotoopt = (syscall: string, option: string) => probeFailureDetail(syscall, "ENOPROTOOPT", option);

describe("probeFailureDetail: errno → why a capability is unavailable", () => {
  it("ENOPROTOOPT names the missing option", () => {
    expect(enoprotoopt("getsockopt(IPPROTO_IP, MRT_VERSION)", "CONFIG_IP_MROUTE")).toBe(
      "getsockopt(IPPROTO_IP, MRT_VERSION): ENOPROTOOPT (the kernel was built without CONFIG_IP_MROUTE)",
    );
  });

  it("EPERM/EACCES name the missing Linux capability, not the option", () => {
    const raw = probeFailureDetail("socket(AF_INET, SOCK_RAW, IPPROTO_IGMP)", "EPERM", "CONFIG_IP_MROUTE");
    expect(raw).toContain("CAP_NET_RAW");
    expect(raw).not.toContain("built without");
    const admin = probeFailureDetail("setsockopt(IPPROTO_IP, MRT_TABLE, 253)", "EACCES", "CONFIG_IP_MROUTE_MULTIPLE_TABLES");
    expect(admin).toContain("CAP_NET_ADMIN");
  });

  it("EAFNOSUPPORT means no IPv6 at all; other errnos are reported as they are", () => {
    expect(probeFailureDetail("socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)", "EAFNOSUPPORT", "CONFIG_IPV6_MROUTE")).toContain("ipv6.disable=1");
    expect(probeFailureDetail("getsockopt(X)", "ENOENT", "CONFIG_X")).toBe("getsockopt(X): ENOENT");
  });

  it("optionForSyscall reads the option off the failed call", () => {
    expect(optionForSyscall("setsockopt(MRT_INIT)")).toBe("CONFIG_IP_MROUTE");
    expect(optionForSyscall("setsockopt(MRT_TABLE)")).toBe("CONFIG_IP_MROUTE_MULTIPLE_TABLES");
    expect(optionForSyscall("setsockopt(MRT6_ADD_MIF)")).toBe("CONFIG_IPV6_MROUTE");
    expect(optionForSyscall("setsockopt(MRT6_TABLE)")).toBe("CONFIG_IPV6_MROUTE_MULTIPLE_TABLES");
    expect(optionForSyscall("socket")).toBeUndefined();
  });
});

describe("capabilities a table needs", () => {
  it("default tables need their family, others also the family's multiple tables", () => {
    expect(capabilitiesForTable("ipv4", 0)).toEqual(["ipv4"]);
    expect(capabilitiesForTable("ipv4", 7)).toEqual(["ipv4", "tables"]);
    expect(capabilitiesForTable("ipv6", 0)).toEqual(["ipv6"]);
    expect(capabilitiesForTable("ipv6", 7)).toEqual(["ipv6", "ipv6-tables"]);
  });

  it("missingForTable names the first missing part", () => {
    const linuxKit = caps({ ipv6: "ENOPROTOOPT", "ipv6-tables": "ENOPROTOOPT" });
    expect(missingForTable(linuxKit, "ipv4", 7)).toBeUndefined();
    expect(missingForTable(linuxKit, "ipv6", 0)?.option).toBe("CONFIG_IPV6_MROUTE");
    expect(missingForTable(linuxKit, "ipv6", 7)?.option).toBe("CONFIG_IPV6_MROUTE");
    const uml = caps({ tables: "ENOPROTOOPT" });
    expect(missingForTable(uml, "ipv4", 0)).toBeUndefined();
    expect(missingForTable(uml, "ipv4", 7)?.option).toBe("CONFIG_IP_MROUTE_MULTIPLE_TABLES");
  });

  it("capability()/hasCapability() and withNftCapability()", () => {
    const c = caps({ nft: "not probed" });
    expect(hasCapability(c, "ipv4")).toBe(true);
    expect(capability(c, "nft")).toMatchObject({ option: "CONFIG_NF_TABLES_IPV4", available: false });
    const after = withNftCapability(c, true, "");
    expect(hasCapability(after, "nft")).toBe(true);
    expect(hasCapability(c, "nft")).toBe(false);
  });
});

describe("noRoutingMessage: the fatal start message", () => {
  it("is undefined while IPv4 or IPv6 multicast routing is usable", () => {
    expect(noRoutingMessage(caps({}))).toBeUndefined();
    expect(noRoutingMessage(caps({ ipv6: "x", "ipv6-tables": "x", tables: "x" }))).toBeUndefined();
    expect(noRoutingMessage(caps({ ipv4: "x", tables: "x", "mfc-dump": "x" }))).toBeUndefined();
  });

  it("without both names both options, how to check, and where they are usually missing", () => {
    const msg = noRoutingMessage(
      caps({
        ipv4: enoprotoopt("getsockopt(IPPROTO_IP, MRT_VERSION)", "CONFIG_IP_MROUTE"),
        ipv6: enoprotoopt("getsockopt(IPPROTO_IPV6, MRT6_VERSION)", "CONFIG_IPV6_MROUTE"),
        tables: "x",
        "ipv6-tables": "x",
        "mfc-dump": "x",
      }),
    );
    expect(msg).toBeDefined();
    for (const part of [
      "CONFIG_IP_MROUTE",
      "CONFIG_IPV6_MROUTE",
      "ENOPROTOOPT",
      "zcat /proc/config.gz | grep MROUTE",
      "grep MROUTE /boot/config-$(uname -r)",
      "WSL2",
      "gVisor",
      "microVM",
      "LinuxKit",
      "6.18.0-test",
    ]) {
      expect(msg).toContain(part);
    }
  });

  it("a refused probe (EPERM) names the Linux capability instead of kernel options", () => {
    const msg = noRoutingMessage(
      caps({
        ipv4: probeFailureDetail("socket(AF_INET, SOCK_RAW, IPPROTO_IGMP)", "EPERM", "CONFIG_IP_MROUTE"),
        ipv6: probeFailureDetail("socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)", "EPERM", "CONFIG_IPV6_MROUTE"),
      }),
    );
    expect(msg).toContain("CAP_NET_RAW");
    expect(msg).not.toContain("built without CONFIG");
  });
});

describe("nft's ip family probe", () => {
  it("runs nft in check mode with a fresh table name", () => {
    const a = nftIpFamilyProbeArgs();
    const b = nftIpFamilyProbeArgs();
    expect(a.slice(0, 4)).toEqual(["-c", "add", "table", "ip"]);
    expect(a[4]).not.toBe(b[4]);
  });

  it("maps nft's answers", () => {
    expect(nftProbeResult(undefined)).toEqual({ available: true, detail: "" });
    const missing = nftProbeResult(new NftError(["-c"], 'cannot run nft (ENOENT); install the Debian package "nftables"', null, true));
    expect(missing.available).toBe(false);
    expect(missing.detail).toContain("nftables");
    const kernel = nftProbeResult(new NftError(["-c"], "Error: Could not process rule: Operation not supported", 1));
    expect(kernel.detail).toContain("CONFIG_NF_TABLES_IPV4");
    const perm = nftProbeResult(new NftError(["-c"], "Error: Could not process rule: Operation not permitted", 1));
    expect(perm.detail).toContain("CAP_NET_ADMIN");
    expect(perm.detail).not.toContain("CONFIG_");
  });
});

import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { daemonInfoSource, mfcdVersion, type DaemonInfoSource } from "../../src/server/config/daemon-info.js";
import { getInfoReply } from "../../src/server/rpc/get-info.js";

const source = (over: Partial<DaemonInfoSource> = {}): DaemonInfoSource => ({
  version: "9.8.7",
  kernel: {
    release: "6.12.0-test",
    capabilities: [
      { name: "ipv4", option: "CONFIG_IP_MROUTE", what: "IPv4 multicast routing", available: true, detail: "MRT_INIT ok" },
      { name: "ipv6-tables", option: "CONFIG_IPV6_MROUTE_MULTIPLE_TABLES", what: "several IPv6 tables", available: false, detail: "ENOPROTOOPT" },
    ],
  },
  ownedTables: () => [],
  startedAt: new Date("2026-12-07T10:00:00.250Z"),
  ...over,
});

describe("getInfoReply", () => {
  it("carries version, kernel release and every capability (what → description)", () => {
    const reply = getInfoReply(source());
    expect(reply.version).toBe("9.8.7");
    expect(reply.kernelRelease).toBe("6.12.0-test");
    expect(reply.kernelCapabilities).toEqual([
      { name: "ipv4", option: "CONFIG_IP_MROUTE", description: "IPv4 multicast routing", available: true, detail: "MRT_INIT ok" },
      {
        name: "ipv6-tables",
        option: "CONFIG_IPV6_MROUTE_MULTIPLE_TABLES",
        description: "several IPv6 tables",
        available: false,
        detail: "ENOPROTOOPT",
      },
    ]);
  });

  it("lists owned tables once each, IPv4 first, by table id, read at every call", () => {
    const owned: { family: "ipv4" | "ipv6"; table: number }[] = [{ family: "ipv4", table: 0 }];
    const info = source({ ownedTables: () => owned });
    expect(getInfoReply(info).ownedTables).toEqual([{ family: "ipv4", table: 0 }]);
    owned.push({ family: "ipv6", table: 0 }, { family: "ipv4", table: 7 }, { family: "ipv4", table: 7 }, { family: "ipv4", table: 3 });
    expect(getInfoReply(info).ownedTables).toEqual([
      { family: "ipv4", table: 0 },
      { family: "ipv4", table: 3 },
      { family: "ipv4", table: 7 },
      { family: "ipv6", table: 0 },
    ]);
  });

  it("start time as a Timestamp; state file, or empty without one", () => {
    const reply = getInfoReply(source({ stateFile: "/var/lib/mfcd/host.state" }));
    expect(reply.startTime).toEqual({ seconds: BigInt(Date.parse("2026-12-07T10:00:00Z") / 1000), nanos: 250_000_000 });
    expect(reply.stateFile).toBe("/var/lib/mfcd/host.state");
    expect(getInfoReply(source()).stateFile).toBe("");
    expect(getInfoReply(source({ stateFile: undefined })).stateFile).toBe("");
  });
});

// The probe module (src/kernel/system/kernel-capabilities.ts, another branch) declares this shape; its
// object must fit DaemonInfoSource.kernel as is (checked by the compiler).
type KernelCapabilityName = "ipv4" | "tables" | "ipv6" | "ipv6-tables" | "nft" | "mfc-dump";
interface ProbedCapability { name: KernelCapabilityName; option: string; what: string; available: boolean; detail: string }
interface ProbedCapabilities { release: string; capabilities: ProbedCapability[] }

describe("daemonInfoSource", () => {
  it("accepts the kernel capability probe's result as it is", () => {
    const probed: ProbedCapabilities = {
      release: "6.1.0",
      capabilities: [{ name: "nft", option: "CONFIG_NF_TABLES", what: "rescue options, Trace", available: true, detail: "" }],
    };
    const info = daemonInfoSource({ kernel: probed, sockets: [], stateFile: "/s" });
    expect(getInfoReply(info).kernelCapabilities[0]?.name).toBe("nft");
  });

  it("reads the version from package.json", () => {
    const pkg = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(mfcdVersion()).toBe(pkg.version);
  });

  it("owned tables are the sockets' (family, table), as the list grows; start time is the process's", () => {
    const sockets: { close(): void; family: "ipv4" | "ipv6"; table: number }[] = [{ close() {}, family: "ipv4", table: 0 }];
    const kernel = { release: "6.1.0", capabilities: [] };
    const info = daemonInfoSource({ kernel, sockets, stateFile: undefined });
    expect(info.ownedTables()).toEqual([{ family: "ipv4", table: 0 }]);
    sockets.push({ close() {}, family: "ipv6", table: 5 });
    expect(info.ownedTables()).toEqual([{ family: "ipv4", table: 0 }, { family: "ipv6", table: 5 }]);
    expect(info.kernel).toBe(kernel);
    expect(info.stateFile).toBeUndefined();
    expect(Math.abs(info.startedAt.getTime() - (Date.now() - process.uptime() * 1000))).toBeLessThan(2000);
  });
});

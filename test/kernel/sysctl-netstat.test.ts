// kernel-needs: ipv4
// readSysctl / rpFilter / mcForwarding and readNetstat / readSnmp against the real kernel:
// every value comes from the namespace asked for (the calling thread enters it), never from the
// test process's own, and the counters move where the traffic is. Builds its own namespaces and
// removes them afterwards; the host namespace is only read. Needs root.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { MrouteSocket } from "../../src/kernel/mroute/index.js";
import { parseNetstat, readNetstat, readSnmp } from "../../src/kernel/system/netstat.js";
import { ipv4Conf, mcForwarding, readSysctl, readSysctlInt, rpFilter } from "../../src/kernel/system/sysctl.js";
import { createLab } from "../helpers/lab.js";
import { addNetns, delNetns, execIn, ip, uniqueName } from "../helpers/netns.js";
import { sendMulticast, waitFor } from "../helpers/traffic.js";
import { cleanupAfterEach } from "../helpers/cleanup-after-each.js";

const cleanups = cleanupAfterEach();

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("kernel tests need root (network namespaces, raw sockets)");
});

/** A fresh namespace (lo up) with a veth pair d0/d1; returns its name and /run/netns path. */
async function netns(role: string): Promise<{ name: string; file: string }> {
  const name = uniqueName(role);
  await addNetns(name);
  cleanups.push(() => delNetns(name));
  await ip(["link", "set", "lo", "up"], name);
  await ip(["link", "add", "d0", "type", "veth", "peer", "name", "d1"], name);
  return { name, file: `/run/netns/${name}` };
}

function ownNetns(): string {
  return fs.readlinkSync("/proc/thread-self/ns/net");
}

describe("sysctls", () => {
  it("rp_filter is read in the namespace asked for; effective = max(all, iface)", async () => {
    const a = await netns("sysa");
    const b = await netns("sysb");
    await execIn(a.name, ["sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.d0.rp_filter=1"]);
    await execIn(b.name, ["sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.d0.rp_filter=0"]);
    await ip(["link", "add", "onlyb0", "type", "veth", "peer", "name", "onlyb1"], b.name);
    const home = ownNetns();

    // Interleaved, so a value cached from the other namespace would show.
    for (let i = 0; i < 2; i++) {
      expect(rpFilter("d0", { netns: a.file })).toEqual({ all: 0, iface: 1, effective: 1 });
      expect(rpFilter("d0", { netns: b.file })).toEqual({ all: 2, iface: 0, effective: 2 });
    }
    expect(readSysctl("net.ipv4.conf.all.rp_filter", { netns: a.file })).toBe("0");
    expect(readSysctl("net/ipv4/conf/all/rp_filter", { netns: b.file })).toBe("2");
    expect(readSysctlInt("/proc/sys/net/ipv4/conf/d0/rp_filter", { netns: a.file })).toBe(1);
    expect(ipv4Conf("d0", "rp_filter", { netns: b.file })).toEqual({ all: 2, iface: 0 });

    // An interface of the other namespace, or none at all: undefined; a missing sysctl throws.
    expect(rpFilter("onlyb0", { netns: a.file })).toBeUndefined();
    // A new link starts with the namespace's conf.default value.
    const dflt = readSysctlInt("net.ipv4.conf.default.rp_filter", { netns: b.file });
    expect(rpFilter("onlyb0", { netns: b.file })).toEqual({ all: 2, iface: dflt, effective: Math.max(2, dflt) });
    expect(rpFilter("nosuch0", { netns: a.file })).toBeUndefined();
    expect(() => readSysctl("net.ipv4.conf.nosuch0.rp_filter", { netns: a.file })).toThrow(/ENOENT/);

    // Without netns: the calling thread's namespace (the test's), read only.
    const hostAll = execFileSync("sysctl", ["-n", "net.ipv4.conf.all.rp_filter"], { encoding: "utf8" }).trim();
    expect(rpFilter("lo")?.all).toBe(Number(hostAll));
    expect(ownNetns()).toBe(home);

    for (const bad of ["", "../all", "a/b", ".", "..", "sixteen-chars-xx"]) {
      expect(() => rpFilter(bad, { netns: a.file })).toThrow(RangeError);
    }
    expect(() => readSysctl("net/../../etc/passwd")).toThrow(RangeError);
  });

  it("mc_forwarding follows MRT_INIT and ADD_VIF in that namespace only", async () => {
    const a = await netns("mcfa");
    const b = await netns("mcfb");
    expect(mcForwarding("d0", { netns: a.file })).toEqual({ all: 0, iface: 0 });
    const s = MrouteSocket.open({ netns: a.file });
    cleanups.push(() => s.close());
    expect(mcForwarding("d0", { netns: a.file })).toEqual({ all: 1, iface: 0 });
    s.addVif(0, s.ifindex("d0")!);
    expect(mcForwarding("d0", { netns: a.file })).toEqual({ all: 1, iface: 1 });
    expect(mcForwarding("d1", { netns: a.file })).toEqual({ all: 1, iface: 0 });
    expect(mcForwarding("d0", { netns: b.file })).toEqual({ all: 0, iface: 0 });
    s.close();
    expect(mcForwarding("d0", { netns: a.file })).toEqual({ all: 0, iface: 0 });
  });

  it("procRoot reads fixture files laid out like /proc", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-proc-"));
    try {
      for (const [dir, v] of [["all", "1"], ["eth0", "2"]] as const) {
        fs.mkdirSync(path.join(root, "sys/net/ipv4/conf", dir), { recursive: true });
        fs.writeFileSync(path.join(root, "sys/net/ipv4/conf", dir, "rp_filter"), `${v}\n`);
      }
      fs.mkdirSync(path.join(root, "thread-self/net"), { recursive: true });
      fs.writeFileSync(path.join(root, "thread-self/net/netstat"), "TcpExt: IPReversePathFilter X\nTcpExt: 7 8\n");
      expect(rpFilter("eth0", { procRoot: root })).toEqual({ all: 1, iface: 2, effective: 2 });
      expect(rpFilter("eth1", { procRoot: root })).toBeUndefined();
      expect(readNetstat({ procRoot: root })).toEqual({ TcpExtIPReversePathFilter: 7, TcpExtX: 8 });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("netstat", () => {
  it("parseNetstat pairs header and value lines and skips what does not pair up", () => {
    const text = [
      "TcpExt: A B",
      "TcpExt: 1 2",
      "IpExt: InMcastPkts OutMcastPkts",
      "IpExt: 4294967296 0",
      "Broken: X",
      "Other: 5",
      "Ip: Forwarding DefaultTTL",
      "Ip: 2 64",
      "",
    ].join("\n");
    expect(parseNetstat(text)).toEqual({
      TcpExtA: 1,
      TcpExtB: 2,
      IpExtInMcastPkts: 4294967296,
      IpExtOutMcastPkts: 0,
      IpForwarding: 2,
      IpDefaultTTL: 64,
    });
  });

  it("TcpExtIPReversePathFilter counts strict rp_filter drops in the router's namespace only", async () => {
    const lab = await createLab({ receivers: 1, rpFilter: 1 });
    cleanups.push(() => lab.cleanup());
    const idle = await netns("idle");
    const router = `/run/netns/${lab.router}`;
    const s = MrouteSocket.open({ netns: router });
    cleanups.push(() => s.close());
    s.addVif(0, s.ifindex("in0")!); // without a VIF (or member) on in0 the packets die before RPF
    // The route back to the source now leaves by out1: strict RPF fails on in0.
    await ip(["route", "add", `${lab.addrs.source}/32`, "via", lab.addrs.receivers[0]!, "dev", "out1"], lab.router);

    const before = readNetstat({ netns: router });
    expect(before.TcpExtIPReversePathFilter).toBeTypeOf("number");
    await sendMulticast(lab.source, { group: "239.6.0.1", port: 5000, ttl: 8, ifaceAddr: lab.addrs.source, count: 5, intervalMs: 5 });
    await waitFor(() => readNetstat({ netns: router }).TcpExtIPReversePathFilter! >= before.TcpExtIPReversePathFilter! + 5, {
      timeoutMs: 20_000,
    });

    const idleStats = readNetstat({ netns: idle.file });
    expect(idleStats.TcpExtIPReversePathFilter).toBe(0);
    expect(idleStats.IpExtInMcastPkts).toBe(0);
    // (IpExtInMcastPkts of the router does not move for these: it counts after the route
    // lookup, and rp_filter drops the packets inside it.)
    expect(readSnmp({ netns: idle.file }).IpInReceives).toBe(0);
    expect(readSnmp({ netns: router }).IpInReceives).toBeGreaterThanOrEqual(5);

    // Same counters as the namespace's own /proc/net/netstat shows to a process inside it.
    const shown = parseNetstat(await execIn(lab.router, ["cat", "/proc/net/netstat"]));
    expect(Object.keys(readNetstat({ netns: router })).sort()).toEqual(Object.keys(shown).sort());
    expect(Object.keys(shown)).toContain("TcpExtIPReversePathFilter");
  });
});

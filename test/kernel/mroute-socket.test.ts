// kernel-needs: ipv4 tables
// Kernel contract of src/kernel against the real kernel: every row of kernel-facts.md's errno
// table, netns binding, dumps and cleanup. Each test builds its own network namespaces (veth
// pairs created inside them) and removes them afterwards; no mroute socket ever touches the
// host namespace. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for setns).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { inNetns } from "../../src/kernel/in-netns.js";
import { KernelError } from "../../src/kernel/kernel-error.js";
import {
  AF_INET,
  IPPROTO_IP,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  close,
  recvNonBlocking,
  setsockoptInt,
  socket,
} from "../../src/kernel/libc.js";
import {
  IGMPMSG_NOCACHE,
  MRT_FLUSH_MFC,
  MRT_FLUSH_VIFS,
  MRT_INIT,
  MRT_TABLE,
} from "../../src/kernel/mroute-constants.js";
import { MrouteSocket } from "../../src/kernel/mroute-socket.js";
import { decodeIgmpmsg } from "../../src/kernel/mroute-structs.js";
import { parseIpMrCache, parseIpMrVif } from "../../src/kernel/proc-mroute.js";

// ---- lab ------------------------------------------------------------------------------------

let seq = 0;
const namespaces: string[] = [];
const sockets: MrouteSocket[] = [];

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** A fresh namespace with loopback up; removed in afterEach. */
function netns(): string {
  const name = `mfct-k-${process.pid}-${seq++}`;
  ip("netns", "add", name);
  namespaces.push(name);
  ip("-n", name, "link", "set", "lo", "up");
  return name;
}

/** A veth pair created inside `ns`; the peer stays there or moves to `peerNs`. */
function veth(ns: string, name: string, peer: string, peerNs?: string): void {
  ip("-n", ns, "link", "add", name, "type", "veth", "peer", "name", peer, ...(peerNs ? ["netns", peerNs] : []));
  ip("-n", ns, "link", "set", name, "up");
  ip("-n", peerNs ?? ns, "link", "set", peer, "up");
}

function linkIndex(ns: string, name: string): number {
  const [link] = JSON.parse(ip("-n", ns, "-j", "link", "show", "dev", name)) as { ifindex: number }[];
  if (!link) throw new Error(`no ${name} in ${ns}`);
  return link.ifindex;
}

function openIn(ns: string, table?: number): MrouteSocket {
  const s = MrouteSocket.open({ netns: `/run/netns/${ns}`, table });
  sockets.push(s);
  return s;
}

function catProc(ns: string, file: "ip_mr_cache" | "ip_mr_vif"): string {
  return execFileSync("ip", ["netns", "exec", ns, "cat", `/proc/net/${file}`], { encoding: "utf8" });
}

/** errno name of the KernelError `fn` throws, undefined if it does not throw. */
function errnoOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof KernelError) return err.code;
    throw err;
  }
  return undefined;
}

/** Sends `count` UDP datagrams of `size` bytes to group:5000 from inside `ns` with TTL 8. */
function sendFrom(ns: string, srcAddr: string, group: string, count: number, size: number): void {
  const script = `
    const s = require("node:dgram").createSocket("udp4");
    s.bind(0, ${JSON.stringify(srcAddr)}, async () => {
      s.setMulticastTTL(8);
      s.setMulticastInterface(${JSON.stringify(srcAddr)});
      for (let i = 0; i < ${count}; i++)
        await new Promise((r) => s.send(Buffer.alloc(${size}), 5000, ${JSON.stringify(group)}, r));
      s.close();
    });`;
  execFileSync("ip", ["netns", "exec", ns, process.execPath, "-e", script], { stdio: "ignore" });
}

function ownNetnsInode(): number {
  return fs.statSync("/proc/thread-self/ns/net").ino;
}

function openFdCount(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

/** Router namespace R with a0..a(n-1) (peers b0.. inside R): enough for errno tests. */
function router(links = 3): { ns: string; s: MrouteSocket; idx: number[] } {
  const ns = netns();
  for (let i = 0; i < links; i++) veth(ns, `a${i}`, `b${i}`);
  const s = openIn(ns);
  return { ns, s, idx: [...Array(links).keys()].map((i) => s.ifindex(`a${i}`) ?? -1) };
}

/** R with a0/a1 whose peers h0/h1 sit in host namespace H; H is 10.0.0.2 on h0. */
function trafficLab(): { r: string; h: string; s: MrouteSocket } {
  const r = netns();
  const h = netns();
  veth(r, "a0", "h0", h);
  veth(r, "a1", "h1", h);
  ip("-n", r, "addr", "add", "10.0.0.1/24", "dev", "a0");
  ip("-n", h, "addr", "add", "10.0.0.2/24", "dev", "h0");
  const s = openIn(r);
  s.addVif(0, linkIndex(r, "a0"));
  s.addVif(1, linkIndex(r, "a1"));
  return { r, h, s };
}

beforeAll(() => {
  if (process.getuid?.() !== 0) {
    throw new Error("kernel tests need root (network namespaces, CAP_NET_RAW/NET_ADMIN); run them as root");
  }
});

afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
  const failures: string[] = [];
  for (const ns of namespaces.splice(0)) {
    try {
      ip("netns", "del", ns);
    } catch (err) {
      failures.push(`${ns}: ${String(err)}`);
    }
  }
  if (failures.length > 0) throw new Error(`could not delete namespaces: ${failures.join("; ")}`);
});

// ---- tests ----------------------------------------------------------------------------------

describe("open", () => {
  it("creates the socket inside the namespace from this thread and always returns home", () => {
    const home = ownNetnsInode();
    const ns = netns();
    veth(ns, "a0", "b0");
    const s = openIn(ns);
    expect(ownNetnsInode()).toBe(home);
    expect(s.fd).toBeGreaterThan(2);
    expect(s.table).toBe(0);
    // Owned in the namespace: its ip_mr_vif shows our VIF, the host's does not change.
    const hostVifs = fs.readFileSync("/proc/net/ip_mr_vif", "utf8");
    s.addVif(0, linkIndex(ns, "a0"));
    expect(parseIpMrVif(catProc(ns, "ip_mr_vif")).map((v) => v.name)).toEqual(["a0"]);
    expect(fs.readFileSync("/proc/net/ip_mr_vif", "utf8")).toBe(hostVifs);
  });

  it("MRT_INIT: EADDRINUSE for a second socket on the same table, fd closed, thread back home", () => {
    const home = ownNetnsInode();
    const ns = netns();
    openIn(ns);
    const fds = openFdCount();
    expect(errnoOf(() => openIn(ns))).toBe("EADDRINUSE");
    expect(openFdCount()).toBe(fds);
    expect(ownNetnsInode()).toBe(home);
  });

  it("ENOENT for a missing namespace file, thread back home", () => {
    const home = ownNetnsInode();
    expect(errnoOf(() => MrouteSocket.open({ netns: `/run/netns/mfct-k-${process.pid}-missing` }))).toBe("ENOENT");
    expect(ownNetnsInode()).toBe(home);
  });

  it("one owner per namespace: sockets in two namespaces coexist", () => {
    const a = openIn(netns());
    const b = openIn(netns());
    expect(a.fd).not.toBe(b.fd);
  });

  it("MRT_INIT: EOPNOTSUPP on a socket that is not raw IGMP", () => {
    const ns = netns();
    const udp = inNetns(`/run/netns/${ns}`, () => socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    try {
      expect(errnoOf(() => setsockoptInt(udp, IPPROTO_IP, MRT_INIT, 1, "MRT_INIT"))).toBe("EOPNOTSUPP");
    } finally {
      close(udp);
    }
  });

  it("MRT_TABLE selects another table before MRT_INIT; EBUSY afterwards", () => {
    const ns = netns();
    veth(ns, "a0", "b0");
    const main = openIn(ns);
    const t5 = openIn(ns, 5); // its own table: no EADDRINUSE against the default one
    expect(t5.table).toBe(5);
    expect(errnoOf(() => setsockoptInt(t5.fd, IPPROTO_IP, MRT_TABLE, 6, "MRT_TABLE"))).toBe("EBUSY");
    expect(errnoOf(() => openIn(ns, 5))).toBe("EADDRINUSE");
    // Separate VIF space, counters via ioctl on the table; /proc only shows the default table,
    // the netlink dump behind dumpMfc shows each socket its own table.
    t5.addVif(0, linkIndex(ns, "a0"));
    t5.addMfc("10.0.0.2", "239.1.1.1", 0, new Map());
    expect(t5.sgCounters("10.0.0.2", "239.1.1.1")).toEqual({ packets: 0n, bytes: 0n, wrongIf: 0n });
    expect(t5.vifCounters(0)).toBeDefined();
    expect(main.sgCounters("10.0.0.2", "239.1.1.1")).toBeUndefined();
    expect(main.vifCounters(0)).toBeUndefined();
    expect([...t5.dumpMfc().values()]).toEqual([
      { source: "10.0.0.2", group: "239.1.1.1", parent: 0, oifs: new Map(), counters: { packets: 0n, bytes: 0n, wrongIf: 0n } },
    ]);
    expect(t5.dumpVifs()).toBeUndefined();
    expect(main.dumpMfc()?.size).toBe(0);
  });
});

describe("interface resolution", () => {
  it("resolves names and indexes in the socket's namespace, not the process's", () => {
    const x = netns();
    veth(x, "x0", "x1"); // shifts the index of a0 in x
    veth(x, "a0", "b0");
    const y = netns();
    veth(y, "a0", "b0");
    const sx = openIn(x);
    const sy = openIn(y);
    expect(sx.ifindex("a0")).toBe(linkIndex(x, "a0"));
    expect(sy.ifindex("a0")).toBe(linkIndex(y, "a0"));
    expect(sx.ifindex("a0")).not.toBe(sy.ifindex("a0"));
    expect(sy.ifindex("x0")).toBeUndefined();
    expect(sx.ifname(linkIndex(x, "x1"))).toBe("x1");
    expect(sy.ifname(linkIndex(x, "b0"))).toBeUndefined(); // x has 5 links, y only 3
    expect(sy.ifname(linkIndex(y, "b0"))).toBe("b0");
    expect(sx.ifindex("lo")).toBe(1);
  });

  it("undefined for unknown or unrepresentable names and indexes", () => {
    const { s } = router(1);
    expect(s.ifindex("nope0")).toBeUndefined();
    expect(s.ifindex("a".repeat(16))).toBeUndefined();
    expect(s.ifindex("a0\0junk")).toBeUndefined();
    expect(s.ifindex("")).toBeUndefined();
    expect(s.ifname(999_999)).toBeUndefined();
    expect(s.ifname(0)).toBeUndefined();
    expect(s.ifname(-1)).toBeUndefined();
  });
});

describe("VIFs", () => {
  it("ADD_VIF: ENFILE at index ≥ 32, EADDRINUSE on a taken slot, EADDRNOTAVAIL for an unknown ifindex", () => {
    const { s, idx } = router(2);
    const [a0 = -1, a1 = -1] = idx;
    s.addVif(31, a0);
    expect(errnoOf(() => s.addVif(32, a1))).toBe("ENFILE");
    expect(errnoOf(() => s.addVif(31, a1))).toBe("EADDRINUSE");
    expect(errnoOf(() => s.addVif(0, 999_999))).toBe("EADDRNOTAVAIL");
    // Not checked by the kernel: a second VIF on the same device.
    expect(errnoOf(() => s.addVif(1, a0))).toBeUndefined();
  });

  it("DEL_VIF: EADDRNOTAVAIL for an empty slot; the slot is reusable after delete", () => {
    const { s, idx } = router(1);
    const [a0 = -1] = idx;
    expect(errnoOf(() => s.delVif(0))).toBe("EADDRNOTAVAIL");
    s.addVif(0, a0);
    s.delVif(0);
    expect(errnoOf(() => s.delVif(0))).toBe("EADDRNOTAVAIL");
    s.addVif(0, a0);
  });

  it("vifCounters: zero for a new VIF, undefined for empty slots below and above the highest VIF", () => {
    const { s, idx } = router(2);
    s.addVif(0, idx[0] ?? -1);
    s.addVif(2, idx[1] ?? -1);
    expect(s.vifCounters(0)).toEqual({ inPackets: 0n, inBytes: 0n, outPackets: 0n, outBytes: 0n });
    expect(s.vifCounters(1)).toBeUndefined(); // kernel: EADDRNOTAVAIL
    expect(s.vifCounters(3)).toBeUndefined(); // kernel: EINVAL (≥ maxvif)
    expect(s.vifCounters(32)).toBeUndefined();
    expect(s.vifCounters(-1)).toBeUndefined();
  });

  it("dumpVifs agrees with what was added and with /proc", () => {
    const { ns, s, idx } = router(3);
    s.addVif(0, idx[0] ?? -1);
    s.addVif(4, idx[2] ?? -1);
    const vifs = s.dumpVifs();
    expect(vifs?.map((v) => [v.vif, v.name, v.ifindex])).toEqual([
      [0, "a0", idx[0]],
      [4, "a2", idx[2]],
    ]);
    expect(vifs).toEqual(parseIpMrVif(catProc(ns, "ip_mr_vif")));
  });
});

describe("MFC", () => {
  it("ADD_MFC: ENFILE for parent ≥ 32, EINVAL for a non-multicast group; oifs on missing VIFs dropped", () => {
    const { s, idx } = router(2);
    s.addVif(0, idx[0] ?? -1);
    s.addVif(1, idx[1] ?? -1);
    expect(errnoOf(() => s.addMfc("10.0.0.2", "239.1.1.1", 32, new Map()))).toBe("ENFILE");
    expect(errnoOf(() => s.addMfc("10.0.0.2", "10.1.1.1", 0, new Map()))).toBe("EINVAL");
    s.addMfc(
      "10.0.0.2",
      "239.1.1.1",
      0,
      new Map([
        [1, 1],
        [7, 1],
      ]),
    );
    expect(s.dumpMfc()?.get("10.0.0.2|239.1.1.1")?.oifs).toEqual(new Map([[1, 1]]));
  });

  it("DEL_MFC: ENOENT for a missing (S,G); SIOCGETSGCNT → undefined for it", () => {
    const { s, idx } = router(1);
    s.addVif(0, idx[0] ?? -1);
    expect(errnoOf(() => s.delMfc("10.0.0.2", "239.1.1.1"))).toBe("ENOENT");
    expect(s.sgCounters("10.0.0.2", "239.1.1.1")).toBeUndefined();
    s.addMfc("10.0.0.2", "239.1.1.1", 0, new Map());
    expect(s.sgCounters("10.0.0.2", "239.1.1.1")).toEqual({ packets: 0n, bytes: 0n, wrongIf: 0n });
    s.delMfc("10.0.0.2", "239.1.1.1");
    expect(s.sgCounters("10.0.0.2", "239.1.1.1")).toBeUndefined();
    expect(errnoOf(() => s.delMfc("10.0.0.2", "239.1.1.1"))).toBe("ENOENT");
  });

  it("dumpMfc agrees with what was added and with /proc read via ip netns exec", () => {
    const { ns, s, idx } = router(3);
    idx.forEach((ifindex, vif) => s.addVif(vif, ifindex));
    const oifs = new Map([
      [1, 1],
      [2, 64],
    ]);
    s.addMfc("10.0.0.2", "239.1.1.1", 0, oifs);
    s.addMfc("0.0.0.0", "239.1.1.2", 1, new Map([[0, 1]]));
    s.addMfc("192.168.7.9", "232.255.0.1", 2, new Map([[0, 254]]));
    const dump = s.dumpMfc();
    expect([...(dump?.keys() ?? [])].sort()).toEqual(["0.0.0.0|239.1.1.2", "10.0.0.2|239.1.1.1", "192.168.7.9|232.255.0.1"]);
    expect(dump?.get("10.0.0.2|239.1.1.1")).toMatchObject({ source: "10.0.0.2", group: "239.1.1.1", parent: 0, oifs });
    expect(dump?.get("192.168.7.9|232.255.0.1")?.oifs).toEqual(new Map([[0, 254]]));
    const viaCat = new Map(
      parseIpMrCache(catProc(ns, "ip_mr_cache")).map(({ unresolved: _, ...e }) => [`${e.source}|${e.group}`, e]),
    );
    expect(dump).toEqual(viaCat);
    // Fresh content on every call.
    s.delMfc("0.0.0.0", "239.1.1.2");
    expect(s.dumpMfc()?.size).toBe(2);
  });

  it("dumpMfc re-reads large tables completely (many dump parts)", () => {
    const { s, idx } = router(2);
    s.addVif(0, idx[0] ?? -1);
    s.addVif(1, idx[1] ?? -1);
    const oifs = new Map([[1, 1]]);
    for (let i = 0; i < 3000; i++) s.addMfc(`10.1.${i >> 8}.${i & 255}`, "239.9.9.9", 0, oifs);
    expect(s.dumpMfc()?.size).toBe(3000);
    for (let i = 0; i < 1000; i++) s.delMfc(`10.1.${i >> 8}.${i & 255}`, "239.9.9.9");
    const dump = s.dumpMfc();
    expect(dump?.size).toBe(2000);
    expect(dump?.has("10.1.3.231|239.9.9.9")).toBe(false); // i = 999
    expect(dump?.get("10.1.11.183|239.9.9.9")?.oifs).toEqual(oifs); // i = 2999
  });
});

describe("with traffic", () => {
  it("counters: SIOCGETSGCNT, SIOCGETVIFCNT and /proc agree; ADD_MFC replaces in place keeping them", () => {
    const { r, h, s } = trafficLab();
    s.addMfc("10.0.0.2", "239.1.1.1", 0, new Map([[1, 1]]));
    sendFrom(h, "10.0.0.2", "239.1.1.1", 5, 100);
    const wire = 100n + 28n; // the kernel counts IP + UDP headers
    expect(s.sgCounters("10.0.0.2", "239.1.1.1")).toEqual({ packets: 5n, bytes: 5n * wire, wrongIf: 0n });
    expect(s.vifCounters(0)).toMatchObject({ inPackets: 5n, inBytes: 5n * wire });
    expect(s.vifCounters(1)).toMatchObject({ outPackets: 5n, outBytes: 5n * wire });
    expect(s.dumpMfc()?.get("10.0.0.2|239.1.1.1")?.counters).toEqual(s.sgCounters("10.0.0.2", "239.1.1.1"));
    expect(s.dumpVifs()?.map((v) => v.counters)).toEqual([s.vifCounters(0), s.vifCounters(1)]);

    // Replace: no oifs now (a stop filter still counts), counters kept.
    s.addMfc("10.0.0.2", "239.1.1.1", 0, new Map());
    expect(s.sgCounters("10.0.0.2", "239.1.1.1")?.packets).toBe(5n);
    sendFrom(h, "10.0.0.2", "239.1.1.1", 2, 100);
    expect(s.sgCounters("10.0.0.2", "239.1.1.1")?.packets).toBe(7n);
    expect(s.vifCounters(1)?.outPackets).toBe(5n);
    const row = parseIpMrCache(catProc(r, "ip_mr_cache")).find((e) => e.group === "239.1.1.1");
    expect(row).toMatchObject({ parent: 0, oifs: new Map(), counters: { packets: 7n } });
  });

  it("unknown (S,G): NOCACHE upcall on the socket; unresolved entry in /proc but not in dumpMfc", () => {
    const { r, h, s } = trafficLab();
    sendFrom(h, "10.0.0.2", "239.5.5.5", 2, 10);
    const buf = Buffer.alloc(2048);
    const upcalls = [];
    for (let n; (n = recvNonBlocking(s.fd, buf, "recv")) !== undefined; ) {
      const msg = decodeIgmpmsg(buf.subarray(0, n));
      if (msg) upcalls.push(msg);
    }
    expect(upcalls).toEqual([{ msgtype: IGMPMSG_NOCACHE, vif: 0, source: "10.0.0.2", group: "239.5.5.5" }]);
    const rows = parseIpMrCache(catProc(r, "ip_mr_cache"));
    expect(rows).toMatchObject([{ source: "10.0.0.2", group: "239.5.5.5", parent: -1, unresolved: true }]);
    expect(s.dumpMfc()?.size).toBe(0);
    expect(s.sgCounters("10.0.0.2", "239.5.5.5")).toBeUndefined();
  });
});

describe("close", () => {
  it("MRT_DONE + close removes every VIF and entry; idempotent; later calls throw EBADF", () => {
    const { ns, s, idx } = router(2);
    s.addVif(0, idx[0] ?? -1);
    s.addVif(1, idx[1] ?? -1);
    s.addMfc("10.0.0.2", "239.1.1.1", 0, new Map([[1, 1]]));
    s.setAssert(true);
    s.setAssert(false);
    expect(parseIpMrCache(catProc(ns, "ip_mr_cache"))).toHaveLength(1);
    const fds = openFdCount();
    s.close();
    expect(openFdCount()).toBe(fds - 3); // socket, netlink dump socket, /proc/net/ip_mr_vif
    expect(parseIpMrCache(catProc(ns, "ip_mr_cache"))).toEqual([]);
    expect(parseIpMrVif(catProc(ns, "ip_mr_vif"))).toEqual([]);
    s.close();
    s.done();
    expect(s.fd).toBe(-1);
    expect(errnoOf(() => s.addVif(0, idx[0] ?? -1))).toBe("EBADF");
    expect(errnoOf(() => s.sgCounters("10.0.0.2", "239.1.1.1"))).toBe("EBADF");
    expect(errnoOf(() => s.dumpMfc())).toBe("EBADF");
    // The table is free again.
    openIn(ns).addVif(0, idx[0] ?? -1);
  });

  it("flush clears VIFs and entries", () => {
    const { s, idx } = router(1);
    s.addVif(0, idx[0] ?? -1);
    s.addMfc("10.0.0.2", "239.1.1.1", 0, new Map());
    s.flush(MRT_FLUSH_MFC | MRT_FLUSH_VIFS);
    expect(s.dumpMfc()?.size).toBe(0);
    expect(s.dumpVifs()).toEqual([]);
  });
});

// kernel-needs: ipv4 tables ipv6 ipv6-tables
// Kernel contract of the multicast routing socket of both families (MrouteSocket: MRT_* on a
// raw IGMP socket; Mroute6Socket: MRT6_* on a raw ICMPv6 socket) against the real kernel: every
// row of kernel-facts.md's errno table, netns binding, tables, dumps, counters with real
// multicast traffic, upcalls and cleanup. One table-driven suite: FAMILIES holds what differs
// (addresses, /proc files, option numbers); tests that only one family has are marked so.
// Each test builds its own namespaces (test/helpers/netns.ts names, so leftovers are swept) and
// removes them afterwards; no socket ever touches the host namespace. Needs root.
//
// "Nothing was forwarded" is never asserted by waiting: a later packet that is forwarded (a
// barrier) shows that everything sent before it has been through the router.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { canonicalIpv6 } from "../../src/address/index.js";
import { inNetns, KernelError } from "../../src/kernel/ffi/index.js";
import {
  AF_INET,
  AF_INET6,
  IPPROTO_IP,
  IPPROTO_IPV6,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  close,
  recvNonBlocking,
  setsockoptInt,
  socket,
} from "../../src/kernel/ffi/libc.js";
import {
  IGMPMSG_NOCACHE,
  MRT6MSG_NOCACHE,
  MRT6_FLUSH_MFC,
  MRT6_FLUSH_MFC_STATIC,
  MRT6_FLUSH_MIFS,
  MRT6_FLUSH_MIFS_STATIC,
  MRT6_INIT,
  MRT6_TABLE,
  MRT_FLUSH_MFC,
  MRT_FLUSH_MFC_STATIC,
  MRT_FLUSH_VIFS,
  MRT_FLUSH_VIFS_STATIC,
  MRT_INIT,
  MRT_TABLE,
  RT6_TABLE_DFLT,
  RT_TABLE_DEFAULT,
  IGMPMSG_SIZE,
  MRT6MSG_SIZE,
  IPV4_STRUCTS,
  IPV6_STRUCTS,
  decodeUpcall,
} from "../../src/kernel/abi/index.js";
import {
  type MrouteFamilySocket,
  FOREIGN_VIF_BASE,
  MrouteSocket,
  Ipv6ThresholdError,
  Mroute6Socket,
  type ProcMfcEntry,
  type ProcVif,
  parseIpMrCache,
  parseIpMrVif,
  parseIp6MrCache,
  parseIp6MrVif,
} from "../../src/kernel/mroute/index.js";
import { addNetns, delNetns, uniqueName } from "../helpers/netns.js";
import { type Receiver, sendMulticast, startReceiver, waitFor } from "../helpers/traffic.js";

// ---- what differs per family ----------------------------------------------------------------

type AnySocket = MrouteFamilySocket<"ipv4"> | MrouteFamilySocket<"ipv6">;

/** An upcall of either family, as the tests compare it. */
interface Upcall {
  msgtype: number;
  vif: number;
  source: string;
  group: string;
}

interface Family {
  name: "ipv4" | "ipv6";
  open(opts: { netns?: string; table?: number; receiveIcmpv6?: boolean }): AnySocket;
  /** socket() domain and setsockopt level/options for the raw-setsockopt tests. */
  domain: number;
  level: number;
  initOpt: number;
  tableOpt: number;
  flushAll: number;
  /** Kernel id of table 0, and the other family's (just another table here). */
  defaultTable: number;
  otherDefaultTable: number;
  procCache: string;
  procVif: string;
  parseCache(text: string): ProcMfcEntry[];
  parseVif(text: string): ProcVif[];
  /** /proc's VIF file names the device by ifindex (IPv4 with VIFF_USE_IFINDEX; IPv6 never). */
  procVifHasIfindex: boolean;
  nocache: number;
  upcallSize: number;
  decodeUpcall(buf: Buffer): Upcall | undefined;
  /** The traffic lab's source, its router-side address and prefix length. */
  src: string;
  routerAddr: string;
  prefix: number;
  group: string;
  /** A unicast address, refused as a group (EINVAL). */
  unicastGroup: string;
  /** A group no route names, for NOCACHE upcalls, and one for the second table. */
  unknownGroup: string;
  tableGroup: string;
  tableGroup2: string;
  /** Bytes the kernel counts per datagram beyond its payload: IP + UDP headers. */
  headerBytes: bigint;
  /** Source i (1..3000) of the large-table test. */
  manySource(i: number): string;
  manyGroup: string;
  /** Entries for the dump test: [source as written, group as written, parent, oifs]. */
  dumpEntries: [string, string, number, Map<number, number>][];
  /** The keys dumpMfc gives them (canonical text), in the order above. */
  dumpKeys: string[];
  /** The second entry, spelled as delMfc is given it. */
  dumpDelete: [string, string];
  /** IPv6 names the sending and joining interface by name (traffic.ts's `iface`); IPv4 by address. */
  byIfaceName: boolean;
}

const IPV4: Family = {
  name: "ipv4",
  open: (opts) => MrouteSocket.open(opts),
  domain: AF_INET,
  level: IPPROTO_IP,
  initOpt: MRT_INIT,
  tableOpt: MRT_TABLE,
  flushAll: MRT_FLUSH_MFC | MRT_FLUSH_MFC_STATIC | MRT_FLUSH_VIFS | MRT_FLUSH_VIFS_STATIC,
  defaultTable: RT_TABLE_DEFAULT,
  otherDefaultTable: RT6_TABLE_DFLT,
  procCache: "ip_mr_cache",
  procVif: "ip_mr_vif",
  parseCache: parseIpMrCache,
  parseVif: parseIpMrVif,
  procVifHasIfindex: true,
  nocache: IGMPMSG_NOCACHE,
  upcallSize: IGMPMSG_SIZE,
  decodeUpcall: (buf) => decodeUpcall(IPV4_STRUCTS, buf),
  src: "10.0.0.2",
  routerAddr: "10.0.0.1",
  prefix: 24,
  group: "239.1.1.1",
  unicastGroup: "10.1.1.1",
  unknownGroup: "239.5.5.5",
  tableGroup: "239.7.7.7",
  tableGroup2: "239.7.7.8",
  headerBytes: 28n,
  manySource: (i) => `10.1.${i >> 8}.${i & 255}`,
  manyGroup: "239.9.9.9",
  dumpEntries: [
    ["10.0.0.2", "239.1.1.1", 0, new Map([[1, 1], [2, 64]])],
    ["0.0.0.0", "239.1.1.2", 1, new Map([[0, 1]])],
    ["192.168.7.9", "232.255.0.1", 2, new Map([[0, 254]])],
  ],
  dumpKeys: ["10.0.0.2|239.1.1.1", "0.0.0.0|239.1.1.2", "192.168.7.9|232.255.0.1"],
  dumpDelete: ["0.0.0.0", "239.1.1.2"],
  byIfaceName: false,
};

const IPV6: Family = {
  name: "ipv6",
  open: (opts) => Mroute6Socket.open(opts),
  domain: AF_INET6,
  level: IPPROTO_IPV6,
  initOpt: MRT6_INIT,
  tableOpt: MRT6_TABLE,
  flushAll: MRT6_FLUSH_MFC | MRT6_FLUSH_MFC_STATIC | MRT6_FLUSH_MIFS | MRT6_FLUSH_MIFS_STATIC,
  defaultTable: RT6_TABLE_DFLT,
  otherDefaultTable: RT_TABLE_DEFAULT,
  procCache: "ip6_mr_cache",
  procVif: "ip6_mr_vif",
  parseCache: parseIp6MrCache,
  parseVif: parseIp6MrVif,
  procVifHasIfindex: false,
  nocache: MRT6MSG_NOCACHE,
  upcallSize: MRT6MSG_SIZE,
  decodeUpcall: (buf) => decodeUpcall(IPV6_STRUCTS, buf),
  src: "fd00:1::2",
  routerAddr: "fd00:1::1",
  prefix: 64,
  group: "ff3e::4321",
  unicastGroup: "fd00:2::1",
  unknownGroup: "ff3e::5",
  tableGroup: "ff05::7",
  tableGroup2: "ff05::8",
  headerBytes: 48n,
  manySource: (i) => `2001:db8::${i.toString(16)}`,
  manyGroup: "ff3e::9:9",
  // Any IPv6 text is accepted; the kernel sees bytes, dumps give RFC 5952 text.
  dumpEntries: [
    ["FD00:0001:0000::0002", "FF3E:0:0:0:0:0:0:4321", 0, new Map([[1, 1], [2, 1]])],
    ["::", "ff05::1:3", 1, new Map([[0, 1]])], // (*,G)
    ["2001:db8::77", "ff08::abcd", 2, new Map()],
  ],
  dumpKeys: ["fd00:1::2|ff3e::4321", "::|ff05::1:3", "2001:db8::77|ff08::abcd"],
  dumpDelete: ["0::0", "FF05::1:3"],
  byIfaceName: true,
};

const FAMILIES = [IPV4, IPV6];

// ---- lab ------------------------------------------------------------------------------------

const namespaces: string[] = [];
const sockets: { close(): void }[] = [];
const receivers: Receiver[] = [];

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** A fresh namespace with loopback up; removed in afterEach (or at exit / by the sweeper). */
async function netns(role: string): Promise<string> {
  const name = uniqueName(role);
  await addNetns(name);
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

function catProc(ns: string, file: string): string {
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

function ownNetnsInode(): number {
  return fs.statSync("/proc/thread-self/ns/net").ino;
}

function openFdCount(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

/**
 * Sends `count` UDP datagrams of `size` payload bytes to [group]:5000 from `src` on `dev` in
 * `ns` (TTL / hop limit `hops`, ≥ 2 to be forwarded); resolves when all were sent.
 */
async function send(f: Family, ns: string, src: string, dev: string, group: string, count: number, size: number, hops = 8): Promise<void> {
  const iface = f.byIfaceName ? { iface: dev } : {};
  const r = await sendMulticast(ns, { group, port: 5000, ttl: hops, ifaceAddr: src, ...iface, count, size, intervalMs: 0 });
  if (r.errors > 0) throw new Error(`sender in ${ns}: ${r.errors} send errors (${r.firstError})`);
}

/** An IPv6 receiver of [group]:5000 joined on `dev` in `ns`; resolves once joined. */
async function receiver6(ns: string, dev: string, group: string): Promise<Receiver> {
  const rx = await startReceiver(ns, { group, port: 5000, iface: dev });
  receivers.push(rx);
  return rx;
}

/** Every datagram queued on the socket, decoded where it is an upcall (raw length kept). */
function drain(f: Family, s: AnySocket): { n: number; msg: Upcall | undefined }[] {
  const buf = Buffer.alloc(4096);
  const out = [];
  for (let n; (n = recvNonBlocking(s.fd, buf, "recv")) !== undefined; ) {
    out.push({ n, msg: f.decodeUpcall(buf.subarray(0, n)) });
  }
  return out;
}

/** The table's /proc VIF rows, without the ifindex where /proc has none (dumpVifs fills it in). */
function procVifs(f: Family, ns: string): Omit<ProcVif, "ifindex">[] {
  const rows = f.parseVif(catProc(ns, f.procVif));
  return f.procVifHasIfindex ? rows : rows.map(({ ifindex: _, ...v }) => v);
}

beforeAll(() => {
  if (process.getuid?.() !== 0) {
    throw new Error("kernel tests need root (network namespaces, CAP_NET_RAW/NET_ADMIN); run them as root");
  }
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.allSettled(receivers.splice(0).map((rx) => rx.stop()));
  const failures: string[] = [];
  for (const ns of namespaces.splice(0)) {
    try {
      await delNetns(ns);
    } catch (err) {
      failures.push(`${ns}: ${String(err)}`);
    }
  }
  if (failures.length > 0) throw new Error(`could not delete namespaces: ${failures.join("; ")}`);
});

// ---- tests ----------------------------------------------------------------------------------

it("IPv4 and IPv6 owners of the same namespace coexist (separate families)", async () => {
  const ns = await netns("r6");
  const v4 = MrouteSocket.open({ netns: `/run/netns/${ns}` });
  sockets.push(v4);
  const v6 = Mroute6Socket.open({ netns: `/run/netns/${ns}` });
  sockets.push(v6);
  expect(v4.fd).not.toBe(v6.fd);
});

describe.each(FAMILIES.map((f) => [f.name, f] as const))("%s", (_name, f) => {
  const ipv6 = f.name === "ipv6";
  const { src: SRC, group: GROUP } = f;

  function openIn(ns: string, opts: { table?: number; receiveIcmpv6?: boolean } = {}): AnySocket {
    const s = f.open({ netns: `/run/netns/${ns}`, ...opts });
    sockets.push(s);
    return s;
  }

  /** Router namespace with links a0..a(n-1) (peers b0.. inside it): enough for errno tests. */
  async function router(links = 3): Promise<{ ns: string; s: AnySocket; idx: number[] }> {
    const ns = await netns("r");
    for (let i = 0; i < links; i++) veth(ns, `a${i}`, `b${i}`);
    const s = openIn(ns);
    return { ns, s, idx: [...Array(links).keys()].map((i) => s.ifindex(`a${i}`) ?? -1) };
  }

  /**
   * Router R (VIF 0 = a0, VIF 1 = a1), source namespace H on a0 (h0, SRC), receiver namespace
   * V on a1 (v0). IPv6 addresses without DAD so they are usable at once.
   */
  async function trafficLab(): Promise<{ r: string; h: string; v: string; s: AnySocket }> {
    const r = await netns("r");
    const h = await netns("h");
    const v = await netns("v");
    veth(r, "a0", "h0", h);
    veth(r, "a1", "v0", v);
    const nodad = ipv6 ? ["nodad"] : [];
    ip("-n", r, "addr", "add", `${f.routerAddr}/${f.prefix}`, "dev", "a0", ...nodad);
    ip("-n", h, "addr", "add", `${SRC}/${f.prefix}`, "dev", "h0", ...nodad);
    if (ipv6) ip("-n", h, "-6", "route", "add", "default", "via", f.routerAddr, "dev", "h0");
    const s = openIn(r);
    s.addVif(0, linkIndex(r, "a0"));
    s.addVif(1, linkIndex(r, "a1"));
    return { r, h, v, s };
  }

  describe("open", () => {
    it("INIT inside the namespace from this thread; the thread returns home; only that namespace changes", async () => {
      const home = ownNetnsInode();
      const ns = await netns("r");
      veth(ns, "a0", "b0");
      const s = openIn(ns);
      expect(ownNetnsInode()).toBe(home);
      expect(s.fd).toBeGreaterThan(2);
      expect(s.table).toBe(0);
      expect(s.kernelTable).toBe(f.defaultTable);
      // Owned in the namespace: its VIF file shows our VIF, the host's does not change.
      const hostVifs = fs.readFileSync(`/proc/net/${f.procVif}`, "utf8");
      s.addVif(0, linkIndex(ns, "a0"));
      expect(f.parseVif(catProc(ns, f.procVif)).map((v) => v.name)).toEqual(["a0"]);
      expect(fs.readFileSync(`/proc/net/${f.procVif}`, "utf8")).toBe(hostVifs);
    });

    it("a second INIT on the same table: EADDRINUSE, fds closed, thread back home", async () => {
      const home = ownNetnsInode();
      const ns = await netns("r");
      openIn(ns);
      const fds = openFdCount();
      expect(errnoOf(() => openIn(ns))).toBe("EADDRINUSE");
      // Asking for the default table by its kernel id collides too.
      expect(errnoOf(() => openIn(ns, { table: f.defaultTable }))).toBe("EADDRINUSE");
      expect(openFdCount()).toBe(fds);
      expect(ownNetnsInode()).toBe(home);
    });

    it("ENOENT for a missing namespace file, thread back home", () => {
      const home = ownNetnsInode();
      expect(errnoOf(() => f.open({ netns: `/run/netns/${uniqueName("missing")}` }))).toBe("ENOENT");
      expect(ownNetnsInode()).toBe(home);
    });

    it("one owner per namespace: sockets in two namespaces coexist", async () => {
      const a = openIn(await netns("r"));
      const b = openIn(await netns("r"));
      expect(a.fd).not.toBe(b.fd);
    });

    it("INIT: EOPNOTSUPP on a socket that is not the family's raw socket", async () => {
      const ns = await netns("r");
      const udp = inNetns(`/run/netns/${ns}`, () => socket(f.domain, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      try {
        expect(errnoOf(() => setsockoptInt(udp, f.level, f.initOpt, 1, "INIT"))).toBe("EOPNOTSUPP");
      } finally {
        close(udp);
      }
    });
  });

  describe("tables", () => {
    it("TABLE before INIT gives an isolated table; EBUSY afterwards", async () => {
      const { ns, s: main, idx } = await router(2);
      const t7 = openIn(ns, { table: 7 }); // its own table: no EADDRINUSE against the default one
      expect(t7.table).toBe(7);
      expect(t7.kernelTable).toBe(7);
      expect(errnoOf(() => setsockoptInt(t7.fd, f.level, f.tableOpt, 8, "TABLE"))).toBe("EBUSY");
      expect(errnoOf(() => openIn(ns, { table: 7 }))).toBe("EADDRINUSE");
      // Separate VIF spaces: the same slot and device in both tables.
      main.addVif(0, idx[0] ?? -1);
      t7.addVif(0, idx[1] ?? -1);
      t7.addVif(1, idx[0] ?? -1);
      t7.addMfc(SRC, f.tableGroup, 0, new Map([[1, 1]]));
      expect(t7.sgCounters(SRC, f.tableGroup)).toEqual({ packets: 0n, bytes: 0n, wrongIf: 0n });
      expect(main.sgCounters(SRC, f.tableGroup)).toBeUndefined();
      expect(t7.vifCounters(0)).toBeDefined();
      expect(t7.vifCounters(1)).toBeDefined();
      expect(main.vifCounters(1)).toBeUndefined();
      // The netlink dump behind dumpMfc shows each socket its own table.
      expect([...t7.dumpMfc().values()]).toEqual([
        { source: SRC, group: f.tableGroup, parent: 0, oifs: new Map([[1, 1]]), counters: { packets: 0n, bytes: 0n, wrongIf: 0n } },
      ]);
      expect(main.dumpMfc().size).toBe(0);
      // /proc shows the default table only; IPv4's link dump shows any table, IPv6 has none.
      expect(f.parseCache(catProc(ns, f.procCache))).toEqual([]);
      expect(f.parseVif(catProc(ns, f.procVif)).map((v) => v.name)).toEqual(["a0"]);
      expect(t7.dumpVifs()?.map((v) => v.vif)).toEqual(f.name === "ipv4" ? [0, 1] : undefined);
      expect(main.dumpVifs()?.map((v) => v.name)).toEqual(["a0"]);
      // Closing one table leaves the other alone.
      t7.close();
      main.addMfc(SRC, f.tableGroup2, 0, new Map());
      expect([...main.dumpMfc().keys()]).toEqual([`${SRC}|${f.tableGroup2}`]);
    });

    it("the other family's default table id is just another table here", async () => {
      const { ns } = await router(1);
      const other = openIn(ns, { table: f.otherDefaultTable });
      expect(other.kernelTable).toBe(f.otherDefaultTable);
      expect(other.dumpVifs()).toEqual(f.name === "ipv4" ? [] : undefined);
    });

    it.runIf(ipv6)("traffic steered into another table by an mrule counts only there", async () => {
      const { r, h, v, s: main } = await trafficLab();
      const t7 = openIn(r, { table: 7 });
      t7.addVif(0, linkIndex(r, "a0"));
      t7.addVif(1, linkIndex(r, "a1"));
      ip("-n", r, "-6", "mrule", "add", "iif", "a0", "lookup", "7");
      t7.addMfc(SRC, GROUP, 0, new Map([[1, 1]]));
      const rx = await receiver6(v, "v0", GROUP);
      await send(f, h, SRC, "h0", GROUP, 3, 50);
      await waitFor(() => rx.count >= 3, { message: () => `receiver has ${rx.count} of 3` });
      expect(t7.sgCounters(SRC, GROUP)).toEqual({ packets: 3n, bytes: 3n * (50n + f.headerBytes), wrongIf: 0n });
      expect(t7.vifCounters(1)?.outPackets).toBe(3n);
      expect(main.vifCounters(0)?.inPackets).toBe(0n);
      expect(main.dumpMfc().size).toBe(0);
    });
  });

  describe("interface resolution", () => {
    it("resolves names and indexes in the socket's namespace, not the process's", async () => {
      const x = await netns("x");
      veth(x, "x0", "x1"); // shifts the index of a0 in x
      veth(x, "a0", "b0");
      const y = await netns("y");
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

    it("undefined for unknown or unrepresentable names and indexes", async () => {
      const { s } = await router(1);
      expect(s.ifindex("nope0")).toBeUndefined();
      expect(s.ifindex("a".repeat(16))).toBeUndefined();
      expect(s.ifindex("a0\0junk")).toBeUndefined();
      expect(s.ifindex("")).toBeUndefined();
      expect(s.ifname(999_999)).toBeUndefined();
      expect(s.ifname(0)).toBeUndefined();
      expect(s.ifname(-1)).toBeUndefined();
    });
  });

  describe("VIFs (MIFs for IPv6)", () => {
    it("ADD: ENFILE at index ≥ 32, EADDRINUSE on a taken slot, EADDRNOTAVAIL for an unknown ifindex", async () => {
      const { s, idx } = await router(2);
      const [a0 = -1, a1 = -1] = idx;
      s.addVif(31, a0);
      expect(errnoOf(() => s.addVif(32, a1))).toBe("ENFILE");
      expect(errnoOf(() => s.addVif(31, a1))).toBe("EADDRINUSE");
      expect(errnoOf(() => s.addVif(0, ipv6 ? 9999 : 999_999))).toBe("EADDRNOTAVAIL");
      // IPv6: pifi is a u16; refused before the kernel could take another device.
      if (ipv6) expect(() => s.addVif(0, 65536 + a0)).toThrow(RangeError);
      // Not checked by the kernel: a second VIF on the same device.
      expect(errnoOf(() => s.addVif(1, a0))).toBeUndefined();
    });

    it("DEL: EADDRNOTAVAIL for an empty slot; the slot is reusable after delete", async () => {
      const { s, idx } = await router(1);
      const [a0 = -1] = idx;
      expect(errnoOf(() => s.delVif(0))).toBe("EADDRNOTAVAIL");
      s.addVif(0, a0);
      s.delVif(0);
      expect(errnoOf(() => s.delVif(0))).toBe("EADDRNOTAVAIL");
      s.addVif(0, a0);
    });

    it("vifCounters: zero for a new VIF, undefined for empty slots below and above the highest VIF", async () => {
      const { s, idx } = await router(2);
      s.addVif(0, idx[0] ?? -1);
      s.addVif(2, idx[1] ?? -1);
      expect(s.vifCounters(0)).toEqual({ inPackets: 0n, inBytes: 0n, outPackets: 0n, outBytes: 0n });
      expect(s.vifCounters(1)).toBeUndefined(); // kernel: EADDRNOTAVAIL
      expect(s.vifCounters(3)).toBeUndefined(); // kernel: EINVAL (≥ maxvif)
      expect(s.vifCounters(32)).toBeUndefined();
      expect(s.vifCounters(-1)).toBeUndefined();
    });

    it("dumpVifs agrees with what was added and with /proc", async () => {
      const { ns, s, idx } = await router(3);
      s.addVif(0, idx[0] ?? -1);
      s.addVif(4, idx[2] ?? -1);
      const vifs = s.dumpVifs();
      expect(vifs?.map((v) => [v.vif, v.name, v.ifindex])).toEqual([
        [0, "a0", idx[0]],
        [4, "a2", idx[2]],
      ]);
      const comparable = f.procVifHasIfindex ? vifs : vifs?.map(({ ifindex: _, ...v }) => v);
      expect(comparable).toEqual(procVifs(f, ns));
    });
  });

  describe("MFC", () => {
    it("ADD_MFC: ENFILE for parent ≥ 32, EINVAL for a non-multicast group; oifs on missing VIFs dropped", async () => {
      const { s, idx } = await router(2);
      s.addVif(0, idx[0] ?? -1);
      s.addVif(1, idx[1] ?? -1);
      expect(errnoOf(() => s.addMfc(SRC, GROUP, 32, new Map()))).toBe("ENFILE");
      expect(errnoOf(() => s.addMfc(SRC, f.unicastGroup, 0, new Map()))).toBe("EINVAL");
      s.addMfc(
        SRC,
        GROUP,
        0,
        new Map([
          [1, 1],
          [7, 1],
        ]),
      );
      expect(s.dumpMfc().get(`${SRC}|${GROUP}`)?.oifs).toEqual(new Map([[1, 1]]));
    });

    it.runIf(ipv6)("a TTL threshold other than 1 cannot be expressed: a clear error, nothing sent to the kernel", async () => {
      const { s, idx } = await router(2);
      s.addVif(0, idx[0] ?? -1);
      s.addVif(1, idx[1] ?? -1);
      for (const ttl of [0, 2, 64, 255]) {
        const err = (() => {
          try {
            s.addMfc(SRC, GROUP, 0, new Map([[1, ttl]]));
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        expect(err).toBeInstanceOf(Ipv6ThresholdError);
        expect(err).toBeInstanceOf(RangeError);
        expect(err).toMatchObject({ vif: 1, threshold: ttl });
        expect(String(err)).toMatch(/cannot carry a TTL threshold.*use 1/);
      }
      expect(s.dumpMfc().size).toBe(0);
      // Addresses that are not IPv6, and oif MIFs beyond the bitmap, are refused before the kernel too.
      expect(() => s.addMfc("10.0.0.2", GROUP, 0, new Map())).toThrow(RangeError);
      expect(() => s.addMfc(SRC, "fe80::1%a0", 0, new Map())).toThrow(RangeError);
      expect(() => s.addMfc(SRC, GROUP, 0, new Map([[32, 1]]))).toThrow(RangeError);
      expect(s.dumpMfc().size).toBe(0);
    });

    it("DEL_MFC: ENOENT for a missing (S,G); sgCounters → undefined for it", async () => {
      const { s, idx } = await router(1);
      s.addVif(0, idx[0] ?? -1);
      expect(errnoOf(() => s.delMfc(SRC, GROUP))).toBe("ENOENT");
      expect(s.sgCounters(SRC, GROUP)).toBeUndefined();
      s.addMfc(SRC, GROUP, 0, new Map());
      expect(s.sgCounters(SRC, GROUP)).toEqual({ packets: 0n, bytes: 0n, wrongIf: 0n });
      s.delMfc(SRC, GROUP);
      expect(s.sgCounters(SRC, GROUP)).toBeUndefined();
      expect(errnoOf(() => s.delMfc(SRC, GROUP))).toBe("ENOENT");
    });

    it("dumpMfc agrees with what was added and with /proc read via ip netns exec; keys are canonical", async () => {
      const { ns, s, idx } = await router(3);
      idx.forEach((ifindex, vif) => s.addVif(vif, ifindex));
      for (const [source, group, parent, oifs] of f.dumpEntries) s.addMfc(source, group, parent, oifs);
      const dump = s.dumpMfc();
      expect([...dump.keys()].sort()).toEqual([...f.dumpKeys].sort());
      f.dumpKeys.forEach((key, i) => {
        const [source = "", group = ""] = key.split("|");
        const [, , parent, oifs] = f.dumpEntries[i] ?? [];
        expect(dump.get(key)).toMatchObject({ source, group, parent, oifs });
      });
      const viaCat = new Map(f.parseCache(catProc(ns, f.procCache)).map(({ unresolved: _, ...e }) => [`${e.source}|${e.group}`, e]));
      expect(dump).toEqual(viaCat);
      if (ipv6) {
        // Lookups with another spelling of the same address hit the same entry.
        expect(s.sgCounters("fd00:1:0:0:0:0:0:2", "ff3e::4321")).toEqual({ packets: 0n, bytes: 0n, wrongIf: 0n });
        expect(canonicalIpv6("FD00:0001:0000::0002")).toBe(SRC);
      }
      // Fresh content on every call.
      s.delMfc(...f.dumpDelete);
      expect(s.dumpMfc().size).toBe(2);
    });

    it("a VIF of another socket's table shows as FOREIGN_VIF_BASE + ifindex; a deleted oif VIF disappears", async () => {
      const { s, idx } = await router(3);
      const [a0 = -1, a1 = -1, a2 = -1] = idx;
      s.addVif(0, a0);
      s.addVif(1, a1);
      s.addVif(2, a2);
      s.addMfc(SRC, GROUP, 0, new Map([[1, 1], [2, 1]]));
      s.delVif(2);
      expect(s.dumpMfc().get(`${SRC}|${GROUP}`)?.oifs).toEqual(new Map([[1, 1]]));
      s.delVif(0);
      expect(s.dumpMfc().get(`${SRC}|${GROUP}`)?.parent).toBe(FOREIGN_VIF_BASE);
    });

    it("dumpMfc re-reads large tables completely (many dump parts)", async () => {
      const { s, idx } = await router(2);
      s.addVif(0, idx[0] ?? -1);
      s.addVif(1, idx[1] ?? -1);
      const oifs = new Map([[1, 1]]);
      for (let i = 1; i <= 3000; i++) s.addMfc(f.manySource(i), f.manyGroup, 0, oifs);
      expect(s.dumpMfc().size).toBe(3000);
      for (let i = 1; i <= 1000; i++) s.delMfc(f.manySource(i), f.manyGroup);
      const dump = s.dumpMfc();
      expect(dump.size).toBe(2000);
      expect(dump.has(`${f.manySource(1000)}|${f.manyGroup}`)).toBe(false);
      expect(dump.get(`${f.manySource(3000)}|${f.manyGroup}`)?.oifs).toEqual(oifs);
    });
  });

  describe("with traffic", () => {
    it("counters via ioctl, netlink and /proc agree; ADD_MFC replaces in place keeping them", async () => {
      const { r, h, v, s } = await trafficLab();
      const rx = ipv6 ? await receiver6(v, "v0", GROUP) : undefined;
      s.addMfc(SRC, GROUP, 0, new Map([[1, 1]]));
      await send(f, h, SRC, "h0", GROUP, 5, 100);
      await waitFor(() => s.vifCounters(1)?.outPackets === 5n, { message: () => `out ${s.vifCounters(1)?.outPackets} of 5` });
      if (rx) await waitFor(() => rx.count >= 5, { message: () => `receiver has ${rx.count} of 5` });
      const wire = 100n + f.headerBytes; // the kernel counts the IP and UDP headers
      expect(s.sgCounters(SRC, GROUP)).toEqual({ packets: 5n, bytes: 5n * wire, wrongIf: 0n });
      expect(s.vifCounters(0)).toMatchObject({ inPackets: 5n, inBytes: 5n * wire });
      expect(s.vifCounters(1)).toMatchObject({ outPackets: 5n, outBytes: 5n * wire });
      expect(s.dumpMfc().get(`${SRC}|${GROUP}`)?.counters).toEqual(s.sgCounters(SRC, GROUP));
      expect(s.dumpVifs()?.map((m) => m.counters)).toEqual([s.vifCounters(0), s.vifCounters(1)]);
      expect(f.parseCache(catProc(r, f.procCache))).toMatchObject([
        { source: SRC, group: GROUP, parent: 0, oifs: new Map([[1, 1]]), counters: { packets: 5n, bytes: 5n * wire } },
      ]);
      let packets = 5n;
      if (rx) {
        // Hop limit 1 is never forwarded (threshold 1 means hop limit > 1); one hop-limit-8
        // packet behind them is the barrier: once it arrived, the others went through the router too.
        await send(f, h, SRC, "h0", GROUP, 3, 100, 1);
        await send(f, h, SRC, "h0", GROUP, 1, 100);
        await waitFor(() => rx.count >= 6, { message: () => `receiver has ${rx.count} of 6` });
        expect(rx.count).toBe(6);
        expect(s.vifCounters(1)?.outPackets).toBe(6n);
        expect(s.sgCounters(SRC, GROUP)?.packets).toBe(9n); // counted, just not sent on
        packets = 9n;
      }
      const sent = s.vifCounters(1)?.outPackets;

      // Replace in place: no oifs now (a stop filter still counts), counters kept.
      s.addMfc(SRC, GROUP, 0, new Map());
      expect(s.sgCounters(SRC, GROUP)?.packets).toBe(packets);
      await send(f, h, SRC, "h0", GROUP, 2, 100);
      await waitFor(() => s.sgCounters(SRC, GROUP)?.packets === packets + 2n);
      expect(s.vifCounters(1)?.outPackets).toBe(sent);
      expect(f.parseCache(catProc(r, f.procCache)).find((e) => e.group === GROUP)).toMatchObject({
        parent: 0,
        oifs: new Map(),
        counters: { packets: packets + 2n },
      });
    });

    it.runIf(ipv6)("delMfc and delVif stop forwarding", async () => {
      const { h, v, s } = await trafficLab();
      const rx = await receiver6(v, "v0", GROUP);
      s.addMfc(SRC, GROUP, 0, new Map([[1, 1]]));
      await send(f, h, SRC, "h0", GROUP, 2, 10);
      await waitFor(() => rx.count >= 2);

      // Without the entry the kernel queues the packets and asks for a route (NOCACHE).
      s.delMfc(SRC, GROUP);
      drain(f, s);
      await send(f, h, SRC, "h0", GROUP, 1, 10);
      await waitFor(() => drain(f, s).some((d) => d.msg?.msgtype === f.nocache));
      expect(s.vifCounters(1)?.outPackets).toBe(2n);

      // Re-adding releases the queued packet; then dropping the oif MIF stops forwarding again.
      s.addMfc(SRC, GROUP, 0, new Map([[1, 1]]));
      await waitFor(() => rx.count >= 3, { message: () => `receiver has ${rx.count} of 3` });
      s.delVif(1);
      expect(s.dumpMfc().get(`${SRC}|${GROUP}`)?.oifs).toEqual(new Map());
      await send(f, h, SRC, "h0", GROUP, 2, 10);
      // The new entry counts the released packet and the two that went nowhere.
      await waitFor(() => s.sgCounters(SRC, GROUP)?.packets === 3n);
      expect(rx.count).toBe(3);
      expect(s.vifCounters(1)).toBeUndefined();
    });

    it("unknown (S,G): one NOCACHE upcall (IPv6: nothing else on the socket); unresolved entry in /proc but not in dumpMfc", async () => {
      const { r, h, s } = await trafficLab();
      await send(f, h, SRC, "h0", f.unknownGroup, 2, 10);
      const reads = await waitFor(() => {
        // IPv4 reads IGMP next to the upcalls; IPv6's ICMP6_FILTER lets only upcalls through.
        const d = drain(f, s).filter((x) => ipv6 || x.msg !== undefined);
        return d.length > 0 ? d : undefined;
      });
      expect(reads.map((d) => d.msg)).toEqual([{ msgtype: f.nocache, vif: 0, source: SRC, group: f.unknownGroup }]);
      // IPv6 (Linux 6.18) hands out 80 bytes: the mrt6msg and 40 bytes that are not part of it.
      expect(reads[0]?.n).toBeGreaterThanOrEqual(f.upcallSize);
      expect(f.parseCache(catProc(r, f.procCache))).toMatchObject([
        { source: SRC, group: f.unknownGroup, parent: -1, unresolved: true },
      ]);
      expect(s.dumpMfc().size).toBe(0);
      expect(s.sgCounters(SRC, f.unknownGroup)).toBeUndefined();
    });

    it.runIf(ipv6)("receiveIcmpv6 lets ICMPv6 (MLD) through next to upcalls; decodeUpcall skips it", async () => {
      const r = await netns("r");
      const v = await netns("v");
      veth(r, "a1", "v0", v);
      const s = openIn(r, { receiveIcmpv6: true });
      s.addVif(1, linkIndex(r, "a1"));
      await receiver6(v, "v0", GROUP); // its MLD report arrives on the MIF
      const icmp = await waitFor(() => drain(f, s).find((d) => d.msg === undefined));
      expect(icmp.n).toBeGreaterThan(0);
    });
  });

  describe("close", () => {
    it("close removes every VIF and entry it wrote (static ones too), then DONE; idempotent; later calls throw EBADF", async () => {
      const { ns, s, idx } = await router(2);
      s.addVif(0, idx[0] ?? -1);
      s.addVif(1, idx[1] ?? -1);
      s.addMfc(SRC, GROUP, 0, new Map([[1, 1]]));
      s.setAssert(true);
      s.setAssert(false);
      expect(f.parseCache(catProc(ns, f.procCache))).toHaveLength(1);
      const fds = openFdCount();
      s.close();
      expect(openFdCount()).toBe(fds - 4); // socket, static writer, netlink dump socket, the /proc VIF file
      expect(f.parseCache(catProc(ns, f.procCache))).toEqual([]);
      expect(f.parseVif(catProc(ns, f.procVif))).toEqual([]);
      s.close();
      s.done();
      expect(s.fd).toBe(-1);
      expect(errnoOf(() => s.addVif(0, idx[0] ?? -1))).toBe("EBADF");
      expect(errnoOf(() => s.sgCounters(SRC, GROUP))).toBe("EBADF");
      expect(errnoOf(() => s.dumpMfc())).toBe("EBADF");
      // The table is free again.
      openIn(ns).addVif(0, idx[0] ?? -1);
    });

    it("VIFs and entries written on the default table are static: close({ keepForwarding }) leaves them with their counters, the next socket sees them as leftovers", async () => {
      const { r, h, s } = await trafficLab();
      s.addMfc(SRC, GROUP, 0, new Map([[1, 1]]));
      const dynamicGroup = f.name === "ipv6" ? "ff0e::1:2" : "239.77.0.2";
      s.addMfc(SRC, dynamicGroup, 0, new Map([[1, 1]]), true); // learned entries: dynamic
      expect(s.survives).toBe(true);
      const flags = f.parseVif(catProc(r, f.procVif)).map((v) => v.flags & 0x8000);
      expect(flags, "VIFF_STATIC on both VIFs").toEqual([0x8000, 0x8000]);
      await send(f, h, SRC, "h0", GROUP, 5, 100);
      await waitFor(() => (s.sgCounters(SRC, GROUP)?.packets ?? 0n) >= 5n, { message: "counted" });
      s.close({ keepForwarding: true });
      const left = f.parseCache(catProc(r, f.procCache));
      expect(left.map((e) => e.group), "the static entry stays, the dynamic one went").toEqual([GROUP]);
      const next = openIn(r);
      expect(next.leftoverVifs()?.map((v) => [v.vif, v.name])).toEqual([
        [0, "a0"],
        [1, "a1"],
      ]);
      expect(next.sgCounters(SRC, GROUP)?.packets, "counters kept").toBeGreaterThanOrEqual(5n);
      next.adoptVif(0, linkIndex(r, "a0"));
      next.adoptVif(1, linkIndex(r, "a1"));
      expect(next.dumpMfc().get(`${SRC}|${GROUP}`)).toMatchObject({ parent: 0, oifs: new Map([[1, 1]]) });
      next.close(); // adopted, so removed by a plain close
      expect(f.parseCache(catProc(r, f.procCache))).toEqual([]);
      expect(f.parseVif(catProc(r, f.procVif))).toEqual([]);
    });

    it("on another table: IPv4 writes static (its VIFs are read back from the RTNL_FAMILY_IPMR link dump) and the next socket sees them as leftovers; IPv6 has no such dump, so the owner writes and close removes everything", async () => {
      const ns = await netns("r");
      veth(ns, "a0", "b0");
      const s = openIn(ns, { table: 7 });
      const readable = f.name === "ipv4";
      expect(s.survives).toBe(readable);
      expect(s.leftoverVifs()).toEqual(readable ? [] : undefined);
      s.addVif(0, linkIndex(ns, "a0"));
      s.addMfc(SRC, GROUP, 0, new Map());
      s.close({ keepForwarding: true });
      const again = openIn(ns, { table: 7 });
      if (!readable) {
        expect(again.dumpMfc().size).toBe(0);
        return;
      }
      expect(again.leftoverVifs()?.map((v) => [v.vif, v.name, v.flags & 0x8000])).toEqual([[0, "a0", 0x8000]]);
      again.adoptVif(0, linkIndex(ns, "a0"));
      expect(again.dumpMfc().get(`${SRC}|${GROUP}`)).toMatchObject({ parent: 0 });
      again.close(); // adopted, so removed by a plain close
      expect(openIn(ns, { table: 7 }).leftoverVifs()).toEqual([]);
    });

    it("FLUSH clears VIFs and entries", async () => {
      const { s, idx } = await router(1);
      s.addVif(0, idx[0] ?? -1);
      s.addMfc(SRC, GROUP, 0, new Map());
      s.flush(f.flushAll);
      expect(s.dumpMfc().size).toBe(0);
      expect(s.dumpVifs()).toEqual([]);
    });
  });
});

// kernel-needs: ipv4 tables ipv6 ipv6-tables
// Experiment 5 (issue 12, hitless restart): VIFs and MFC entries written through a raw IGMP socket
// that did NOT call MRT_INIT are static — they outlive the MRT_INIT owner's exit with their
// counters, forward again as soon as a new owner calls MRT_INIT, and only MRT_FLUSH with the
// *_STATIC flags removes them. Measured for IPv4 and IPv6 (MRT6_*: the same option numbers on a
// raw ICMPv6 socket), each in the default table and in table 7 (MRT_TABLE on both sockets, an
// mrule sends in0's traffic there), without mfcd: the sockets are opened here, inside the router
// namespace.
//
//   src (eth0 10.k.0.2) —in0— router (owner + static writer sockets) —out1— rcv1
import { afterEach, describe, expect, it } from "vitest";
import {
  IPV4_STRUCTS,
  IPV6_STRUCTS,
  MRT_ADD_MFC,
  MRT_ADD_VIF,
  MRT_FLUSH,
  MRT_FLUSH_MFC,
  MRT_FLUSH_MFC_STATIC,
  MRT_FLUSH_VIFS,
  MRT_FLUSH_VIFS_STATIC,
  MRT_INIT,
  MRT_TABLE,
  VIFF_STATIC,
  VIFF_USE_IFINDEX,
  encodeMfcctl,
  encodeVifctl,
  type MrouteStructs,
} from "../../src/kernel/abi/index.js";
import {
  AF_INET,
  AF_INET6,
  IPPROTO_ICMPV6,
  IPPROTO_IGMP,
  IPPROTO_IP,
  IPPROTO_IPV6,
  KernelError,
  SOCK_CLOEXEC,
  SOCK_RAW,
  close,
  inNetns,
  socket,
  trySetsockopt,
} from "../../src/kernel/ffi/index.js";
import { parseIp6MrVif, parseIpMrVif } from "../../src/kernel/index.js";
import { readSysctl } from "../helpers/kernel-view.js";
import { execIn, ip } from "../helpers/netns.js";
import { addIpv6, sendMulticast6, startReceiver6 } from "../helpers/traffic6.js";
import { burst, conclude, PORT, receiver, until, withRig, type Rig } from "./kit.js";

if (process.getuid?.() !== 0) throw new Error("test/experiments needs root (network namespaces, MRT_INIT)");

const N = 20;
const int = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};

/** What differs between the families here: the socket, the option level, the names of things. */
interface Family {
  name: "IPv4" | "IPv6";
  domain: number;
  protocol: number;
  level: number;
  structs: MrouteStructs;
  ip: string[];
  sysctl: string;
  procVif: string;
  group(table: number): string;
}
const IPV4: Family = {
  name: "IPv4",
  domain: AF_INET,
  protocol: IPPROTO_IGMP,
  level: IPPROTO_IP,
  structs: IPV4_STRUCTS,
  ip: [],
  sysctl: "net.ipv4.conf.all.mc_forwarding",
  procVif: "ip_mr_vif",
  group: (table) => `239.75.${table}.1`,
};
const IPV6: Family = {
  name: "IPv6",
  domain: AF_INET6,
  protocol: IPPROTO_ICMPV6,
  level: IPPROTO_IPV6,
  structs: IPV6_STRUCTS,
  ip: ["-6"],
  sysctl: "net.ipv6.conf.all.mc_forwarding",
  procVif: "ip6_mr_vif",
  group: (table) => `ff05::75:${table}:1`,
};

/** Sockets this file opened; closed after each test even when it fails. */
const open = new Set<number>();
afterEach(() => {
  for (const fd of open) close(fd);
  open.clear();
});

function setsockopt(f: Family, fd: number, name: number, value: Buffer, what: string): void {
  const errno = trySetsockopt(fd, f.level, name, value);
  if (errno !== 0) throw new KernelError(`setsockopt(${what})`, errno);
}

/** A raw multicast-routing socket in the router's namespace, on `table` (MRT_TABLE first). */
function mrouteSocket(f: Family, rig: Rig, table: number): number {
  const fd = inNetns(`/run/netns/${rig.lab.router}`, () => socket(f.domain, SOCK_RAW | SOCK_CLOEXEC, f.protocol));
  open.add(fd);
  if (table !== 0) setsockopt(f, fd, MRT_TABLE, int(table), `MRT_TABLE ${table}`);
  return fd;
}

function owner(f: Family, rig: Rig, table: number): number {
  const fd = mrouteSocket(f, rig, table);
  setsockopt(f, fd, MRT_INIT, int(1), "MRT_INIT");
  return fd;
}

function closeSocket(fd: number): void {
  open.delete(fd);
  close(fd);
}

async function ifindex(rig: Rig, name: string): Promise<number> {
  return Number((await execIn(rig.lab.router, ["cat", `/sys/class/net/${name}/ifindex`])).trim());
}

/** Packets of the (source, group) entry in `table`, from `ip -s mroute show`; -1 when absent. */
async function entryPackets(f: Family, rig: Rig, table: number, source: string, group: string): Promise<number> {
  const text = await ip([...f.ip, "-s", "mroute", "show", ...(table === 0 ? [] : ["table", String(table)])], rig.lab.router);
  const lines = text.split("\n");
  const at = lines.findIndex((l) => l.replaceAll(" ", "").startsWith(`(${source},${group})`));
  if (at < 0) return -1;
  const m = /(\d+) packets/.exec(lines[at + 1] ?? "");
  return m ? Number(m[1]) : -1;
}

/** Which VIFs of the default table the kernel flags static, by device name. */
async function staticVifs(f: Family, rig: Rig): Promise<[string, boolean][]> {
  const text = await execIn(rig.lab.router, ["cat", `/proc/net/${f.procVif}`]);
  const rows = f === IPV4 ? parseIpMrVif(text) : parseIp6MrVif(text);
  return rows.map((v) => [v.name, (v.flags & VIFF_STATIC) !== 0]);
}

/** A receiver on out1 and a sender of numbered bursts from the source, for either family. */
async function flow(f: Family, rig: Rig, group: string) {
  const { lab } = rig;
  if (f === IPV4) {
    const rcv = await receiver(rig, group);
    const send = (firstSeq: number) => burst(rig, { group, count: N, ttl: 8, firstSeq });
    return { rcv, send, source: lab.addrs.source };
  }
  const addrs = await addIpv6(lab);
  const ns = lab.receivers[0];
  if (ns === undefined) throw new Error("no receiver namespace");
  const rcv = rig.stops.add(await startReceiver6(ns, { group, port: PORT, iface: "eth0" }));
  const send = (firstSeq: number) => sendMulticast6(lab.source, { group, port: PORT, hops: 8, source: addrs.source, iface: lab.sourceIface, count: N, firstSeq });
  return { rcv, send, source: addrs.source };
}

async function survive(f: Family, table: number): Promise<string> {
  return withRig({ receivers: 1, mfcd: false }, async (rig) => {
    const group = f.group(table);
    const { rcv, send, source } = await flow(f, rig, group);
    const first = owner(f, rig, table);
    // A non-default table is consulted only through an mrule.
    if (table !== 0) await ip([...f.ip, "mrule", "add", "iif", "in0", "lookup", String(table)], rig.lab.router);
    const writer = mrouteSocket(f, rig, table);
    for (const [vif, name] of [[0, "in0"], [1, "out1"]] as const) {
      const ctl = encodeVifctl(f.structs, { vif, ifindex: await ifindex(rig, name), ...(f === IPV4 ? { flags: VIFF_USE_IFINDEX } : {}) });
      setsockopt(f, writer, MRT_ADD_VIF, ctl, `ADD_VIF ${name}`);
    }
    setsockopt(f, writer, MRT_ADD_MFC, encodeMfcctl(f.structs, { origin: source, group, parent: 0, oifs: new Map([[1, 1]]) }), "ADD_MFC");
    closeSocket(writer);
    if (table === 0) expect(await staticVifs(f, rig)).toEqual([["in0", true], ["out1", true]]);

    // 1. Forwarded while the owner holds MRT_INIT.
    await send(0);
    await rcv.waitForCount(N);
    const before = await until("entry packets", () => entryPackets(f, rig, table, source, group), N);

    // 2. The owner exits: the entry stays, with its counter; nothing is forwarded.
    closeSocket(first);
    expect(await entryPackets(f, rig, table, source, group)).toBe(before);
    expect(await readSysctl(rig.lab.router, f.sysctl)).toBe("0");
    await send(N);

    // 3. A new owner calls MRT_INIT: the same entry forwards again, its counter continues.
    const second = owner(f, rig, table);
    expect(await readSysctl(rig.lab.router, f.sysctl)).toBe("1");
    await send(2 * N);
    await rcv.waitForCount(2 * N);
    const after = await until("entry packets", () => entryPackets(f, rig, table, source, group), before + N);
    // Same path, same order: a packet of the gap would have arrived before the third burst's.
    const { seqs } = await rcv.stop();
    const gap = seqs.filter((q) => q >= N && q < 2 * N).length;
    const resumed = seqs.filter((q) => q >= 2 * N).length;

    // 4. MRT_FLUSH with the static flags removes entry and VIFs.
    setsockopt(f, second, MRT_FLUSH, int(MRT_FLUSH_MFC | MRT_FLUSH_MFC_STATIC | MRT_FLUSH_VIFS | MRT_FLUSH_VIFS_STATIC), "FLUSH");
    expect(await entryPackets(f, rig, table, source, group)).toBe(-1);
    if (table === 0) expect(await staticVifs(f, rig)).toEqual([]);
    closeSocket(second);

    expect([gap, resumed]).toEqual([0, N]);
    return (
      `${f.name} table ${table === 0 ? "default" : table}: the static entry kept ${before} packets across the owner's exit, ` +
      `delivered ${gap}/${N} while no socket held MRT_INIT, ${resumed}/${N} under the new owner; counter ${before} → ${after}`
    );
  });
}

describe("experiment 5: static MFC entries outlive their MRT_INIT owner", () => {
  for (const f of [IPV4, IPV6]) {
    for (const table of [0, 7]) {
      it(`${f.name} table ${table === 0 ? "default" : table}: survive the owner's exit with counters, forward again under a new owner, MRT_FLUSH *_STATIC removes them`, async () => {
        conclude(await survive(f, table));
      });
    }
  }
});

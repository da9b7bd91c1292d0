// The owner of one kernel IPv6 multicast routing table: a raw ICMPv6 socket holding MRT6_INIT.
// The IPv6 twin of MrouteSocket (mroute-socket.ts): while it is open the kernel forwards by our
// MIFs and MFC entries; when it closes (or the process dies) the kernel removes all of them.
//
// Differences to IPv4 that callers see:
//  - VIFs are "MIFs" in the kernel (mif6ctl names the device by ifindex in a u16, so devices
//    with ifindex > 65535 cannot become MIFs); the KernelPort still calls them VIFs.
//  - An MFC entry has a bitmap of output MIFs, no TTL threshold per oif: the kernel forwards a
//    packet out of every oif when its hop limit is ≥ 2 (threshold 1). addMfc() accepts only
//    threshold 1 and throws Ipv6ThresholdError for anything else, before touching the kernel.
//  - The default table's kernel id is RT6_TABLE_DFLT (254), not 253.
//  - Addresses: any IPv6 text on input; canonical RFC 5952 text on output (dumpMfc keys), see
//    ipv6-address.ts. Callers keying maps by address must canonicalise (canonicalIpv6).
//  - The socket also receives ICMPv6 (MLD reports etc.); by default an ICMP6_FILTER blocks all
//    of it, so only upcalls (which bypass the filter) queue up on the socket.

import os from "node:os";
import type { KernelMfcEntry, KernelPort, SgCounters, VifCounters } from "../engine/kernel-port.js";
import { inNetns } from "./in-netns.js";
import { KernelError } from "./kernel-error.js";
import {
  AF_INET6,
  ICMP6_FILTER,
  IPPROTO_ICMPV6,
  IPPROTO_IPV6,
  O_CLOEXEC,
  O_RDONLY,
  SOCK_CLOEXEC,
  SOCK_RAW,
  close,
  open,
  pread,
  setsockopt,
  setsockoptInt,
  socket,
  tryIoctl,
  trySetsockopt,
} from "./libc.js";
import { MfcNetlinkDumper } from "./mfc-netlink-dump.js";
import {
  MAXMIFS,
  MRT6_ADD_MFC,
  MRT6_ADD_MIF,
  MRT6_ASSERT,
  MRT6_DEL_MFC,
  MRT6_DEL_MIF,
  MRT6_DONE,
  MRT6_FLUSH,
  MRT6_FLUSH_MIFS,
  MRT6_INIT,
  MRT6_TABLE,
  RT6_TABLE_DFLT,
  SIOCGETMIFCNT_IN6,
  SIOCGETSGCNT_IN6,
  SIOCGIFINDEX,
  SIOCGIFNAME,
} from "./mroute-constants.js";
import { FOREIGN_VIF_BASE } from "./mroute-socket.js";
import {
  IFREQ_SIZE,
  decodeIfreqIndex,
  decodeIfreqName,
  encodeIfreqIndex,
  encodeIfreqName,
  ifnameLength,
} from "./mroute-structs.js";
import {
  MF6CCTL_SIZE,
  MIF6CTL_SIZE,
  SIOC_MIF_REQ6_SIZE,
  SIOC_SG_REQ6_SIZE,
  decodeSiocMifReq6,
  decodeSiocSgReq6,
  encodeIcmp6FilterBlockAll,
  encodeMf6cctl,
  encodeMif6ctl,
  encodeSiocMifReq6,
  encodeSiocSgReq6,
} from "./mroute6-structs.js";
import { type ProcMif, parseIp6MrVif } from "./proc-mroute6.js";

const { EADDRNOTAVAIL, EBADF, EINVAL, ENODEV } = os.constants.errno;

export { FOREIGN_VIF_BASE };

export interface Mroute6SocketOptions {
  /** Multicast routing table id; 0 (default) is the kernel's default IPv6 table (RT6_TABLE_DFLT). */
  table?: number;
  /** Network namespace file, e.g. /run/netns/NAME; the socket is created in it. */
  netns?: string;
  /**
   * Keep ICMPv6 (MLD reports and queries, neighbour discovery…) arriving on the socket next to
   * the upcalls, for a reader that wants them. Default false: an ICMP6_FILTER blocks every type,
   * so ICMPv6 cannot fill the receive queue and crowd out upcalls.
   */
  receiveIcmpv6?: boolean;
}

/**
 * addMfc() was asked for an oif TTL (hop-limit) threshold other than 1. IPv6 MFC entries
 * (struct mf6cctl) carry only a bitmap of output interfaces; the kernel gives every oif
 * threshold 1, i.e. packets with hop limit ≥ 2 are forwarded.
 */
export class Ipv6ThresholdError extends RangeError {
  override readonly name = "Ipv6ThresholdError";
  constructor(
    readonly vif: number,
    readonly threshold: number,
  ) {
    super(
      `IPv6 multicast routes cannot carry a TTL threshold: oif ${vif} asks for ${threshold}, but the kernel's ` +
        `IPv6 MFC (mf6cctl) has only an oif bitmap and always uses threshold 1 (hop limit ≥ 2 is forwarded); use 1`,
    );
  }
}

const NO_OIFS: readonly number[] = [];

export class Mroute6Socket implements KernelPort {
  /** The address family of this socket's tables (GetInfo lists the tables mfcd owns). */
  readonly family = "ipv6" as const;
  #fd: number;
  #closed = false;
  /** NETLINK_ROUTE socket in the socket's netns, for dumpMfc (any table). */
  readonly #dumper: MfcNetlinkDumper;
  /** /proc/net/ip6_mr_vif of the socket's netns (default table only). */
  readonly #vifFd: number | undefined;
  /** MIF → ifindex of the MIFs this socket added (and did not delete or flush); see MrouteSocket. */
  readonly #vifs = new Map<number, number>();
  readonly #mif6ctl = Buffer.alloc(MIF6CTL_SIZE);
  readonly #mf6cctl = Buffer.alloc(MF6CCTL_SIZE);
  readonly #sgReq = Buffer.alloc(SIOC_SG_REQ6_SIZE);
  readonly #mifReq = Buffer.alloc(SIOC_MIF_REQ6_SIZE);
  readonly #ifreq = Buffer.alloc(IFREQ_SIZE);
  #procBuf = Buffer.allocUnsafe(16 * 1024);

  private constructor(
    fd: number,
    /** The table id as requested; 0 means the default table. */
    readonly table: number,
    readonly netns: string | undefined,
    dumper: MfcNetlinkDumper,
    vifFd: number | undefined,
  ) {
    this.#fd = fd;
    this.#dumper = dumper;
    this.#vifFd = vifFd;
  }

  /**
   * Creates the socket (inside `netns` if given), selects `table` and takes MRT6_INIT.
   * Throws KernelError: EADDRINUSE when another IPv6 multicast router (pim6sd, smcroute, mfcd)
   * owns the table; EPERM/EACCES without CAP_NET_RAW (and CAP_NET_ADMIN for a non-default
   * table); ENOENT for a missing netns file; EINVAL for a table id ≥ 100000000 (other than 253).
   */
  static open(opts: Mroute6SocketOptions = {}): Mroute6Socket {
    const table = opts.table ?? 0;
    if (!Number.isInteger(table) || table < 0 || table > 0x7fffffff) {
      throw new RangeError(`table must be an integer in 0..2147483647, got ${table}`);
    }
    const dumpable = table === 0 || table === RT6_TABLE_DFLT;
    const fds: number[] = [];
    let dumper: MfcNetlinkDumper | undefined;
    try {
      const [fd, vifFd] = inNetns(opts.netns, () => {
        fds.push(socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6));
        dumper = MfcNetlinkDumper.open(undefined, "ipv6");
        if (dumpable) fds.push(open("/proc/thread-self/net/ip6_mr_vif", O_RDONLY | O_CLOEXEC));
        return [fds[0], fds[1]] as const;
      });
      if (fd === undefined || dumper === undefined) throw new Error("unreachable: socket() returned nothing");
      if (!opts.receiveIcmpv6) {
        setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, encodeIcmp6FilterBlockAll(), "setsockopt(ICMP6_FILTER)");
      }
      // MRT6_TABLE must precede MRT6_INIT (EBUSY afterwards).
      if (table !== 0) setsockoptInt(fd, IPPROTO_IPV6, MRT6_TABLE, table, "setsockopt(MRT6_TABLE)");
      setsockoptInt(fd, IPPROTO_IPV6, MRT6_INIT, 1, "setsockopt(MRT6_INIT)");
      return new Mroute6Socket(fd, table, opts.netns, dumper, vifFd);
    } catch (err) {
      for (const fd of fds) closeQuietly(fd);
      dumper?.close();
      throw err instanceof KernelError ? err.inTable(table) : err;
    }
  }

  /** The socket's file descriptor, -1 after close(). */
  get fd(): number {
    return this.#closed ? -1 : this.#fd;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The kernel's id of this socket's table (RT6_TABLE_DFLT for table 0). */
  get kernelTable(): number {
    return this.table === 0 ? RT6_TABLE_DFLT : this.table;
  }

  /** ifindex of `name` in the socket's netns; undefined if there is no such interface. */
  ifindex(name: string): number | undefined {
    if (ifnameLength(name) === undefined) return undefined;
    this.#check("ioctl(SIOCGIFINDEX)");
    const errno = tryIoctl(this.#fd, SIOCGIFINDEX, encodeIfreqName(name, this.#ifreq));
    if (errno === ENODEV) return undefined;
    if (errno !== 0) throw new KernelError("ioctl(SIOCGIFINDEX)", errno, name);
    return decodeIfreqIndex(this.#ifreq);
  }

  /** Name of interface `ifindex` in the socket's netns; undefined if there is none. */
  ifname(ifindex: number): string | undefined {
    if (!Number.isInteger(ifindex) || ifindex <= 0 || ifindex > 0x7fffffff) return undefined;
    this.#check("ioctl(SIOCGIFNAME)");
    const errno = tryIoctl(this.#fd, SIOCGIFNAME, encodeIfreqIndex(ifindex, this.#ifreq));
    if (errno === ENODEV) return undefined;
    if (errno !== 0) throw new KernelError("ioctl(SIOCGIFNAME)", errno, String(ifindex));
    return decodeIfreqName(this.#ifreq);
  }

  /**
   * MRT6_ADD_MIF for device `ifindex` (mif6c_pifi). Throws RangeError for an ifindex above 65535
   * (pifi is a u16; the kernel would silently take another device), KernelError ENFILE for
   * mif ≥ 32, EADDRINUSE for a taken slot, EADDRNOTAVAIL for an unknown ifindex.
   */
  addVif(vif: number, ifindex: number): void {
    const req = encodeMif6ctl({ mifi: vif, pifi: ifindex }, this.#mif6ctl);
    this.#setsockopt(MRT6_ADD_MIF, req, "setsockopt(MRT6_ADD_MIF)", vif);
    this.#vifs.set(vif, ifindex);
  }

  delVif(vif: number): void {
    // The kernel reads only mif6c_mifi (a u16) of the request.
    const req = encodeMif6ctl({ mifi: vif, pifi: 0 }, this.#mif6ctl);
    try {
      this.#setsockopt(MRT6_DEL_MIF, req, "setsockopt(MRT6_DEL_MIF)", vif);
    } catch (err) {
      if (err instanceof KernelError && err.errno === EADDRNOTAVAIL) this.#vifs.delete(vif);
      throw err;
    }
    this.#vifs.delete(vif);
  }

  /**
   * MRT6_ADD_MFC: creates or replaces in place (counters kept). `oifs` maps MIF → threshold,
   * which must be 1 for every oif (Ipv6ThresholdError otherwise; nothing is sent then).
   * RangeError for addresses that are not IPv6 or MIFs outside 0..31.
   */
  addMfc(source: string, group: string, parent: number, oifs: ReadonlyMap<number, number>): void {
    for (const [vif, ttl] of oifs) {
      if (ttl !== 1) throw new Ipv6ThresholdError(vif, ttl);
      if (!Number.isInteger(vif) || vif < 0 || vif >= MAXMIFS) {
        throw new RangeError(`oif mif must be an integer in 0..${MAXMIFS - 1}, got ${vif}`);
      }
    }
    const req = encodeMf6cctl({ origin: source, group, parent, oifs: oifs.keys() }, this.#mf6cctl);
    this.#setsockopt(MRT6_ADD_MFC, req, "setsockopt(MRT6_ADD_MFC)", source, group);
  }

  delMfc(source: string, group: string): void {
    const req = encodeMf6cctl({ origin: source, group, parent: 0, oifs: NO_OIFS }, this.#mf6cctl);
    this.#setsockopt(MRT6_DEL_MFC, req, "setsockopt(MRT6_DEL_MFC)", source, group);
  }

  sgCounters(source: string, group: string): SgCounters | undefined {
    this.#check("ioctl(SIOCGETSGCNT_IN6)");
    const errno = tryIoctl(this.#fd, SIOCGETSGCNT_IN6, encodeSiocSgReq6(source, group, this.#sgReq));
    if (errno === EADDRNOTAVAIL) return undefined;
    if (errno !== 0) throw new KernelError("ioctl(SIOCGETSGCNT_IN6)", errno, `(${source},${group})`);
    return decodeSiocSgReq6(this.#sgReq);
  }

  vifCounters(vif: number): VifCounters | undefined {
    if (!Number.isInteger(vif) || vif < 0 || vif > 0xffff) return undefined;
    this.#check("ioctl(SIOCGETMIFCNT_IN6)");
    const errno = tryIoctl(this.#fd, SIOCGETMIFCNT_IN6, encodeSiocMifReq6(vif, this.#mifReq));
    // EINVAL at or above the highest MIF in use, EADDRNOTAVAIL for an empty slot below it.
    if (errno === EADDRNOTAVAIL || errno === EINVAL) return undefined;
    if (errno !== 0) throw new KernelError("ioctl(SIOCGETMIFCNT_IN6)", errno, `mif ${vif}`);
    return decodeSiocMifReq6(this.#mifReq);
  }

  /**
   * Resolved MFC entries of this socket's table keyed `${source}|${group}` (canonical IPv6
   * text), from one rtnetlink dump. Interfaces are mapped back to this socket's MIFs exactly as
   * MrouteSocket.dumpMfc does (others: FOREIGN_VIF_BASE + ifindex). Oif thresholds are 1.
   */
  dumpMfc(): Map<string, KernelMfcEntry> {
    this.#check("netlink dump (RTM_GETROUTE)");
    const vifOf = new Map<number, number>();
    for (const [vif, ifindex] of this.#vifs) {
      const seen = vifOf.get(ifindex);
      if (seen === undefined || vif < seen) vifOf.set(ifindex, vif);
    }
    const map = new Map<string, KernelMfcEntry>();
    for (const e of this.#dumper.dump({ table: this.kernelTable })) {
      const oifs = new Map<number, number>();
      for (const [ifindex, ttl] of e.oifs) oifs.set(vifOf.get(ifindex) ?? FOREIGN_VIF_BASE + ifindex, ttl);
      map.set(`${e.source}|${e.group}`, {
        source: e.source,
        group: e.group,
        parent: vifOf.get(e.iifIndex) ?? FOREIGN_VIF_BASE + e.iifIndex,
        oifs,
        counters: { packets: e.packets, bytes: e.bytes, wrongIf: e.wrongIf },
      });
    }
    return map;
  }

  /** MIFs of the default table with their counters (from /proc); undefined for any other table. */
  dumpVifs(): ProcMif[] | undefined {
    if (this.#vifFd === undefined) return undefined;
    const mifs = parseIp6MrVif(this.#readProc(this.#vifFd, "ip6_mr_vif"));
    for (const m of mifs) m.ifindex = this.ifindex(m.name) ?? 0;
    return mifs;
  }

  /** MRT6_ASSERT: ask for MRT6MSG_WRONGMIF upcalls. */
  setAssert(on: boolean): void {
    this.#check("setsockopt(MRT6_ASSERT)");
    setsockoptInt(this.#fd, IPPROTO_IPV6, MRT6_ASSERT, on ? 1 : 0, "setsockopt(MRT6_ASSERT)");
  }

  /** MRT6_FLUSH with MRT6_FLUSH_* flags. */
  flush(flags: number): void {
    this.#check("setsockopt(MRT6_FLUSH)");
    setsockoptInt(this.#fd, IPPROTO_IPV6, MRT6_FLUSH, flags, "setsockopt(MRT6_FLUSH)");
    if (flags & MRT6_FLUSH_MIFS) this.#vifs.clear();
  }

  /**
   * MRT6_DONE and close: the kernel removes every MIF and MFC entry of this socket. Idempotent;
   * never throws.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    trySetsockopt(this.#fd, IPPROTO_IPV6, MRT6_DONE, this.#mif6ctl.subarray(0, 0));
    closeQuietly(this.#fd);
    this.#dumper.close();
    if (this.#vifFd !== undefined) closeQuietly(this.#vifFd);
    this.#vifs.clear();
  }

  /** Same as close(). */
  done(): void {
    this.close();
  }

  #check(what: string): void {
    if (this.#closed) throw new KernelError(what, EBADF, "socket closed");
  }

  #setsockopt(optname: number, req: Buffer, what: string, ...detail: (string | number)[]): void {
    this.#check(what);
    const errno = trySetsockopt(this.#fd, IPPROTO_IPV6, optname, req);
    if (errno !== 0) throw new KernelError(what, errno, detail.join(" "));
  }

  #readProc(fd: number, what: string): Buffer {
    this.#check(`pread(${what})`);
    let buf = this.#procBuf;
    let len = 0;
    for (;;) {
      if (len === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, len);
        buf = this.#procBuf = bigger;
      }
      const n = pread(fd, buf.subarray(len), len, `pread(${what})`);
      if (n === 0) break;
      len += n;
    }
    return buf.subarray(0, len);
  }
}

function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // Linux releases the fd even when close() reports an error.
  }
}

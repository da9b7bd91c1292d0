// The owner of one kernel IPv4 multicast routing table: a raw IGMP socket holding MRT_INIT.
// While it is open the kernel forwards by our VIFs and MFC entries; when it closes (or the
// process dies) the kernel removes all of them.
//
// Every call is one synchronous setsockopt/ioctl (µs) on preallocated buffers. Interface names
// are resolved with ioctls on this very socket, and the netlink socket for MFC dumps and the
// /proc VIF file are opened at open() time inside the socket's namespace, so everything refers
// to the socket's netns even when the process itself lives elsewhere.

import os from "node:os";
import type { KernelMfcEntry, KernelPort, SgCounters, VifCounters } from "../engine/kernel-port.js";
import { inNetns } from "./in-netns.js";
import { KernelError } from "./kernel-error.js";
import type { Ipv4SgCounters } from "./ipv4-sg-counters.js";
import { MfcNetlinkDumper } from "./mfc-netlink-dump.js";
import {
  AF_INET,
  IPPROTO_IGMP,
  IPPROTO_IP,
  O_CLOEXEC,
  O_RDONLY,
  SOCK_CLOEXEC,
  SOCK_RAW,
  close,
  open,
  pread,
  setsockoptInt,
  socket,
  tryIoctl,
  trySetsockopt,
} from "./libc.js";
import {
  MRT_ADD_MFC,
  MRT_ADD_VIF,
  MRT_ASSERT,
  MRT_DEL_MFC,
  MRT_DEL_VIF,
  MRT_DONE,
  MRT_FLUSH,
  MRT_FLUSH_VIFS,
  MRT_INIT,
  MRT_TABLE,
  RT_TABLE_DEFAULT,
  SIOCGETSGCNT,
  SIOCGETVIFCNT,
  SIOCGIFINDEX,
  SIOCGIFNAME,
} from "./mroute-constants.js";
import {
  IFREQ_SIZE,
  MFCCTL_SIZE,
  SIOC_SG_REQ_SIZE,
  SIOC_VIF_REQ_SIZE,
  VIFCTL_SIZE,
  decodeIfreqIndex,
  decodeIfreqName,
  decodeSiocSgReq,
  decodeSiocVifReq,
  encodeIfreqIndex,
  encodeIfreqName,
  encodeMfcctl,
  encodeSiocSgReq,
  encodeSiocVifReq,
  encodeVifctl,
  ifnameLength,
} from "./mroute-structs.js";
import { type ProcVif, parseIpMrVif } from "./proc-mroute.js";

const { EADDRNOTAVAIL, EBADF, EINVAL, ENODEV } = os.constants.errno;

export interface MrouteSocketOptions {
  /** Multicast routing table id; 0 (default) is the kernel's default table (RT_TABLE_DEFAULT). */
  table?: number;
  /** Network namespace file, e.g. /run/netns/NAME; the socket is created in it. */
  netns?: string;
}

const NO_OIFS: ReadonlyMap<number, number> = new Map();

/**
 * dumpMfc() reports an interface that is not one of this socket's VIFs as VIF
 * FOREIGN_VIF_BASE + ifindex: beyond MAXVIFS (32), so callers see "not ours" at a glance.
 * An entry whose input VIF no longer exists gets parent FOREIGN_VIF_BASE (ifindex 0).
 */
export const FOREIGN_VIF_BASE = 1000;

export class MrouteSocket implements KernelPort {
  /** The address family of this socket's tables (GetInfo lists the tables mfcd owns). */
  readonly family = "ipv4" as const;
  #fd: number;
  #closed = false;
  /** NETLINK_ROUTE socket in the socket's netns, for dumpMfc (any table). */
  readonly #dumper: MfcNetlinkDumper;
  /** /proc/net/ip_mr_vif of the socket's netns (default table only). */
  readonly #vifFd: number | undefined;
  /**
   * VIF → ifindex of the VIFs this socket added (and did not delete or flush): netlink reports
   * interfaces by ifindex, dumpMfc maps them back to VIF numbers with this. A VIF the kernel
   * removed with its interface may linger here; its ifindex is never reported again.
   */
  readonly #vifs = new Map<number, number>();
  // Preallocated request buffers: every call below is synchronous, so one of each suffices.
  readonly #vifctl = Buffer.alloc(VIFCTL_SIZE);
  readonly #mfcctl = Buffer.alloc(MFCCTL_SIZE);
  readonly #sgReq = Buffer.alloc(SIOC_SG_REQ_SIZE);
  readonly #vifReq = Buffer.alloc(SIOC_VIF_REQ_SIZE);
  readonly #ifreq = Buffer.alloc(IFREQ_SIZE);
  #procBuf = Buffer.allocUnsafe(64 * 1024);
  /** What sgCountersAll() fills (kept: sized by the last read, reused by the next). */
  #bulk: Ipv4SgCounters | undefined;

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
   * Creates the socket (inside `netns` if given), selects `table` and takes MRT_INIT.
   * Throws KernelError: EADDRINUSE when another multicast router (smcroute, pimd, igmpproxy,
   * another mfcd) owns the table; EPERM/EACCES without CAP_NET_RAW (and CAP_NET_ADMIN for a
   * non-default table); ENOENT for a missing netns file.
   */
  static open(opts: MrouteSocketOptions = {}): MrouteSocket {
    const table = opts.table ?? 0;
    if (!Number.isInteger(table) || table < 0 || table > 0x7fffffff) {
      throw new RangeError(`table must be an integer in 0..2147483647, got ${table}`);
    }
    const dumpable = table === 0 || table === RT_TABLE_DEFAULT;
    const fds: number[] = [];
    let dumper: MfcNetlinkDumper | undefined;
    try {
      const [fd, vifFd] = inNetns(opts.netns, () => {
        fds.push(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_IGMP));
        // Created on this thread while it is in the target netns (no netns argument).
        dumper = MfcNetlinkDumper.open();
        if (dumpable) {
          // /proc/thread-self/net is the calling thread's netns, fixed at open time.
          fds.push(open("/proc/thread-self/net/ip_mr_vif", O_RDONLY | O_CLOEXEC));
        }
        return [fds[0], fds[1]] as const;
      });
      if (fd === undefined || dumper === undefined) throw new Error("unreachable: socket() returned nothing");
      // MRT_TABLE must precede MRT_INIT (EBUSY afterwards).
      if (table !== 0) setsockoptInt(fd, IPPROTO_IP, MRT_TABLE, table, "setsockopt(MRT_TABLE)");
      setsockoptInt(fd, IPPROTO_IP, MRT_INIT, 1, "setsockopt(MRT_INIT)");
      return new MrouteSocket(fd, table, opts.netns, dumper, vifFd);
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

  /** ifindex of `name` in the socket's netns; undefined if there is no such interface. */
  ifindex(name: string): number | undefined {
    // Longer names would be truncated by the kernel and could match another interface.
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

  addVif(vif: number, ifindex: number): void {
    this.#setsockopt(MRT_ADD_VIF, encodeVifctl({ vifi: vif, ifindex }, this.#vifctl), "setsockopt(MRT_ADD_VIF)", vif);
    this.#vifs.set(vif, ifindex);
  }

  delVif(vif: number): void {
    try {
      this.#setsockopt(MRT_DEL_VIF, encodeVifctl({ vifi: vif, ifindex: 0 }, this.#vifctl), "setsockopt(MRT_DEL_VIF)", vif);
    } catch (err) {
      // EADDRNOTAVAIL: the slot is empty (e.g. the kernel removed the VIF with its interface).
      if (err instanceof KernelError && err.errno === EADDRNOTAVAIL) this.#vifs.delete(vif);
      throw err;
    }
    this.#vifs.delete(vif);
  }

  addMfc(source: string, group: string, parent: number, oifs: ReadonlyMap<number, number>): void {
    const req = encodeMfcctl({ origin: source, group, parent, ttls: oifs }, this.#mfcctl);
    this.#setsockopt(MRT_ADD_MFC, req, "setsockopt(MRT_ADD_MFC)", source, group);
  }

  delMfc(source: string, group: string): void {
    const req = encodeMfcctl({ origin: source, group, parent: 0, ttls: NO_OIFS }, this.#mfcctl);
    this.#setsockopt(MRT_DEL_MFC, req, "setsockopt(MRT_DEL_MFC)", source, group);
  }

  sgCounters(source: string, group: string): SgCounters | undefined {
    this.#check("ioctl(SIOCGETSGCNT)");
    const errno = tryIoctl(this.#fd, SIOCGETSGCNT, encodeSiocSgReq(source, group, this.#sgReq));
    if (errno === EADDRNOTAVAIL) return undefined;
    if (errno !== 0) throw new KernelError("ioctl(SIOCGETSGCNT)", errno, `(${source},${group})`);
    return decodeSiocSgReq(this.#sgReq);
  }

  /**
   * Counters of every resolved entry of this socket's table from one rtnetlink dump (~8 ms
   * at 10k entries against ~12 ms for 10k SIOCGETSGCNT): what ListRoutes and WatchStats use
   * when they want (nearly) every entry. The result is refilled in place by the next call
   * (WatchStats reads every second: no new arrays, no external memory churn each time).
   */
  sgCountersAll(): Ipv4SgCounters {
    this.#check("netlink dump (RTM_GETROUTE)");
    this.#bulk = this.#dumper.sgCounters(this.table === 0 ? RT_TABLE_DEFAULT : this.table, this.#bulk);
    return this.#bulk;
  }

  vifCounters(vif: number): VifCounters | undefined {
    if (!Number.isInteger(vif) || vif < 0 || vif > 0xffff) return undefined;
    this.#check("ioctl(SIOCGETVIFCNT)");
    const errno = tryIoctl(this.#fd, SIOCGETVIFCNT, encodeSiocVifReq(vif, this.#vifReq));
    // The kernel says EINVAL for an index at or above the highest VIF in use and EADDRNOTAVAIL
    // for an empty slot below it; both mean "no such VIF".
    if (errno === EADDRNOTAVAIL || errno === EINVAL) return undefined;
    if (errno !== 0) throw new KernelError("ioctl(SIOCGETVIFCNT)", errno, `vif ${vif}`);
    return decodeSiocVifReq(this.#vifReq);
  }

  /**
   * Resolved MFC entries of this socket's table keyed `${source}|${group}`, from one rtnetlink
   * dump (any table, unlike /proc). Unresolved entries, which only queue packets after an
   * upcall, are skipped. Netlink names interfaces by ifindex; they are mapped back to the VIFs
   * this socket added (the lowest VIF if two share a device). Any other interface (a VIF of
   * another socket) shows as FOREIGN_VIF_BASE + ifindex, and an input VIF that no longer exists
   * as FOREIGN_VIF_BASE: the kernel omits RTA_IIF then, so its old VIF number is unknowable.
   * Oifs are listed only for VIFs that exist (as in /proc).
   */
  dumpMfc(): Map<string, KernelMfcEntry> {
    this.#check("netlink dump (RTM_GETROUTE)");
    const vifOf = new Map<number, number>();
    for (const [vif, ifindex] of this.#vifs) {
      const seen = vifOf.get(ifindex);
      if (seen === undefined || vif < seen) vifOf.set(ifindex, vif);
    }
    const map = new Map<string, KernelMfcEntry>();
    for (const e of this.#dumper.dump({ table: this.table === 0 ? RT_TABLE_DEFAULT : this.table })) {
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

  /** VIFs of the default table with their counters; undefined for any other table. */
  dumpVifs(): ProcVif[] | undefined {
    if (this.#vifFd === undefined) return undefined;
    const vifs = parseIpMrVif(this.#readProc(this.#vifFd, "ip_mr_vif"));
    for (const v of vifs) if (v.ifindex === 0) v.ifindex = this.ifindex(v.name) ?? 0;
    return vifs;
  }

  /** MRT_ASSERT: ask for IGMPMSG_WRONGVIF upcalls (rate-limited by the kernel). */
  setAssert(on: boolean): void {
    this.#check("setsockopt(MRT_ASSERT)");
    setsockoptInt(this.#fd, IPPROTO_IP, MRT_ASSERT, on ? 1 : 0, "setsockopt(MRT_ASSERT)");
  }

  /**
   * MRT_FLUSH with MRT_FLUSH_* flags, e.g. to clear static VIFs/entries that another (non
   * MRT_INIT) socket left behind: they survive their owner and block VIF slots.
   */
  flush(flags: number): void {
    this.#check("setsockopt(MRT_FLUSH)");
    setsockoptInt(this.#fd, IPPROTO_IP, MRT_FLUSH, flags, "setsockopt(MRT_FLUSH)");
    // Our VIFs are never static (VIFF_STATIC marks VIFs of sockets without MRT_INIT).
    if (flags & MRT_FLUSH_VIFS) this.#vifs.clear();
  }

  /**
   * MRT_DONE and close: the kernel removes every VIF and MFC entry of this socket. Idempotent;
   * never throws (closing releases the table even if MRT_DONE failed).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    trySetsockopt(this.#fd, IPPROTO_IP, MRT_DONE, this.#vifctl.subarray(0, 0));
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
    // The fd number may already belong to another file: never touch it after close().
    if (this.#closed) throw new KernelError(what, EBADF, "socket closed");
  }

  #setsockopt(optname: number, req: Buffer, what: string, ...detail: (string | number)[]): void {
    this.#check(what);
    const errno = trySetsockopt(this.#fd, IPPROTO_IP, optname, req);
    if (errno !== 0) throw new KernelError(what, errno, detail.join(" "));
  }

  /**
   * Reads a whole seq_file from offset 0. pread at 0 makes the kernel restart the iteration
   * (fresh content every call); later chunks follow at their offsets, one kernel page or so
   * per call.
   */
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
    // Closing is best effort; Linux releases the fd even when close() reports an error.
  }
}

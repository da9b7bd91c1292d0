// The owner of one kernel IPv4 multicast routing table: a raw IGMP socket holding MRT_INIT.
// While it is open the kernel forwards by our VIFs and MFC entries; when it closes (or the
// process dies) the kernel removes all of them.
//
// Every call is one synchronous setsockopt/ioctl (µs) on preallocated buffers. Interface names
// are resolved with ioctls on this very socket, and the /proc dump files are opened at open()
// time inside the socket's namespace, so everything refers to the socket's netns even when the
// process itself lives elsewhere.

import os from "node:os";
import type { KernelMfcEntry, KernelPort, SgCounters, VifCounters } from "../engine/kernel-port.js";
import { inNetns } from "./in-netns.js";
import { KernelError } from "./kernel-error.js";
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
import { type ProcVif, parseIpMrVif, scanIpMrCache } from "./proc-mroute.js";

const { EADDRNOTAVAIL, EBADF, EINVAL, ENODEV } = os.constants.errno;

export interface MrouteSocketOptions {
  /** Multicast routing table id; 0 (default) is the kernel's default table (RT_TABLE_DEFAULT). */
  table?: number;
  /** Network namespace file, e.g. /run/netns/NAME; the socket is created in it. */
  netns?: string;
}

const NO_OIFS: ReadonlyMap<number, number> = new Map();

export class MrouteSocket implements KernelPort {
  #fd: number;
  #closed = false;
  /** /proc/net/ip_mr_{cache,vif} of the socket's netns (default table only). */
  readonly #cacheFd: number | undefined;
  readonly #vifFd: number | undefined;
  // Preallocated request buffers: every call below is synchronous, so one of each suffices.
  readonly #vifctl = Buffer.alloc(VIFCTL_SIZE);
  readonly #mfcctl = Buffer.alloc(MFCCTL_SIZE);
  readonly #sgReq = Buffer.alloc(SIOC_SG_REQ_SIZE);
  readonly #vifReq = Buffer.alloc(SIOC_VIF_REQ_SIZE);
  readonly #ifreq = Buffer.alloc(IFREQ_SIZE);
  #procBuf = Buffer.allocUnsafe(64 * 1024);

  private constructor(
    fd: number,
    /** The table id as requested; 0 means the default table. */
    readonly table: number,
    readonly netns: string | undefined,
    cacheFd: number | undefined,
    vifFd: number | undefined,
  ) {
    this.#fd = fd;
    this.#cacheFd = cacheFd;
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
    try {
      const [fd, cacheFd, vifFd] = inNetns(opts.netns, () => {
        fds.push(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_IGMP));
        if (dumpable) {
          // /proc/thread-self/net is the calling thread's netns, fixed at open time.
          fds.push(open("/proc/thread-self/net/ip_mr_cache", O_RDONLY | O_CLOEXEC));
          fds.push(open("/proc/thread-self/net/ip_mr_vif", O_RDONLY | O_CLOEXEC));
        }
        return [fds[0], fds[1], fds[2]] as const;
      });
      if (fd === undefined) throw new Error("unreachable: socket() returned nothing");
      // MRT_TABLE must precede MRT_INIT (EBUSY afterwards).
      if (table !== 0) setsockoptInt(fd, IPPROTO_IP, MRT_TABLE, table, "setsockopt(MRT_TABLE)");
      setsockoptInt(fd, IPPROTO_IP, MRT_INIT, 1, "setsockopt(MRT_INIT)");
      return new MrouteSocket(fd, table, opts.netns, cacheFd, vifFd);
    } catch (err) {
      for (const fd of fds) closeQuietly(fd);
      throw err;
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
  }

  delVif(vif: number): void {
    this.#setsockopt(MRT_DEL_VIF, encodeVifctl({ vifi: vif, ifindex: 0 }, this.#vifctl), "setsockopt(MRT_DEL_VIF)", vif);
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
   * Resolved MFC entries of the default table keyed `${source}|${group}` (unresolved entries,
   * which only queue packets after an upcall, are skipped); undefined for any other table,
   * which /proc does not show.
   */
  dumpMfc(): Map<string, KernelMfcEntry> | undefined {
    if (this.#cacheFd === undefined) return undefined;
    const map = new Map<string, KernelMfcEntry>();
    scanIpMrCache(this.#readProc(this.#cacheFd, "ip_mr_cache"), (e) => {
      if (!e.unresolved) map.set(`${e.source}|${e.group}`, e);
    });
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
    if (this.#cacheFd !== undefined) closeQuietly(this.#cacheFd);
    if (this.#vifFd !== undefined) closeQuietly(this.#vifFd);
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

// The owner of one kernel multicast routing table of either family: a raw socket holding
// MRT_INIT (IGMP, IPv4) or MRT6_INIT (ICMPv6, IPv6). While it is open the kernel forwards by our
// VIFs ("MIFs" for IPv6) and MFC entries. Where the VIFs can be read back (the default table,
// and every IPv4 table), VIFs and entries are written through a second socket without MRT_INIT
// (static-writer.ts), so they outlive this one and a restarted mfcd adopts them; elsewhere (and
// entries written `dynamic`) the kernel removes them when this socket closes. Everything family-specific comes from a MrouteFamily descriptor; the
// subclasses MrouteSocket and Mroute6Socket add only what truly differs.
//
// Every call is one synchronous setsockopt/ioctl (µs) on preallocated buffers. Interface names
// are resolved with ioctls on this very socket, and the netlink socket for MFC dumps and the
// /proc VIF file are opened at open() time inside the socket's namespace, so everything refers
// to the socket's netns even when the process itself lives elsewhere.

import os from "node:os";
import type { AddressFamily } from "../../address/index.js";
import { GONE_INPUT_VIF, type KernelMfcEntry, type KernelPort, type SgCounters, type VifCounters } from "../../engine/kernel-port.js";
import {
  decodeSgReq,
  decodeVifReq,
  encodeMfcctl,
  encodeSgReq,
  encodeVifctl,
  encodeVifReq,
  IFREQ_SIZE,
  decodeIfreqIndex,
  decodeIfreqName,
  encodeIfreqIndex,
  encodeIfreqName,
  ifnameLength,
  SIOCGIFINDEX,
  SIOCGIFNAME,
  VIFF_STATIC,
} from "../abi/index.js";
import {
  inNetns,
  KernelError,
  O_CLOEXEC,
  O_RDONLY,
  SOCK_CLOEXEC,
  SOCK_RAW,
  close,
  getsockoptInt,
  open,
  pread,
  setsockoptInt,
  socket,
  SOL_SOCKET,
  tryIoctl,
  trySetsockopt,
} from "../ffi/index.js";
import { MfcNetlinkDumper } from "../netlink/index.js";
import { MRT_OPTIONS, type MrouteFamily } from "./mroute-family.js";
import type { ProcVif } from "./proc-mroute.js";
import { openStaticWriter } from "./static-writer.js";

const { EACCES, EADDRNOTAVAIL, EBADF, EINVAL, ENODEV, EPERM } = os.constants.errno;

/**
 * dumpMfc() reports an interface that is not one of this socket's VIFs as VIF
 * FOREIGN_VIF_BASE + ifindex: beyond MAXVIFS (32), so callers see "not ours" at a glance.
 * An entry whose input VIF no longer exists gets parent FOREIGN_VIF_BASE (ifindex 0).
 */
export const FOREIGN_VIF_BASE = GONE_INPUT_VIF;

export interface MrouteOpenOptions {
  /** Multicast routing table id; 0 (default) is the kernel's default table of the family. */
  table?: number;
  /** false: write VIFs and entries through the MRT_INIT socket only (they end with it). Default true. */
  survive?: boolean;
  /** Network namespace file, e.g. /run/netns/NAME; the socket is created in it. */
  netns?: string;
  /**
   * An MRT_INIT socket of this (family, table) handed over by the previous mfcd (re-exec, systemd's
   * fd store): taken as it is — no MRT_INIT, the kernel never saw its owner go — and everything in
   * its table is adoptable (leftoverVifs), not only what is static.
   */
  inheritedFd?: number;
}

/** What MrouteFamilySocket.openFamily hands to a subclass constructor. */
export interface OpenedMroute {
  readonly fd: number;
  readonly table: number;
  readonly netns: string | undefined;
  readonly dumper: MfcNetlinkDumper;
  readonly vifFd: number | undefined;
  /** The static writer (tables whose VIFs can be read back to adopt: MrouteFamily.vifsOfEveryTable). */
  readonly staticFd: number | undefined;
  /** Handed over by the previous mfcd rather than opened (MrouteOpenOptions.inheritedFd). */
  readonly inherited: boolean;
}

export abstract class MrouteFamilySocket<F extends AddressFamily> implements KernelPort {
  /** The address family of this socket's tables (GetInfo lists the tables mfcd owns). */
  readonly family: F;
  /** The table id as requested; 0 means the default table. */
  readonly table: number;
  readonly netns: string | undefined;
  readonly #f: MrouteFamily<F>;
  #fd: number;
  /** Where VIFs and entries are written so that they outlive #fd; undefined: through #fd. */
  #staticFd: number | undefined;
  #closed = false;
  readonly #inherited: boolean;
  /** NETLINK_ROUTE socket in the socket's netns, for dumpMfc (any table). */
  protected readonly dumper: MfcNetlinkDumper;
  /** The family's /proc VIF file of the socket's netns (default table only). */
  readonly #vifFd: number | undefined;
  /**
   * VIF → ifindex of the VIFs this socket added (and did not delete or flush): netlink reports
   * interfaces by ifindex, dumpMfc maps them back to VIF numbers with this. A VIF the kernel
   * removed with its interface may linger here; its ifindex is never reported again.
   */
  readonly #vifs = new Map<number, number>();
  // Preallocated request buffers: every call below is synchronous, so one of each suffices.
  readonly #vifctl: Buffer;
  readonly #mfcctl: Buffer;
  readonly #sgReq: Buffer;
  readonly #vifReq: Buffer;
  readonly #ifreq = Buffer.alloc(IFREQ_SIZE);
  #procBuf: Buffer;

  protected constructor(family: MrouteFamily<F>, opened: OpenedMroute) {
    this.#f = family;
    this.family = family.family;
    this.table = opened.table;
    this.netns = opened.netns;
    this.#fd = opened.fd;
    this.dumper = opened.dumper;
    this.#vifFd = opened.vifFd;
    this.#staticFd = opened.staticFd;
    this.#inherited = opened.inherited;
    this.#vifctl = Buffer.alloc(family.structs.vifctl.size);
    this.#mfcctl = Buffer.alloc(family.structs.mfcctl.size);
    this.#sgReq = Buffer.alloc(family.structs.sgReq.size);
    this.#vifReq = encodeVifReq(family.structs, 0);
    this.#procBuf = Buffer.allocUnsafe(family.procBufferSize);
  }

  /**
   * Creates the socket (inside `netns` if given), runs `configure` on it, selects `table` and
   * takes MRT(6)_INIT. Throws KernelError: EADDRINUSE when another multicast router (smcroute,
   * pimd, pim6sd, igmpproxy, another mfcd) owns the table; EPERM/EACCES without CAP_NET_RAW (and
   * CAP_NET_ADMIN for a non-default table); ENOENT for a missing netns file; for IPv6 EINVAL for
   * a table id ≥ 100000000 (other than 253).
   */
  protected static openFamily(
    f: MrouteFamily,
    opts: MrouteOpenOptions,
    configure?: (fd: number) => void,
  ): OpenedMroute {
    const table = opts.table ?? 0;
    if (!Number.isInteger(table) || table < 0 || table > 0x7fffffff) {
      throw new RangeError(`table must be an integer in 0..2147483647, got ${table}`);
    }
    const dumpable = table === 0 || table === f.defaultTable;
    // Written static (outliving mfcd) only where the VIFs can be read back to adopt them.
    const readable = dumpable || f.vifsOfEveryTable;
    const fds: number[] = [];
    let dumper: MfcNetlinkDumper | undefined;
    try {
      const inherited = opts.inheritedFd;
      if (inherited !== undefined) checkInherited(f, inherited);
      const [fd, vifFd, staticFd] = inNetns(opts.netns, () => {
        const own = inherited ?? socket(f.domain, SOCK_RAW | SOCK_CLOEXEC, f.protocol);
        fds.push(own);
        // Created on this thread while it is in the target netns (no netns argument).
        dumper = MfcNetlinkDumper.open(undefined, f.family);
        // /proc/thread-self/net is the calling thread's netns, fixed at open time.
        const proc = dumpable ? open(`/proc/thread-self/net/${f.procVifFile}`, O_RDONLY | O_CLOEXEC) : undefined;
        if (proc !== undefined) fds.push(proc);
        const writer = readable && opts.survive !== false ? openStaticWriter(f, table) : undefined;
        if (writer !== undefined) fds.push(writer);
        return [own, proc, writer] as const;
      });
      if (fd === undefined || dumper === undefined) throw new Error("unreachable: socket() returned nothing");
      configure?.(fd);
      const p = f.optionPrefix;
      if (inherited !== undefined) {
        // Its VIFs cannot be read back outside the default table (no /proc file, no dump):
        // start that table afresh, as a restart without handoff would.
        if (!readable) setsockoptInt(fd, f.level, MRT_OPTIONS.flush, FLUSH_ALL, `setsockopt(${p}_FLUSH)`);
        return { fd, table, netns: opts.netns, dumper, vifFd, staticFd, inherited: true };
      }
      // MRT(6)_TABLE must precede MRT(6)_INIT (EBUSY afterwards).
      if (table !== 0) setsockoptInt(fd, f.level, MRT_OPTIONS.table, table, `setsockopt(${p}_TABLE)`);
      setsockoptInt(fd, f.level, MRT_OPTIONS.init, 1, `setsockopt(${p}_INIT)`);
      return { fd, table, netns: opts.netns, dumper, vifFd, staticFd, inherited: false };
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

  /** The kernel's id of this socket's table (the family's default table id for table 0). */
  get kernelTable(): number {
    return this.table === 0 ? this.#f.defaultTable : this.table;
  }

  /** ifindex of `name` in the socket's netns; undefined if there is no such interface. */
  ifindex(name: string): number | undefined {
    // Longer names would be truncated by the kernel and could match another interface.
    if (ifnameLength(name) === undefined) return undefined;
    this.check("ioctl(SIOCGIFINDEX)");
    const errno = tryIoctl(this.#fd, SIOCGIFINDEX, encodeIfreqName(name, this.#ifreq));
    if (errno === ENODEV) return undefined;
    if (errno !== 0) throw new KernelError("ioctl(SIOCGIFINDEX)", errno, name);
    return decodeIfreqIndex(this.#ifreq);
  }

  /** Name of interface `ifindex` in the socket's netns; undefined if there is none. */
  ifname(ifindex: number): string | undefined {
    if (!Number.isInteger(ifindex) || ifindex <= 0 || ifindex > 0x7fffffff) return undefined;
    this.check("ioctl(SIOCGIFNAME)");
    const errno = tryIoctl(this.#fd, SIOCGIFNAME, encodeIfreqIndex(ifindex, this.#ifreq));
    if (errno === ENODEV) return undefined;
    if (errno !== 0) throw new KernelError("ioctl(SIOCGIFNAME)", errno, String(ifindex));
    return decodeIfreqName(this.#ifreq);
  }

  /**
   * MRT(6)_ADD_VIF/MIF for device `ifindex`. Throws KernelError ENFILE for vif ≥ 32, EADDRINUSE
   * for a taken slot, EADDRNOTAVAIL for an unknown ifindex (RangeError from the codec first for
   * values it cannot encode, e.g. an IPv6 ifindex above 65535).
   */
  addVif(vif: number, ifindex: number): void {
    const req = encodeVifctl(this.#f.structs, { vif, ifindex }, this.#vifctl);
    this.#write(MRT_OPTIONS.addVif, req, this.#optName("ADD", this.#f.slotName), vif);
    this.#vifs.set(vif, ifindex);
  }

  delVif(vif: number): void {
    // The kernel reads only the slot index of the request.
    const req = encodeVifctl(this.#f.structs, { vif, ifindex: 0 }, this.#vifctl);
    try {
      this.#write(MRT_OPTIONS.delVif, req, this.#optName("DEL", this.#f.slotName), vif);
    } catch (err) {
      // EADDRNOTAVAIL: the slot is empty (e.g. the kernel removed the VIF with its interface).
      if (err instanceof KernelError && err.errno === EADDRNOTAVAIL) this.#vifs.delete(vif);
      throw err;
    }
    this.#vifs.delete(vif);
  }

  /**
   * MRT(6)_ADD_MFC: creates or replaces in place (counters kept). `oifs` maps VIF → TTL threshold.
   * `dynamic`: through the MRT_INIT socket, so the entry ends with it (learned entries). The
   * kernel never clears MFC_STATIC: an entry once written static stays static.
   */
  addMfc(source: string, group: string, parent: number, oifs: ReadonlyMap<number, number>, dynamic = false): void {
    const req = encodeMfcctl(this.#f.structs, { origin: source, group, parent, oifs }, this.#mfcctl);
    const what = this.#optName("ADD", "MFC");
    if (dynamic) this.#setsockopt(this.#fd, MRT_OPTIONS.addMfc, req, what, source, group);
    else this.#write(MRT_OPTIONS.addMfc, req, what, source, group);
  }

  delMfc(source: string, group: string): void {
    const req = encodeMfcctl(this.#f.structs, { origin: source, group, parent: 0 }, this.#mfcctl);
    this.#write(MRT_OPTIONS.delMfc, req, this.#optName("DEL", "MFC"), source, group);
  }

  sgCounters(source: string, group: string): SgCounters | undefined {
    const { request, name } = this.#f.sgCountIoctl;
    const what = `ioctl(${name})`;
    this.check(what);
    const errno = tryIoctl(this.#fd, request, encodeSgReq(this.#f.structs, source, group, this.#sgReq));
    if (errno === EADDRNOTAVAIL) return undefined;
    if (errno !== 0) throw new KernelError(what, errno, `(${source},${group})`);
    return decodeSgReq(this.#f.structs, this.#sgReq);
  }

  vifCounters(vif: number): VifCounters | undefined {
    if (!Number.isInteger(vif) || vif < 0 || vif > 0xffff) return undefined;
    const { request, name } = this.#f.vifCountIoctl;
    const what = `ioctl(${name})`;
    this.check(what);
    const errno = tryIoctl(this.#fd, request, encodeVifReq(this.#f.structs, vif, this.#vifReq));
    // The kernel says EINVAL for an index at or above the highest VIF in use and EADDRNOTAVAIL
    // for an empty slot below it; both mean "no such VIF".
    if (errno === EADDRNOTAVAIL || errno === EINVAL) return undefined;
    if (errno !== 0) throw new KernelError(what, errno, `${this.#f.slotName.toLowerCase()} ${vif}`);
    return decodeVifReq(this.#vifReq);
  }

  /**
   * Resolved MFC entries of this socket's table keyed `${source}|${group}` (IPv6 in canonical
   * text), from one rtnetlink dump (any table, unlike /proc). Unresolved entries, which only
   * queue packets after an upcall, are skipped. Netlink names interfaces by ifindex; they are
   * mapped back to the VIFs this socket added (the lowest VIF if two share a device). Any other
   * interface (a VIF of another socket) shows as FOREIGN_VIF_BASE + ifindex, and an input VIF
   * that no longer exists as FOREIGN_VIF_BASE: the kernel omits RTA_IIF then, so its old VIF
   * number is unknowable. Oifs are listed only for VIFs that exist (as in /proc).
   */
  dumpMfc(): Map<string, KernelMfcEntry> {
    this.check("netlink dump (RTM_GETROUTE)");
    const vifOf = new Map<number, number>();
    for (const [vif, ifindex] of this.#vifs) {
      const seen = vifOf.get(ifindex);
      if (seen === undefined || vif < seen) vifOf.set(ifindex, vif);
    }
    const map = new Map<string, KernelMfcEntry>();
    for (const e of this.dumper.dump({ table: this.kernelTable })) {
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

  /**
   * VIFs of the table with their counters: the default table's from /proc, any IPv4 table's from
   * the RTNL_FAMILY_IPMR link dump; undefined for IPv6's other tables. VIFs /proc shows without
   * an ifindex (IPv6 always, IPv4 without VIFF_USE_IFINDEX) are resolved by name.
   */
  dumpVifs(): ProcVif[] | undefined {
    if (this.#vifFd === undefined) {
      if (!this.#f.vifsOfEveryTable) return undefined;
      return this.dumper.vifs(this.kernelTable).map((v) => ({ ...v, name: this.ifname(v.ifindex) ?? "" }));
    }
    const vifs = this.#f.parseProcVifs(this.#readProc(this.#vifFd, this.#f.procVifFile));
    for (const v of vifs) if (v.ifindex === 0) v.ifindex = this.ifindex(v.name) ?? 0;
    return vifs;
  }

  /**
   * The VIFs a previous mfcd left: the static ones (written through its static writer), or every
   * VIF of a handed-over socket's table; undefined where VIFs cannot be read (IPv6 other tables).
   */
  leftoverVifs(): ProcVif[] | undefined {
    if (this.#inherited) return this.dumpVifs();
    // Also when this socket writes through itself (systemd's fd store): a previous mfcd's static
    // state is taken over rather than left in the way of new VIFs.
    return this.dumpVifs()?.filter((v) => (v.flags & VIFF_STATIC) !== 0);
  }

  /** MRT(6)_ASSERT: ask for WRONGVIF/WRONGMIF upcalls (rate-limited by the kernel). */
  setAssert(on: boolean): void {
    const what = `setsockopt(${this.#f.optionPrefix}_ASSERT)`;
    this.check(what);
    setsockoptInt(this.#fd, this.#f.level, MRT_OPTIONS.assert, on ? 1 : 0, what);
  }

  /**
   * MRT(6)_FLUSH with MRT(6)_FLUSH_* flags, e.g. to clear static VIFs/entries that another (non
   * MRT_INIT) socket left behind: they survive their owner and block VIF slots.
   */
  flush(flags: number): void {
    const what = `setsockopt(${this.#f.optionPrefix}_FLUSH)`;
    this.check(what);
    setsockoptInt(this.#fd, this.#f.level, MRT_OPTIONS.flush, flags, what);
    // MRT(6)_FLUSH_VIFS removes only VIFs of the owner; ours written static need *_STATIC too.
    if (flags & this.#f.flushVifs) for (const [vif] of this.#vifs) if (this.vifCounters(vif) === undefined) this.#vifs.delete(vif);
  }

  /**
   * MRT(6)_DONE and close. The kernel removes what the owner socket wrote; the static VIFs and
   * entries this socket wrote are removed first, unless `keepForwarding` (a planned restart: the
   * next mfcd adopts them; no forwarding meanwhile, as no socket holds MRT_INIT).
   * Idempotent; never throws (closing releases the table even if MRT_DONE failed).
   */
  close(opts: { keepForwarding?: boolean; keepOwner?: boolean } = {}): void {
    if (this.#closed) return;
    if (!opts.keepForwarding && this.#staticFd !== undefined) this.#removeStatic();
    this.#closed = true;
    // keepOwner: another holder of this socket (systemd's fd store) keeps the table and what
    // the socket wrote; MRT_DONE would release them for every holder.
    if (!opts.keepOwner) trySetsockopt(this.#fd, this.#f.level, MRT_OPTIONS.done, this.#vifctl.subarray(0, 0));
    closeQuietly(this.#fd);
    if (this.#staticFd !== undefined) closeQuietly(this.#staticFd);
    this.#staticFd = undefined;
    this.dumper.close();
    if (this.#vifFd !== undefined) closeQuietly(this.#vifFd);
    this.#vifs.clear();
  }

  /** Best effort: every entry entering through one of our VIFs, then the VIFs. */
  #removeStatic(): void {
    const ours = new Set(this.#vifs.keys());
    try {
      for (const e of this.dumpMfc().values()) {
        if (!ours.has(e.parent)) continue;
        try {
          this.delMfc(e.source, e.group);
        } catch {
          // gone meanwhile
        }
      }
    } catch {
      // no dump: the VIFs go below; entries left name no live VIF and forward nothing
    }
    for (const vif of ours) {
      try {
        this.delVif(vif);
      } catch {
        // gone with its interface
      }
    }
  }

  /** Same as close(). */
  done(): void {
    this.close();
  }

  /** Throws EBADF after close(): the fd number may already belong to another file. */
  protected check(what: string): void {
    if (this.#closed) throw new KernelError(what, EBADF, "socket closed");
  }

  /** "setsockopt(MRT6_ADD_MIF)" and the like. */
  #optName(verb: string, object: string): string {
    return `setsockopt(${this.#f.optionPrefix}_${verb}_${object})`;
  }

  #setsockopt(fd: number, optname: number, req: Buffer, what: string, ...detail: (string | number)[]): void {
    this.check(what);
    const errno = trySetsockopt(fd, this.#f.level, optname, req);
    if (errno !== 0) throw new KernelError(what, errno, detail.join(" "));
  }

  /** A VIF or entry write: through the static writer, or #fd when there is none or it lacks CAP_NET_ADMIN. */
  #write(optname: number, req: Buffer, what: string, ...detail: (string | number)[]): void {
    const staticFd = this.#staticFd;
    if (staticFd !== undefined) {
      this.check(what);
      const errno = trySetsockopt(staticFd, this.#f.level, optname, req);
      if (errno === 0) return;
      if (errno !== EPERM && errno !== EACCES) throw new KernelError(what, errno, detail.join(" "));
      // Only CAP_NET_RAW: the owner socket may still write (what it writes ends with it).
      this.#staticFd = undefined;
      closeQuietly(staticFd);
    }
    this.#setsockopt(this.#fd, optname, req, what, ...detail);
  }

  /** Whether VIFs and entries written now outlive this socket (and a restarted mfcd can adopt them). */
  get survives(): boolean {
    return this.#staticFd !== undefined && !this.#closed;
  }

  /**
   * Take over a VIF a previous mfcd left (static, found by dumpVifs()): this socket's dumpMfc()
   * then maps its interface back to `vif`. No kernel call.
   */
  adoptVif(vif: number, ifindex: number): void {
    this.#vifs.set(vif, ifindex);
  }

  /**
   * Reads a whole seq_file from offset 0. pread at 0 makes the kernel restart the iteration
   * (fresh content every call); later chunks follow at their offsets, one kernel page or so
   * per call.
   */
  #readProc(fd: number, what: string): Buffer {
    this.check(`pread(${what})`);
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

/** Every MRT(6)_FLUSH flag: entries and VIFs, dynamic and static. */
const FLUSH_ALL = 1 | 2 | 4 | 8;
const SO_DOMAIN = 39;
const SO_PROTOCOL = 38;

/** A handed socket must be a raw socket of the family's protocol (a wrong fd number would be written to otherwise). */
function checkInherited(f: MrouteFamily, fd: number): void {
  const domain = getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN, "getsockopt(SO_DOMAIN) of a handed socket");
  const protocol = getsockoptInt(fd, SOL_SOCKET, SO_PROTOCOL, "getsockopt(SO_PROTOCOL) of a handed socket");
  if (domain !== f.domain || protocol !== f.protocol) {
    throw new KernelError(`handed ${f.optionPrefix} socket`, EINVAL, `fd ${fd} is domain ${domain} protocol ${protocol}`);
  }
}

function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // Closing is best effort; Linux releases the fd even when close() reports an error.
  }
}

// One rtnetlink dump (RTM_GETROUTE, family RTNL_FAMILY_IPMR) returns every MFC entry of every
// table (or of one table) with its iif, oifs + TTL thresholds and counters, at most 32 KiB per recv().
// Unlike /proc/net/ip_mr_cache it sees every table, and with NETLINK_GET_STRICT_CHK the kernel
// walks only the table asked for. Most of a dump's time is in the kernel (it re-walks the table
// list from the start for each part); it is about as fast as reading and parsing /proc and
// cheaper than one SIOCGETSGCNT ioctl per entry (README "Measured figures in the code").
// Interfaces are reported by ifindex; callers map them to their VIFs.

import os from "node:os";
import { KernelError } from "../ffi/index.js";
import { Ipv4SgCounters } from "./ipv4-sg-counters.js";
import {
  type MfcStatsAt,
  type NetlinkMfcEntry,
  decodeIpmrLinkMessage,
  decodeMfcMessage,
  IFINFOMSG_SIZE,
  type IpmrVif,
  locateMfcStats,
  writeU16,
  writeU32,
  RTNL_FAMILY_IP6MR,
  RTA_TABLE,
  RTMSG_SIZE,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTNL_FAMILY_IPMR,
} from "../abi/index.js";
import { NetlinkRouteSocket } from "./netlink-route-socket.js";

export type { NetlinkMfcEntry } from "../abi/index.js";

const { ENOENT } = os.constants.errno;

export interface MfcDumpOptions {
  /** Only this kernel table id (RT_TABLE_DEFAULT 253 is the default table); default: all. */
  table?: number;
  /**
   * Also return unresolved entries (`unresolved: true`, no iif/oifs/counters): (S,G)s the
   * kernel has queued packets for after a NOCACHE upcall and drops after 10 s. Default false:
   * they are not routes, and SIOCGETSGCNT and /proc's resolved rows do not show them either.
   */
  includeUnresolved?: boolean;
}

/**
 * A NETLINK_ROUTE socket created in `netns` (or ours) used only for MFC dumps. Dumps are
 * synchronous: the kernel answers a dump request at once, so recv() never waits for traffic.
 */
export class MfcNetlinkDumper {
  readonly #sock: NetlinkRouteSocket;
  readonly #family: typeof RTNL_FAMILY_IPMR | typeof RTNL_FAMILY_IP6MR;

  private constructor(sock: NetlinkRouteSocket, family: "ipv4" | "ipv6") {
    this.#sock = sock;
    this.#family = family === "ipv6" ? RTNL_FAMILY_IP6MR : RTNL_FAMILY_IPMR;
  }

  /** A dumper of the IPv4 (RTNL_FAMILY_IPMR) or IPv6 (RTNL_FAMILY_IP6MR) MFC. */
  static open(netns?: string, family: "ipv4" | "ipv6" = "ipv4"): MfcNetlinkDumper {
    return new MfcNetlinkDumper(NetlinkRouteSocket.open(netns), family);
  }

  get closed(): boolean {
    return this.#sock.closed;
  }

  /** Idempotent. */
  close(): void {
    this.#sock.close();
  }

  /**
   * MFC entries of the dumper's family in kernel order (per table: hash order, then unresolved ones). Throws
   * KernelError EBADF after close().
   */
  dump(opts: MfcDumpOptions = {}): NetlinkMfcEntry[] {
    const { table, includeUnresolved = false } = opts;
    let out: NetlinkMfcEntry[] = [];
    this.forEachMessage(
      table,
      (buf, start, end) => {
        const e = decodeMfcMessage(buf, start, end, this.#family);
        if (!e || (e.unresolved && !includeUnresolved) || (table !== undefined && e.table !== table)) return;
        out.push(e);
      },
      () => (out = []),
    );
    return out;
  }

  /**
   * The VIFs of IPv4 table `table` (RT_TABLE_DEFAULT 253 for the default one) from the
   * RTNL_FAMILY_IPMR link dump, which covers every table (/proc only the default one). Empty for
   * a table that does not exist. IPv4 dumpers only.
   */
  vifs(table: number): IpmrVif[] {
    return this.vifsByTable().get(table) ?? [];
  }

  /** The VIFs of every IPv4 table by kernel table id (see vifs()). */
  vifsByTable(): Map<number, IpmrVif[]> {
    if (this.#family !== RTNL_FAMILY_IPMR) throw new TypeError("vifs() needs an IPv4 (RTNL_FAMILY_IPMR) dumper");
    const body = Buffer.alloc(IFINFOMSG_SIZE);
    body[0] = RTNL_FAMILY_IPMR;
    let out = new Map<number, IpmrVif[]>();
    this.#sock.dump(
      RTM_GETLINK,
      body,
      (type, buf, start, end) => {
        if (type !== RTM_NEWLINK) return;
        const t = decodeIpmrLinkMessage(buf, start, end);
        if (t) out.set(t.table, [...(out.get(t.table) ?? []), ...t.vifs]);
      },
      () => (out = new Map()),
    );
    return out;
  }

  /**
   * The counters of every resolved IPv4 entry of `table` (RT_TABLE_DEFAULT 253 for the
   * default one), without decoding the entries (see Ipv4SgCounters), in `into` (cleared
   * first) or a new table. IPv4 dumpers only.
   */
  sgCounters(table: number, into: Ipv4SgCounters = new Ipv4SgCounters()): Ipv4SgCounters {
    if (this.#family !== RTNL_FAMILY_IPMR) throw new TypeError("sgCounters() needs an IPv4 (RTNL_FAMILY_IPMR) dumper");
    const out = into;
    out.clear();
    const at: MfcStatsAt = { table: 0, sourceAt: -1, groupAt: -1, statsAt: -1, unresolved: false };
    this.forEachMessage(
      table,
      (buf, start, end) => {
        if (!locateMfcStats(buf, start, end, RTNL_FAMILY_IPMR, at) || at.unresolved || at.table !== table) return;
        out.addFrom(buf, at.sourceAt, at.groupAt, at.statsAt);
      },
      () => out.clear(),
    );
    return out;
  }

  /**
   * The raw RTM_NEWROUTE messages of one dump of this family's MFC (of `table` only if given;
   * without strict checking the kernel sends all tables and callers filter by table).
   * `onRestart` is called when an interrupted dump starts over. Throws KernelError EBADF
   * after close().
   */
  forEachMessage(
    table: number | undefined,
    visit: (buf: Buffer, start: number, end: number) => void,
    onRestart: () => void = () => undefined,
  ): void {
    if (table !== undefined && (!Number.isInteger(table) || table < 0 || table > 0xffffffff)) {
      throw new RangeError(`table must be an integer in 0..4294967295, got ${table}`);
    }
    // With strict checking the kernel walks only the requested table (an RTA_TABLE filter).
    const filtered = table !== undefined && this.#sock.strict;
    const body = Buffer.alloc(RTMSG_SIZE + (filtered ? 8 : 0));
    body[0] = this.#family; // rtm_family; everything else 0, as strict checking demands
    if (filtered) {
      writeU16(body, RTMSG_SIZE, 8);
      writeU16(body, RTMSG_SIZE + 2, RTA_TABLE);
      writeU32(body, RTMSG_SIZE + 4, table);
    }
    try {
      this.#sock.dump(
        RTM_GETROUTE,
        body,
        (type, buf, start, end) => {
          if (type === RTM_NEWROUTE) visit(buf, start, end);
        },
        onRestart,
      );
    } catch (err) {
      // A filtered dump of a table that does not exist (yet): it has no entries.
      if (filtered && err instanceof KernelError && err.errno === ENOENT) return;
      throw err;
    }
  }
}

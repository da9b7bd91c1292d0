// One rtnetlink dump (RTM_GETROUTE, family RTNL_FAMILY_IP6MR) of the IPv6 MFC: every entry of
// every table (or of one table) with its iif, oifs and counters. The same protocol as the IPv4
// dump (mfc-netlink-dump.ts) with 16-byte addresses; /proc/net/ip6_mr_cache shows only the
// default table, this sees them all. Interfaces are reported by ifindex.

import os from "node:os";
import { KernelError } from "./kernel-error.js";
import { RTNL_FAMILY_IP6MR } from "./mroute-constants.js";
import { type NetlinkMfc6Entry, decodeMfc6Message } from "./netlink-mfc6-codec.js";
import { writeU16, writeU32 } from "./netlink-messages.js";
import { NetlinkRouteSocket } from "./netlink-route-socket.js";
import { RTA_TABLE, RTMSG_SIZE, RTM_GETROUTE, RTM_NEWROUTE } from "./rtnetlink-constants.js";

export type { NetlinkMfc6Entry } from "./netlink-mfc6-codec.js";

const { ENOENT } = os.constants.errno;

export interface Mfc6DumpOptions {
  /** Only this kernel table id (RT6_TABLE_DFLT 254 is the default IPv6 table); default: all. */
  table?: number;
  /** Also return unresolved entries (queued packets after a NOCACHE upcall). Default false. */
  includeUnresolved?: boolean;
}

/** A NETLINK_ROUTE socket created in `netns` (or ours) used only for IPv6 MFC dumps. */
export class Mfc6NetlinkDumper {
  readonly #sock: NetlinkRouteSocket;

  private constructor(sock: NetlinkRouteSocket) {
    this.#sock = sock;
  }

  static open(netns?: string): Mfc6NetlinkDumper {
    return new Mfc6NetlinkDumper(NetlinkRouteSocket.open(netns));
  }

  get closed(): boolean {
    return this.#sock.closed;
  }

  /** Idempotent. */
  close(): void {
    this.#sock.close();
  }

  /** IPv6 MFC entries in kernel order. Throws KernelError EBADF after close(). */
  dump(opts: Mfc6DumpOptions = {}): NetlinkMfc6Entry[] {
    const { table, includeUnresolved = false } = opts;
    if (table !== undefined && (!Number.isInteger(table) || table < 0 || table > 0xffffffff)) {
      throw new RangeError(`table must be an integer in 0..4294967295, got ${table}`);
    }
    const filtered = table !== undefined && this.#sock.strict;
    const body = Buffer.alloc(RTMSG_SIZE + (filtered ? 8 : 0));
    body[0] = RTNL_FAMILY_IP6MR;
    if (filtered) {
      writeU16(body, RTMSG_SIZE, 8);
      writeU16(body, RTMSG_SIZE + 2, RTA_TABLE);
      writeU32(body, RTMSG_SIZE + 4, table);
    }
    let out: NetlinkMfc6Entry[] = [];
    try {
      this.#sock.dump(
        RTM_GETROUTE,
        body,
        (type, buf, start, end) => {
          if (type !== RTM_NEWROUTE) return;
          const e = decodeMfc6Message(buf, start, end);
          if (!e || (e.unresolved && !includeUnresolved) || (table !== undefined && e.table !== table)) return;
          out.push(e);
        },
        () => (out = []),
      );
    } catch (err) {
      // A filtered dump of a table that does not exist (yet): it has no entries.
      if (filtered && err instanceof KernelError && err.errno === ENOENT) return [];
      throw err;
    }
    return out;
  }
}

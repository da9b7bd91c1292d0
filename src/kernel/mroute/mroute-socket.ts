// The IPv4 multicast routing socket: a raw IGMP socket holding MRT_INIT (the implementation is
// MrouteFamilySocket, driven by IPV4_MROUTE below). What only IPv4 has: per-oif TTL thresholds
// (in mfcctl) and the counters of every entry in one rtnetlink dump (sgCountersAll).

import type { Ipv4SgCounters } from "../netlink/index.js";
import { AF_INET, IPPROTO_IGMP, IPPROTO_IP } from "../ffi/index.js";
import {
  MRT_FLUSH_VIFS,
  RT_TABLE_DEFAULT,
  SIOCGETSGCNT,
  SIOCGETVIFCNT,
  IPV4_STRUCTS,
} from "../abi/index.js";
import { MrouteFamilySocket, type MrouteOpenOptions } from "./mroute-family-socket.js";
import type { MrouteFamily } from "./mroute-family.js";
import { parseIpMrVif } from "./proc-mroute.js";

export type MrouteSocketOptions = MrouteOpenOptions;

/** IPv4: MRT_* at IPPROTO_IP on a raw IGMP socket, VIFs, table 0 = RT_TABLE_DEFAULT (253). */
export const IPV4_MROUTE: MrouteFamily<"ipv4"> = {
  family: "ipv4",
  domain: AF_INET,
  protocol: IPPROTO_IGMP,
  level: IPPROTO_IP,
  optionPrefix: "MRT",
  slotName: "VIF",
  flushVifs: MRT_FLUSH_VIFS,
  defaultTable: RT_TABLE_DEFAULT,
  sgCountIoctl: { request: SIOCGETSGCNT, name: "SIOCGETSGCNT" },
  vifCountIoctl: { request: SIOCGETVIFCNT, name: "SIOCGETVIFCNT" },
  procVifFile: "ip_mr_vif",
  parseProcVifs: parseIpMrVif,
  procBufferSize: 64 * 1024,
  vifsOfEveryTable: true,
  structs: IPV4_STRUCTS,
};

export class MrouteSocket extends MrouteFamilySocket<"ipv4"> {
  /** What sgCountersAll() fills (kept: sized by the last read, reused by the next). */
  #bulk: Ipv4SgCounters | undefined;

  /** Opens table `opts.table` (see MrouteFamilySocket.openFamily for the errors). */
  static open(opts: MrouteSocketOptions = {}): MrouteSocket {
    return new MrouteSocket(IPV4_MROUTE, MrouteFamilySocket.openFamily(IPV4_MROUTE, opts));
  }

  /**
   * Counters of every resolved entry of this socket's table from one rtnetlink dump (cheaper
   * than a SIOCGETSGCNT per entry, see mfc-netlink-dump.ts): what ListRoutes and WatchStats use
   * when they want (nearly) every entry. The result is refilled in place by the next call
   * (WatchStats reads every second: no new arrays, no external memory churn each time).
   */
  sgCountersAll(): Ipv4SgCounters {
    this.check("netlink dump (RTM_GETROUTE)");
    this.#bulk = this.dumper.sgCounters(this.kernelTable, this.#bulk);
    return this.#bulk;
  }
}

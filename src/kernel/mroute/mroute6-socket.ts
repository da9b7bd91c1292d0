// The IPv6 multicast routing socket: a raw ICMPv6 socket holding MRT6_INIT (the implementation
// is MrouteFamilySocket, driven by IPV6_MROUTE below). What truly differs from IPv4:
//  - VIFs are "MIFs" in the kernel (mif6ctl names the device by ifindex in a u16, so devices
//    with ifindex > 65535 cannot become MIFs); the KernelPort still calls them VIFs.
//  - An MFC entry has a bitmap of output MIFs, no TTL threshold per oif: the kernel forwards a
//    packet out of every oif when its hop limit is ≥ 2 (threshold 1). addMfc() accepts only
//    threshold 1 and throws Ipv6ThresholdError for anything else, before touching the kernel.
//  - The default table's kernel id is RT6_TABLE_DFLT (254), not 253.
//  - Addresses: any IPv6 text on input; canonical RFC 5952 text on output (dumpMfc keys), see
//    src/address/ipv6.ts. Callers keying maps by address must canonicalise (canonicalIpv6).
//  - The socket also receives ICMPv6 (MLD reports etc.); by default an ICMP6_FILTER blocks all
//    of it, so only upcalls (which bypass the filter) queue up on the socket.

import { AF_INET6, ICMP6_FILTER, IPPROTO_ICMPV6, IPPROTO_IPV6, setsockopt } from "../ffi/index.js";
import {
  MAXMIFS,
  MRT6_FLUSH_MIFS,
  RT6_TABLE_DFLT,
  SIOCGETMIFCNT_IN6,
  SIOCGETSGCNT_IN6,
  IPV6_STRUCTS,
  encodeIcmp6FilterBlockAll,
} from "../abi/index.js";
import { MrouteFamilySocket, type MrouteOpenOptions } from "./mroute-family-socket.js";
import type { MrouteFamily } from "./mroute-family.js";
import { parseIp6MrVif } from "./proc-mroute6.js";

export interface Mroute6SocketOptions extends MrouteOpenOptions {
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

/** IPv6: MRT6_* at IPPROTO_IPV6 on a raw ICMPv6 socket, MIFs, table 0 = RT6_TABLE_DFLT (254). */
export const IPV6_MROUTE: MrouteFamily<"ipv6"> = {
  family: "ipv6",
  domain: AF_INET6,
  protocol: IPPROTO_ICMPV6,
  level: IPPROTO_IPV6,
  optionPrefix: "MRT6",
  slotName: "MIF",
  flushVifs: MRT6_FLUSH_MIFS,
  defaultTable: RT6_TABLE_DFLT,
  sgCountIoctl: { request: SIOCGETSGCNT_IN6, name: "SIOCGETSGCNT_IN6" },
  vifCountIoctl: { request: SIOCGETMIFCNT_IN6, name: "SIOCGETMIFCNT_IN6" },
  procVifFile: "ip6_mr_vif",
  parseProcVifs: parseIp6MrVif,
  procBufferSize: 16 * 1024,
  vifsOfEveryTable: false,
  structs: IPV6_STRUCTS,
};

export class Mroute6Socket extends MrouteFamilySocket<"ipv6"> {
  /** Opens table `opts.table` (see MrouteFamilySocket.openFamily for the errors). */
  static open(opts: Mroute6SocketOptions = {}): Mroute6Socket {
    const opened = MrouteFamilySocket.openFamily(IPV6_MROUTE, opts, (fd) => {
      if (!opts.receiveIcmpv6) {
        setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, encodeIcmp6FilterBlockAll(), "setsockopt(ICMP6_FILTER)");
      }
    });
    return new Mroute6Socket(IPV6_MROUTE, opened);
  }

  /**
   * MRT6_ADD_MFC: `oifs` maps MIF → threshold, which must be 1 for every oif
   * (Ipv6ThresholdError otherwise; nothing is sent then). RangeError for addresses that are not
   * IPv6 or MIFs outside 0..31.
   */
  override addMfc(source: string, group: string, parent: number, oifs: ReadonlyMap<number, number>, dynamic = false): void {
    for (const [vif, ttl] of oifs) {
      if (ttl !== 1) throw new Ipv6ThresholdError(vif, ttl);
      if (!Number.isInteger(vif) || vif < 0 || vif >= MAXMIFS) {
        throw new RangeError(`oif mif must be an integer in 0..${MAXMIFS - 1}, got ${vif}`);
      }
    }
    super.addMfc(source, group, parent, oifs, dynamic);
  }
}

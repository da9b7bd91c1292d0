// The decoder of IPv6 MFC entries in rtnetlink form (struct rtmsg with rtm_family
// RTNL_FAMILY_IP6MR + attributes), for dumps (RTM_GETROUTE replies) and, later, notifications
// (RTNLGRP_IPV6_MROUTE): the kernel builds both with ip6mr_fill_mroute, which uses the same
// mr_fill_mroute as IPv4 for everything but the addresses. See netlink-mfc-codec.ts for the
// attribute list; differences here:
//   RTA_SRC, RTA_DST       16-byte addresses ("::" source for a (*,G) entry)
//   RTA_MULTIPATH          rtnh_hops is always 1: MRT6_ADD_MFC can only set threshold 1
//   rtm_table              the default table is RT6_TABLE_DFLT (254), not 253

import os from "node:os";
import { bufferToIpv6 } from "./ipv6-address.js";
import { RTNL_FAMILY_IP6MR } from "./mroute-constants.js";
import type { NetlinkMfcEntry } from "./netlink-mfc-codec.js";
import { NLA_TYPE_MASK, align4, readI32, readU16, readU32, readU64 } from "./netlink-messages.js";
import {
  RTA_DST,
  RTA_IIF,
  RTA_MFC_STATS,
  RTA_MULTIPATH,
  RTA_SRC,
  RTA_TABLE,
  RTMSG_SIZE,
  RTNH_F_UNRESOLVED,
  RTPROT_STATIC,
} from "./rtnetlink-constants.js";

/**
 * An IPv6 MFC entry as rtnetlink reports it (interfaces by ifindex); the same shape as the IPv4
 * one, with canonical IPv6 text (RFC 5952) as source and group.
 */
export type NetlinkMfc6Entry = NetlinkMfcEntry;

const RTM_FAMILY = 0;
const RTM_TABLE = 4;
const RTM_PROTOCOL = 5;
const RTM_FLAGS = 8;
const RTNEXTHOP_SIZE = 8;
const LE = os.endianness() === "LE";

/**
 * Decodes the payload buf[start, end) of an RTM_NEWROUTE / RTM_DELROUTE message; undefined if
 * it is not an RTNL_FAMILY_IP6MR route or is too short.
 */
export function decodeMfc6Message(buf: Buffer, start: number, end: number): NetlinkMfc6Entry | undefined {
  if (end - start < RTMSG_SIZE || buf[start + RTM_FAMILY] !== RTNL_FAMILY_IP6MR) return undefined;
  let table = buf[start + RTM_TABLE] ?? 0;
  let source = "::";
  let group = "::";
  let iifIndex = 0;
  const oifs = new Map<number, number>();
  let packets = 0n;
  let bytes = 0n;
  let wrongIf = 0n;
  let a = start + RTMSG_SIZE;
  while (a + 4 <= end) {
    const alen = readU16(buf, a);
    if (alen < 4 || a + alen > end) break;
    const p = a + 4;
    const pend = a + alen;
    switch (readU16(buf, a + 2) & NLA_TYPE_MASK) {
      case RTA_SRC:
        if (alen >= 20) source = bufferToIpv6(buf, p);
        break;
      case RTA_DST:
        if (alen >= 20) group = bufferToIpv6(buf, p);
        break;
      case RTA_IIF:
        if (alen >= 8) iifIndex = readU32(buf, p);
        break;
      case RTA_TABLE:
        if (alen >= 8) table = readU32(buf, p);
        break;
      case RTA_MULTIPATH:
        for (let h = p; h + RTNEXTHOP_SIZE <= pend; ) {
          const hlen = readU16(buf, h);
          if (hlen < RTNEXTHOP_SIZE || h + hlen > pend) break;
          const ifindex = readI32(buf, h + 4);
          if (!oifs.has(ifindex)) oifs.set(ifindex, buf[h + 3] ?? 0);
          h += align4(hlen);
        }
        break;
      case RTA_MFC_STATS:
        if (alen >= 28) {
          packets = counterAt(buf, p);
          bytes = counterAt(buf, p + 8);
          wrongIf = counterAt(buf, p + 16);
        }
        break;
    }
    a += align4(alen);
  }
  return {
    table,
    source,
    group,
    iifIndex,
    oifs,
    packets,
    bytes,
    wrongIf,
    unresolved: (readU32(buf, start + RTM_FLAGS) & RTNH_F_UNRESOLVED) !== 0,
    static: buf[start + RTM_PROTOCOL] === RTPROT_STATIC,
  };
}

function counterAt(buf: Buffer, off: number): bigint {
  const lo = LE ? readU32(buf, off) : readU32(buf, off + 4);
  const hi = LE ? readU32(buf, off + 4) : readU32(buf, off);
  if (hi !== 0) return readU64(buf, off);
  return lo === 0 ? 0n : BigInt(lo);
}

// The one decoder of IPv4 and IPv6 MFC entries in rtnetlink form (struct rtmsg with rtm_family
// RTNL_FAMILY_IPMR + attributes), used by both the dump (RTM_GETROUTE replies) and the monitor
// (RTM_NEWROUTE / RTM_DELROUTE notifications): the kernel builds both with the same function
// (ipmr_fill_mroute), so one decoder fits both.
//
// What the kernel puts in (net/ipv4/ipmr.c, net/ipv4/ipmr_base.c, Linux 6.x):
//   rtm_table / RTA_TABLE  table id (RTA_TABLE has all 32 bits; rtm_table is a u8)
//   rtm_protocol           RTPROT_STATIC for entries added by a socket that is not the table's
//                          MRT_INIT socket, else RTPROT_MROUTED
//   rtm_flags              RTNH_F_UNRESOLVED for an entry that only queues packets after an
//                          upcall: then no RTA_IIF, RTA_MULTIPATH or RTA_MFC_STATS follow
//   RTA_SRC, RTA_DST       source ("0.0.0.0" for a (*,G) entry) and group, network order
//   RTA_IIF                ifindex of the input VIF's device; absent when that VIF is gone
//   RTA_MULTIPATH          one struct rtnexthop per oif whose VIF exists and whose TTL
//                          threshold is below 255: rtnh_hops = threshold, rtnh_ifindex = device
//   RTA_MFC_STATS          struct rta_mfc_stats { u64 packets, bytes, wrong_if }
// Interfaces are reported by ifindex, never by VIF number: callers map them to their VIFs.

import os from "node:os";
import { bufferToIpv4 } from "../../address/index.js";
import { bufferToIpv6 } from "../../address/index.js";
import { RTNL_FAMILY_IP6MR } from "./mroute-constants.js";
import { NLA_TYPE_MASK, align4, readI32, readU16, readU32 } from "./netlink-messages.js";
import { readCounter } from "./read-counter.js";
import {
  RTA_DST,
  RTA_IIF,
  RTA_MFC_STATS,
  RTA_MULTIPATH,
  RTA_SRC,
  RTA_TABLE,
  RTMSG_SIZE,
  RTNH_F_UNRESOLVED,
  RTNL_FAMILY_IPMR,
  RTPROT_STATIC,
} from "./rtnetlink-constants.js";

/** An IPv4 MFC entry as rtnetlink reports it (interfaces by ifindex). */
export interface NetlinkMfcEntry {
  /** Kernel table id (RT_TABLE_DEFAULT 253 for the default table). */
  table: number;
  source: string;
  group: string;
  /** ifindex of the input interface; 0 when the entry is unresolved or its input VIF is gone. */
  iifIndex: number;
  /**
   * ifindex → TTL threshold of each output interface (only VIFs that exist). If two VIFs of
   * one table sit on the same device, the first (lowest VIF) wins.
   */
  oifs: Map<number, number>;
  packets: bigint;
  bytes: bigint;
  wrongIf: bigint;
  /** Waiting for a route after a NOCACHE upcall (no iif, oifs or counters). */
  unresolved: boolean;
  /** Added by a socket other than the table's MRT_INIT socket (survives that socket's close). */
  static: boolean;
}

// rtmsg field offsets.
const RTM_FAMILY = 0;
const RTM_TABLE = 4;
const RTM_PROTOCOL = 5;
const RTM_FLAGS = 8;
const LE = os.endianness() === "LE";
/** sizeof(struct rtnexthop): u16 len, u8 flags, u8 hops, int ifindex. */
const RTNEXTHOP_SIZE = 8;

/**
 * Decodes the payload buf[start, end) of an RTM_NEWROUTE / RTM_DELROUTE message; undefined if
 * it is not an RTNL_FAMILY_IPMR route (IPv6 multicast, unicast routes) or is too short.
 * On the 10k-entry dump path: one pass, no closures, shared 0n for idle counters.
 */
export function decodeMfcMessage(
  buf: Buffer,
  start: number,
  end: number,
  family: typeof RTNL_FAMILY_IPMR | typeof RTNL_FAMILY_IP6MR = RTNL_FAMILY_IPMR,
): NetlinkMfcEntry | undefined {
  if (end - start < RTMSG_SIZE || buf[start + RTM_FAMILY] !== family) return undefined;
  // IPv6 (RTNL_FAMILY_IP6MR, ip6mr_fill_mroute) differs only in the 16-byte RTA_SRC/RTA_DST;
  // its oif thresholds are always 1 and its default table is 254.
  const v6 = family === RTNL_FAMILY_IP6MR;
  const addrLen = v6 ? 20 : 8;
  const addrAt = v6 ? bufferToIpv6 : bufferToIpv4;
  let table = buf[start + RTM_TABLE] ?? 0;
  let source = v6 ? "::" : "0.0.0.0";
  let group = source;
  let iifIndex = 0;
  const oifs = new Map<number, number>();
  let packets = 0n;
  let bytes = 0n;
  let wrongIf = 0n;
  // The attribute walk of forEachNetlinkAttribute, inlined.
  let a = start + RTMSG_SIZE;
  while (a + 4 <= end) {
    const alen = readU16(buf, a);
    if (alen < 4 || a + alen > end) break;
    const p = a + 4;
    const pend = a + alen;
    switch (readU16(buf, a + 2) & NLA_TYPE_MASK) {
      case RTA_SRC:
        if (alen >= addrLen) source = addrAt(buf, p);
        break;
      case RTA_DST:
        if (alen >= addrLen) group = addrAt(buf, p);
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
          packets = readCounter(buf, p);
          bytes = readCounter(buf, p + 8);
          wrongIf = readCounter(buf, p + 16);
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

/** IPv6 MFC entries (same shape, canonical RFC 5952 addresses). */
export type NetlinkMfc6Entry = NetlinkMfcEntry;

/** decodeMfcMessage for RTNL_FAMILY_IP6MR messages. */
export function decodeMfc6Message(buf: Buffer, start: number, end: number): NetlinkMfc6Entry | undefined {
  return decodeMfcMessage(buf, start, end, RTNL_FAMILY_IP6MR);
}

/** Where one MFC message keeps what a bulk counter read needs (offsets into its buffer). */
export interface MfcStatsAt {
  table: number;
  /** Offset of RTA_SRC's / RTA_DST's address bytes, -1 when absent. */
  sourceAt: number;
  groupAt: number;
  /** Offset of struct rta_mfc_stats, -1 when absent. */
  statsAt: number;
  unresolved: boolean;
}

/**
 * decodeMfcMessage for bulk counter reads: fills `out` with offsets instead of building
 * strings, a Map and BigInts for each of 10k entries. False if buf[start, end) is not an MFC
 * message of `family`.
 */
export function locateMfcStats(
  buf: Buffer,
  start: number,
  end: number,
  family: typeof RTNL_FAMILY_IPMR | typeof RTNL_FAMILY_IP6MR,
  out: MfcStatsAt,
): boolean {
  if (end - start < RTMSG_SIZE || buf[start + RTM_FAMILY] !== family) return false;
  const addrLen = family === RTNL_FAMILY_IP6MR ? 20 : 8;
  out.table = buf[start + RTM_TABLE] ?? 0;
  out.sourceAt = -1;
  out.groupAt = -1;
  out.statsAt = -1;
  out.unresolved = (readU32(buf, start + RTM_FLAGS) & RTNH_F_UNRESOLVED) !== 0;
  // 10k messages per dump: attribute headers read byte by byte (no Buffer method calls).
  let a = start + RTMSG_SIZE;
  while (a + 4 <= end) {
    const b0 = buf[a] as number;
    const b1 = buf[a + 1] as number;
    const t0 = buf[a + 2] as number;
    const t1 = buf[a + 3] as number;
    const alen = LE ? b0 | (b1 << 8) : (b0 << 8) | b1;
    if (alen < 4 || a + alen > end) break;
    switch ((LE ? t0 | (t1 << 8) : (t0 << 8) | t1) & NLA_TYPE_MASK) {
      case RTA_SRC:
        if (alen >= addrLen) out.sourceAt = a + 4;
        break;
      case RTA_DST:
        if (alen >= addrLen) out.groupAt = a + 4;
        break;
      case RTA_TABLE:
        if (alen >= 8) out.table = readU32(buf, a + 4);
        break;
      case RTA_MFC_STATS:
        if (alen >= 28) out.statsAt = a + 4;
        break;
    }
    a += (alen + 3) & ~3;
  }
  return true;
}

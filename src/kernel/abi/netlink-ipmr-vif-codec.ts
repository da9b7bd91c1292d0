// Decoder of the IPv4 multicast routing VIF dump: RTM_GETLINK with family RTNL_FAMILY_IPMR
// answers one RTM_NEWLINK per table (struct ifinfomsg, then IFLA_AF_SPEC holding the table id and
// a nest of VIFs). Unlike /proc/net/ip_mr_vif it shows every table — what lets mfcd adopt the
// VIFs it left in a non-default IPv4 table. IPv6 has no such dump.

import { forEachNetlinkAttribute, readU16, readU32 } from "./netlink-messages.js";
import { IFINFOMSG_SIZE, RTNL_FAMILY_IPMR } from "./rtnetlink-constants.js";

const IFLA_AF_SPEC = 26;
const IPMRA_TABLE_ID = 1;
const IPMRA_TABLE_VIFS = 6;
const IPMRA_VIF = 1;
const IPMRA_VIFA_IFINDEX = 1;
const IPMRA_VIFA_VIF_ID = 2;
const IPMRA_VIFA_FLAGS = 3;
const IPMRA_VIFA_BYTES_IN = 4;
const IPMRA_VIFA_BYTES_OUT = 5;
const IPMRA_VIFA_PACKETS_IN = 6;
const IPMRA_VIFA_PACKETS_OUT = 7;

/** One VIF of one table as the dump reports it. */
export interface IpmrVif {
  vif: number;
  ifindex: number;
  /** VIFF_* (VIFF_STATIC 0x8000: written by a socket without MRT_INIT). */
  flags: number;
  counters: { inPackets: bigint; inBytes: bigint; outPackets: bigint; outBytes: bigint };
}

/** The table id and VIFs of one RTM_NEWLINK payload buf[start, end); undefined for any other message. */
export function decodeIpmrLinkMessage(buf: Buffer, start: number, end: number): { table: number; vifs: IpmrVif[] } | undefined {
  if (end - start < IFINFOMSG_SIZE || buf[start] !== RTNL_FAMILY_IPMR) return undefined;
  let table: number | undefined;
  const vifs: IpmrVif[] = [];
  forEachNetlinkAttribute(buf, start + IFINFOMSG_SIZE, end, (type, p, pend) => {
    if (type !== IFLA_AF_SPEC) return;
    forEachNetlinkAttribute(buf, p, pend, (t, q, qend) => {
      if (t === IPMRA_TABLE_ID && qend - q >= 4) table = readU32(buf, q);
      if (t !== IPMRA_TABLE_VIFS) return;
      forEachNetlinkAttribute(buf, q, qend, (v, r, rend) => {
        if (v === IPMRA_VIF) {
          const vif = decodeVif(buf, r, rend);
          if (vif) vifs.push(vif);
        }
      });
    });
  });
  return table === undefined ? undefined : { table, vifs };
}

function decodeVif(buf: Buffer, start: number, end: number): IpmrVif | undefined {
  let vif: number | undefined;
  let ifindex = 0;
  let flags = 0;
  const counters = { inPackets: 0n, inBytes: 0n, outPackets: 0n, outBytes: 0n };
  forEachNetlinkAttribute(buf, start, end, (type, p, pend) => {
    // Host order, like every netlink integer (mfcd runs on little-endian 64-bit Linux only).
    const u64 = () => (pend - p >= 8 ? buf.readBigUInt64LE(p) : 0n);
    if (type === IPMRA_VIFA_IFINDEX) ifindex = readU32(buf, p);
    else if (type === IPMRA_VIFA_VIF_ID) vif = readU32(buf, p);
    else if (type === IPMRA_VIFA_FLAGS) flags = readU16(buf, p);
    else if (type === IPMRA_VIFA_BYTES_IN) counters.inBytes = u64();
    else if (type === IPMRA_VIFA_BYTES_OUT) counters.outBytes = u64();
    else if (type === IPMRA_VIFA_PACKETS_IN) counters.inPackets = u64();
    else if (type === IPMRA_VIFA_PACKETS_OUT) counters.outPackets = u64();
  });
  return vif === undefined ? undefined : { vif, ifindex, flags, counters };
}

// Buffer codecs for the structs of the IPv6 multicast routing API, with explicit offsets
// (linux/mroute6.h, linux/in6.h; LP64). Pure: no koffi, so layouts are unit-testable.
// Addresses are network order; every other field is host order. Each encoder can write into a
// caller-owned Buffer so hot paths (counters at 10k/s) do not allocate.
//
// The big difference to IPv4: mf6cctl carries a bitmap of output MIFs (struct if_set) instead of
// a TTL threshold per output VIF. The kernel turns every set bit into threshold 1, i.e. "forward
// packets whose hop limit is ≥ 2", and nothing else can be expressed.

import type { SgCounters, VifCounters } from "../../engine/kernel-port.js";
import {
  SIOC_VIF_COUNT,
  SIOC_VIF_COUNT_SIZE,
  checkRange,
  decodeVifCountReq,
  encodeVifCountReq,
  readSgCounters,
  readU16,
  readU32,
  writeU16,
  writeU32,
} from "./struct-fields.js";
import { bufferToIpv6, ipv6ToBuffer } from "../../address/index.js";
import { MAXMIFS } from "./mroute-constants.js";

export const SOCKADDR_IN6_SIZE = 28;
export const MIF6CTL_SIZE = 12;
export const MF6CCTL_SIZE = 92;
export const SIOC_SG_REQ6_SIZE = 80;
export const SIOC_MIF_REQ6_SIZE = SIOC_VIF_COUNT_SIZE;
export const MRT6MSG_SIZE = 40;
/** struct icmp6_filter: u32 data[8], one bit per ICMPv6 type; a set bit blocks the type. */
export const ICMP6_FILTER_SIZE = 32;
/** struct if_set: IF_SETSIZE (256) bits in u32 words; only the first MAXMIFS are used. */
export const IF_SET_SIZE = 32;

/** struct sockaddr_in6 */
export const SOCKADDR_IN6 = { family: 0, port: 2, flowinfo: 4, addr: 8, scopeId: 24 } as const;
/** struct mif6ctl: mifi, flags, threshold, pifi, 2 bytes of padding, rate_limit. */
export const MIF6CTL = { mifi: 0, flags: 2, threshold: 3, pifi: 4, rateLimit: 8 } as const;
/** struct mf6cctl: two sockaddr_in6, parent, 2 bytes of padding, the if_set bitmap. */
export const MF6CCTL = { origin: 0, group: 28, parent: 56, ifset: 60 } as const;
/** struct sioc_sg_req6: counters are `unsigned long`. */
export const SIOC_SG_REQ6 = { src: 0, grp: 28, pktcnt: 56, bytecnt: 64, wrongIf: 72 } as const;
/** struct sioc_mif_req6: the layout of sioc_vif_req (mifi padded to 8). */
export const SIOC_MIF_REQ6 = { mifi: SIOC_VIF_COUNT.index, icount: 8, ocount: 16, ibytes: 24, obytes: 32 } as const;
/** struct mrt6msg: mbz, msgtype, mif, pad, src, dst. */
export const MRT6MSG = { mbz: 0, msgtype: 1, mif: 2, pad: 4, src: 8, dst: 24 } as const;

/** sockaddr_in6.sin6_family (libc.ts has it too, but this module stays free of koffi). */
const AF_INET6 = 10;

/**
 * A sockaddr_in6 for `address` (any IPv6 text, see src/address/ipv6.ts) at `offset`: family
 * AF_INET6, port, flowinfo and scope id 0. Throws RangeError for anything but an IPv6 address.
 */
export function writeSockaddrIn6(address: string, out: Buffer, offset = 0): void {
  out.fill(0, offset, offset + SOCKADDR_IN6_SIZE);
  ipv6ToBuffer(address, out, offset + SOCKADDR_IN6.addr);
  writeU16(out, offset + SOCKADDR_IN6.family, AF_INET6);
}

export interface Mif6ctlFields {
  mifi: number;
  /** ifindex of the device (mif6c_pifi, a u16: interfaces beyond 65535 cannot be MIFs). */
  pifi: number;
  /** MIFF_* flags; default 0 (a real device named by pifi). */
  flags?: number;
  /** Defaults to 1; the kernel stores it but forwards by the MFC's oif bitmap. */
  threshold?: number;
  rateLimit?: number;
}

export function encodeMif6ctl(m: Mif6ctlFields, out: Buffer = Buffer.alloc(MIF6CTL_SIZE)): Buffer {
  checkRange("mifi", m.mifi, 0xffff);
  checkRange("pifi (ifindex)", m.pifi, 0xffff);
  out.fill(0, 0, MIF6CTL_SIZE);
  writeU16(out, MIF6CTL.mifi, m.mifi);
  out[MIF6CTL.flags] = m.flags ?? 0;
  out[MIF6CTL.threshold] = m.threshold ?? 1;
  writeU16(out, MIF6CTL.pifi, m.pifi);
  writeU32(out, MIF6CTL.rateLimit, m.rateLimit ?? 0);
  return out;
}

export interface Mf6cctlFields {
  origin: string;
  group: string;
  parent: number;
  /** Output MIFs (0..31); each becomes one bit of the if_set. */
  oifs?: Iterable<number>;
}

export function encodeMf6cctl(m: Mf6cctlFields, out: Buffer = Buffer.alloc(MF6CCTL_SIZE)): Buffer {
  checkRange("parent", m.parent, 0xffff);
  out.fill(0, 0, MF6CCTL_SIZE);
  writeSockaddrIn6(m.origin, out, MF6CCTL.origin);
  writeSockaddrIn6(m.group, out, MF6CCTL.group);
  writeU16(out, MF6CCTL.parent, m.parent);
  if (m.oifs) {
    let bits = 0;
    for (const mif of m.oifs) {
      checkRange("oif mif", mif, MAXMIFS - 1);
      bits |= 1 << mif;
    }
    writeU32(out, MF6CCTL.ifset, bits >>> 0);
  }
  return out;
}

/** The output MIFs of an encoded mf6cctl, ascending. */
export function decodeMf6cctlOifs(buf: Buffer): number[] {
  const out: number[] = [];
  for (let word = 0; word < IF_SET_SIZE / 4; word++) {
    const v = readU32(buf, MF6CCTL.ifset + 4 * word);
    for (let bit = 0; bit < 32; bit++) if ((v >>> bit) & 1) out.push(word * 32 + bit);
  }
  return out;
}

export function encodeSiocSgReq6(
  source: string,
  group: string,
  out: Buffer = Buffer.alloc(SIOC_SG_REQ6_SIZE),
): Buffer {
  writeSockaddrIn6(source, out, SIOC_SG_REQ6.src);
  writeSockaddrIn6(group, out, SIOC_SG_REQ6.grp);
  out.fill(0, SIOC_SG_REQ6.pktcnt, SIOC_SG_REQ6_SIZE);
  return out;
}

export function decodeSiocSgReq6(buf: Buffer): SgCounters {
  return readSgCounters(buf, SIOC_SG_REQ6.pktcnt);
}

export function encodeSiocMifReq6(mif: number, out: Buffer = Buffer.alloc(SIOC_MIF_REQ6_SIZE)): Buffer {
  return encodeVifCountReq("mifi", mif, out);
}

export const decodeSiocMifReq6: (buf: Buffer) => VifCounters = decodeVifCountReq;

/** An icmp6_filter that blocks every ICMPv6 type (upcalls bypass the filter). */
export function encodeIcmp6FilterBlockAll(out: Buffer = Buffer.alloc(ICMP6_FILTER_SIZE)): Buffer {
  return out.fill(0xff, 0, ICMP6_FILTER_SIZE);
}

/** A kernel upcall read from the MRT6_INIT socket. */
export interface Mrt6Msg {
  /** MRT6MSG_NOCACHE, MRT6MSG_WRONGMIF, MRT6MSG_WHOLEPKT or MRT6MSG_WRMIFWHOLE. */
  msgtype: number;
  /** MIF the packet arrived on. */
  mif: number;
  /** Canonical IPv6 text. */
  source: string;
  group: string;
}

/**
 * Decodes an upcall, or returns undefined for anything else read on the socket. A raw ICMPv6
 * socket reads ICMPv6 messages without the IPv6 header, so their byte 0 is the ICMPv6 type,
 * which is never 0; an upcall has im6_mbz = 0 there.
 */
export function decodeMrt6msg(buf: Buffer): Mrt6Msg | undefined {
  if (buf.length < MRT6MSG_SIZE || buf[MRT6MSG.mbz] !== 0) return undefined;
  return {
    msgtype: buf[MRT6MSG.msgtype] ?? 0,
    mif: readU16(buf, MRT6MSG.mif),
    source: bufferToIpv6(buf, MRT6MSG.src),
    group: bufferToIpv6(buf, MRT6MSG.dst),
  };
}

// The layout of the IPv6 multicast routing structs (linux/mroute6.h, linux/in6.h; LP64), as data
// for the one codec of both families (mroute-struct-codec.ts), plus the icmp6_filter only the
// IPv6 socket sets. What only IPv6 has: addresses in the structs are sockaddr_in6, mif6ctl names
// the device by ifindex in a u16 (mif6c_pifi), and mf6cctl carries a bitmap of output MIFs
// (struct if_set) instead of a TTL threshold per output VIF: the kernel turns every set bit into
// threshold 1, i.e. "forward packets whose hop limit is ≥ 2", and nothing else can be expressed.
// Pure: no koffi.

import { MAXMIFS } from "./mroute-constants.js";
import type { MrouteStructs } from "./mroute-struct-codec.js";
import { SIOC_VIF_COUNT, checkRange, readU16, readU32, writeU16, writeU32 } from "./struct-fields.js";
import { bufferToIpv6, ipv6ToBuffer } from "../../address/index.js";

export const SOCKADDR_IN6_SIZE = 28;
export const MIF6CTL_SIZE = 12;
export const MF6CCTL_SIZE = 92;
export const SIOC_SG_REQ6_SIZE = 80;
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

/** mf6cctl's if_set: one bit per output MIF (0..31); the thresholds are not expressible. */
function writeOifBitmap(oifs: ReadonlyMap<number, number>, out: Buffer): void {
  let bits = 0;
  for (const mif of oifs.keys()) {
    checkRange("oif mif", mif, MAXMIFS - 1);
    bits |= 1 << mif;
  }
  writeU32(out, MF6CCTL.ifset, bits >>> 0);
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

/** mif6ctl's mif6c_pifi: a u16, so interfaces beyond 65535 cannot be MIFs. */
const PIFI = { at: MIF6CTL.pifi, name: "pifi (ifindex)", max: 0xffff, write: writeU16 };

export const IPV6_STRUCTS: MrouteStructs = {
  writeAddress: writeSockaddrIn6,
  vifctl: { size: MIF6CTL_SIZE, slot: "mifi", ...MIF6CTL, defaultFlags: 0, device: PIFI },
  mfcctl: { size: MF6CCTL_SIZE, ...MF6CCTL, writeOifs: writeOifBitmap },
  sgReq: { size: SIOC_SG_REQ6_SIZE, ...SIOC_SG_REQ6 },
  // A raw ICMPv6 socket reads ICMPv6 messages without the IPv6 header, so their byte 0 is the
  // ICMPv6 type, which is never 0; an upcall has im6_mbz = 0 there.
  upcall: { size: MRT6MSG_SIZE, ...MRT6MSG, readVif: (buf) => readU16(buf, MRT6MSG.mif), readAddress: bufferToIpv6 },
};

/** An icmp6_filter that blocks every ICMPv6 type (upcalls bypass the filter). */
export function encodeIcmp6FilterBlockAll(out: Buffer = Buffer.alloc(ICMP6_FILTER_SIZE)): Buffer {
  return out.fill(0xff, 0, ICMP6_FILTER_SIZE);
}

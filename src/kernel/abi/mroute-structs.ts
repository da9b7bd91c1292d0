// Buffer codecs for the structs of the IPv4 multicast routing API, with explicit offsets
// (linux/mroute.h; LP64). Pure: no koffi, so layouts are unit-testable.
// Addresses are network order; every other field is host order. Each encoder can write into a
// caller-owned Buffer so hot paths (counters at 10k/s) do not allocate.

import type { SgCounters, VifCounters } from "../../engine/kernel-port.js";
import { VIFF_USE_IFINDEX } from "./mroute-constants.js";
import {
  SIOC_VIF_COUNT,
  SIOC_VIF_COUNT_SIZE,
  checkRange,
  decodeVifCountReq,
  encodeVifCountReq,
  readSgCounters,
  writeI32,
  writeU16,
  writeU32,
} from "./struct-fields.js";
import { bufferToIpv4, ipv4ToBuffer } from "../../address/index.js";

export const VIFCTL_SIZE = 16;
export const MFCCTL_SIZE = 60;
export const SIOC_SG_REQ_SIZE = 32;
export const SIOC_VIF_REQ_SIZE = SIOC_VIF_COUNT_SIZE;
export const IGMPMSG_SIZE = 20;

/** struct vifctl */
export const VIFCTL = { vifi: 0, flags: 2, threshold: 3, rateLimit: 4, lclIfindex: 8, rmtAddr: 12 } as const;
/** struct mfcctl: ttls[32] then 2 bytes of padding before the (unused on input) counters. */
export const MFCCTL = {
  origin: 0,
  group: 4,
  parent: 8,
  ttls: 10,
  pktCnt: 44,
  byteCnt: 48,
  wrongIf: 52,
  expire: 56,
} as const;
/** struct sioc_sg_req: counters are `unsigned long`. */
export const SIOC_SG_REQ = { src: 0, grp: 4, pktcnt: 8, bytecnt: 16, wrongIf: 24 } as const;
/** struct sioc_vif_req: vifi is padded to 8 (the layout of sioc_mif_req6 too). */
export const SIOC_VIF_REQ = { vifi: SIOC_VIF_COUNT.index, icount: 8, ocount: 16, ibytes: 24, obytes: 32 } as const;
/** struct igmpmsg: two unused u32, then type, mbz, vif (low byte), vif_hi, src, dst. */
export const IGMPMSG = { msgtype: 8, mbz: 9, vif: 10, vifHi: 11, src: 12, dst: 16 } as const;

export interface VifctlFields {
  vifi: number;
  ifindex: number;
  /** Defaults to VIFF_USE_IFINDEX. */
  flags?: number;
  /** Defaults to 1 (the kernel forwards by the MFC's per-oif TTLs, not this). */
  threshold?: number;
  rateLimit?: number;
}

export function encodeVifctl(v: VifctlFields, out: Buffer = Buffer.alloc(VIFCTL_SIZE)): Buffer {
  checkRange("vifi", v.vifi, 0xffff);
  checkRange("ifindex", v.ifindex, 0x7fffffff);
  out.fill(0, 0, VIFCTL_SIZE);
  writeU16(out, VIFCTL.vifi, v.vifi);
  out[VIFCTL.flags] = v.flags ?? VIFF_USE_IFINDEX;
  out[VIFCTL.threshold] = v.threshold ?? 1;
  writeU32(out, VIFCTL.rateLimit, v.rateLimit ?? 0);
  writeI32(out, VIFCTL.lclIfindex, v.ifindex);
  return out;
}

export interface MfcctlFields {
  origin: string;
  group: string;
  parent: number;
  /** VIF (0..31) → TTL threshold; every other slot is 0 (not an oif). */
  ttls?: ReadonlyMap<number, number>;
}

export function encodeMfcctl(m: MfcctlFields, out: Buffer = Buffer.alloc(MFCCTL_SIZE)): Buffer {
  checkRange("parent", m.parent, 0xffff);
  out.fill(0, 0, MFCCTL_SIZE);
  ipv4ToBuffer(m.origin, out, MFCCTL.origin);
  ipv4ToBuffer(m.group, out, MFCCTL.group);
  writeU16(out, MFCCTL.parent, m.parent);
  if (m.ttls) {
    for (const [vif, ttl] of m.ttls) {
      checkRange("oif vif", vif, 31);
      checkRange("oif ttl", ttl, 255);
      out[MFCCTL.ttls + vif] = ttl;
    }
  }
  return out;
}

export function encodeSiocSgReq(source: string, group: string, out: Buffer = Buffer.alloc(SIOC_SG_REQ_SIZE)): Buffer {
  ipv4ToBuffer(source, out, SIOC_SG_REQ.src);
  ipv4ToBuffer(group, out, SIOC_SG_REQ.grp);
  out.fill(0, SIOC_SG_REQ.pktcnt, SIOC_SG_REQ_SIZE);
  return out;
}

export function decodeSiocSgReq(buf: Buffer): SgCounters {
  return readSgCounters(buf, SIOC_SG_REQ.pktcnt);
}

export function encodeSiocVifReq(vif: number, out: Buffer = Buffer.alloc(SIOC_VIF_REQ_SIZE)): Buffer {
  return encodeVifCountReq("vifi", vif, out);
}

export const decodeSiocVifReq: (buf: Buffer) => VifCounters = decodeVifCountReq;

/** A kernel upcall read from the MRT_INIT socket. */
export interface IgmpMsg {
  /** IGMPMSG_NOCACHE, IGMPMSG_WRONGVIF, IGMPMSG_WHOLEPKT or IGMPMSG_WRVIFWHOLE. */
  msgtype: number;
  vif: number;
  source: string;
  group: string;
}

/**
 * Decodes an upcall, or returns undefined for anything else read on the socket: real IGMP
 * packets arrive there too, and their byte 9 (the IP header's protocol, 2) is where an upcall
 * has im_mbz = 0.
 */
export function decodeIgmpmsg(buf: Buffer): IgmpMsg | undefined {
  if (buf.length < IGMPMSG_SIZE || buf[IGMPMSG.mbz] !== 0) return undefined;
  return {
    msgtype: buf[IGMPMSG.msgtype] ?? 0,
    vif: (buf[IGMPMSG.vif] ?? 0) | ((buf[IGMPMSG.vifHi] ?? 0) << 8),
    source: bufferToIpv4(buf, IGMPMSG.src),
    group: bufferToIpv4(buf, IGMPMSG.dst),
  };
}

// The struct codecs of the multicast routing API, one implementation for both families, driven by
// a family's layout (MrouteStructs: IPV4_STRUCTS in mroute-structs.ts, IPV6_STRUCTS in
// mroute6-structs.ts). The structs have the same fields in both families; what truly differs is
// data in the layout: offsets and sizes, how an address is written (in_addr vs sockaddr_in6),
// the vifctl's device field, how an MFC entry names its oifs (a TTL per VIF vs an if_set bitmap)
// and where an upcall keeps its VIF. Addresses are network order; every other field is host
// order. Each encoder can write into a caller-owned Buffer so hot paths (counters at 10k/s) do
// not allocate. Pure: no koffi.

import type { SgCounters, VifCounters } from "../../engine/kernel-port.js";
import {
  SIOC_VIF_COUNT_SIZE,
  checkRange,
  decodeVifCountReq,
  encodeVifCountReq,
  readSgCounters,
  writeU16,
  writeU32,
} from "./struct-fields.js";

/** struct vifctl / mif6ctl: slot u16 @0, flags u8, threshold u8, then family-specific fields. */
export interface VifctlLayout {
  readonly size: number;
  /** The slot index's name in errors: "vifi" or "mifi". */
  readonly slot: string;
  readonly flags: number;
  readonly threshold: number;
  readonly rateLimit: number;
  /** Flags when the caller gives none. */
  readonly defaultFlags: number;
  /** The field naming the device by ifindex, its name in errors, its range and writer. */
  readonly device: { readonly at: number; readonly name: string; readonly max: number; write(buf: Buffer, at: number, v: number): void };
}

/** struct mfcctl / mf6cctl: origin, group, parent u16, then the oifs in the family's form. */
export interface MfcctlLayout {
  readonly size: number;
  readonly origin: number;
  readonly group: number;
  readonly parent: number;
  /** Writes the oifs (VIF → TTL threshold) into a zeroed struct; RangeError for what does not fit. */
  writeOifs(oifs: ReadonlyMap<number, number>, out: Buffer): void;
}

/** struct igmpmsg / mrt6msg, read from the MRT(6)_INIT socket. */
export interface UpcallLayout {
  readonly size: number;
  /** The byte that is 0 in an upcall and never 0 in the other packets read on the socket. */
  readonly mbz: number;
  readonly msgtype: number;
  readonly src: number;
  readonly dst: number;
  readVif(buf: Buffer): number;
  readAddress(buf: Buffer, offset: number): string;
}

/** The layout of one family's structs. */
export interface MrouteStructs {
  /** Writes an address as the family's structs hold it (in_addr, sockaddr_in6) at `offset`. */
  writeAddress(address: string, out: Buffer, offset: number): void;
  readonly vifctl: VifctlLayout;
  readonly mfcctl: MfcctlLayout;
  /** struct sioc_sg_req / sioc_sg_req6: source, group, then the (S,G) counters at pktcnt. */
  readonly sgReq: { readonly size: number; readonly src: number; readonly grp: number; readonly pktcnt: number };
  readonly upcall: UpcallLayout;
}

export interface VifctlFields {
  vif: number;
  ifindex: number;
  /** Defaults to the family's defaultFlags (IPv4 VIFF_USE_IFINDEX, IPv6 0: a real device). */
  flags?: number;
  /** Defaults to 1 (the kernel forwards by the MFC's oifs, not this). */
  threshold?: number;
  rateLimit?: number;
}

export function encodeVifctl(s: MrouteStructs, v: VifctlFields, out: Buffer = Buffer.alloc(s.vifctl.size)): Buffer {
  const l = s.vifctl;
  checkRange(l.slot, v.vif, 0xffff);
  checkRange(l.device.name, v.ifindex, l.device.max);
  out.fill(0, 0, l.size);
  writeU16(out, 0, v.vif);
  out[l.flags] = v.flags ?? l.defaultFlags;
  out[l.threshold] = v.threshold ?? 1;
  writeU32(out, l.rateLimit, v.rateLimit ?? 0);
  l.device.write(out, l.device.at, v.ifindex);
  return out;
}

export interface MfcctlFields {
  origin: string;
  group: string;
  parent: number;
  /** VIF (0..31) → TTL threshold (IPv6 has no thresholds: only the VIFs count). */
  oifs?: ReadonlyMap<number, number>;
}

export function encodeMfcctl(s: MrouteStructs, m: MfcctlFields, out: Buffer = Buffer.alloc(s.mfcctl.size)): Buffer {
  const l = s.mfcctl;
  checkRange("parent", m.parent, 0xffff);
  out.fill(0, 0, l.size);
  s.writeAddress(m.origin, out, l.origin);
  s.writeAddress(m.group, out, l.group);
  writeU16(out, l.parent, m.parent);
  if (m.oifs) l.writeOifs(m.oifs, out);
  return out;
}

export function encodeSgReq(s: MrouteStructs, source: string, group: string, out: Buffer = Buffer.alloc(s.sgReq.size)): Buffer {
  s.writeAddress(source, out, s.sgReq.src);
  s.writeAddress(group, out, s.sgReq.grp);
  out.fill(0, s.sgReq.pktcnt, s.sgReq.size);
  return out;
}

export function decodeSgReq(s: MrouteStructs, buf: Buffer): SgCounters {
  return readSgCounters(buf, s.sgReq.pktcnt);
}

/** struct sioc_vif_req / sioc_mif_req6 (one layout, struct-fields.ts) asking for `vif`'s counters. */
export function encodeVifReq(s: MrouteStructs, vif: number, out: Buffer = Buffer.alloc(SIOC_VIF_COUNT_SIZE)): Buffer {
  return encodeVifCountReq(s.vifctl.slot, vif, out);
}

export const decodeVifReq: (buf: Buffer) => VifCounters = decodeVifCountReq;

/** A kernel upcall read from the MRT(6)_INIT socket. */
export interface MrouteUpcall {
  /** IGMPMSG_* / MRT6MSG_*: NOCACHE, WRONGVIF (WRONGMIF), WHOLEPKT or WRVIFWHOLE. */
  msgtype: number;
  /** VIF (IPv6: MIF) the packet arrived on. */
  vif: number;
  /** IPv6 in canonical text. */
  source: string;
  group: string;
}

/** Decodes an upcall, or returns undefined for anything else read on the socket (see mbz). */
export function decodeUpcall(s: MrouteStructs, buf: Buffer): MrouteUpcall | undefined {
  const l = s.upcall;
  if (buf.length < l.size || buf[l.mbz] !== 0) return undefined;
  return {
    msgtype: buf[l.msgtype] ?? 0,
    vif: l.readVif(buf),
    source: l.readAddress(buf, l.src),
    group: l.readAddress(buf, l.dst),
  };
}

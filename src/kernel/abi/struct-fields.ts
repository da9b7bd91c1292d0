// Host-order field access and range checks shared by the struct codec of both families
// (mroute-struct-codec.ts), their layouts and ifreq.ts, and the two counter blocks whose layout
// the families share: the (S,G) counters of sioc_sg_req/sioc_sg_req6 and the whole of
// sioc_vif_req/sioc_mif_req6. Pure: no koffi.

import os from "node:os";
import type { SgCounters, VifCounters } from "../../engine/kernel-port.js";
import { readCounter } from "./read-counter.js";

const LE = os.endianness() === "LE";

export function writeU16(buf: Buffer, offset: number, value: number): void {
  if (LE) buf.writeUInt16LE(value, offset);
  else buf.writeUInt16BE(value, offset);
}

export function writeU32(buf: Buffer, offset: number, value: number): void {
  if (LE) buf.writeUInt32LE(value, offset);
  else buf.writeUInt32BE(value, offset);
}

export function writeI32(buf: Buffer, offset: number, value: number): void {
  if (LE) buf.writeInt32LE(value, offset);
  else buf.writeInt32BE(value, offset);
}

export function readU16(buf: Buffer, offset: number): number {
  return LE ? buf.readUInt16LE(offset) : buf.readUInt16BE(offset);
}

export function readU32(buf: Buffer, offset: number): number {
  return LE ? buf.readUInt32LE(offset) : buf.readUInt32BE(offset);
}

export function readI32(buf: Buffer, offset: number): number {
  return LE ? buf.readInt32LE(offset) : buf.readInt32BE(offset);
}

export function checkRange(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what} must be an integer in 0..${max}, got ${value}`);
  }
}

/** The three `unsigned long` counters of sioc_sg_req(6), the first at `pktcnt`. */
export function readSgCounters(buf: Buffer, pktcnt: number): SgCounters {
  return {
    packets: readCounter(buf, pktcnt),
    bytes: readCounter(buf, pktcnt + 8),
    wrongIf: readCounter(buf, pktcnt + 16),
  };
}

/**
 * struct sioc_vif_req and struct sioc_mif_req6 have one layout: the index (a u16) padded to 8,
 * then icount, ocount, ibytes, obytes as `unsigned long`.
 */
export const SIOC_VIF_COUNT = { index: 0, icount: 8, ocount: 16, ibytes: 24, obytes: 32 } as const;
export const SIOC_VIF_COUNT_SIZE = 40;

/** A sioc_vif_req / sioc_mif_req6 asking for the counters of `vif` (`what` names it in errors). */
export function encodeVifCountReq(what: string, vif: number, out: Buffer): Buffer {
  checkRange(what, vif, 0xffff);
  out.fill(0, 0, SIOC_VIF_COUNT_SIZE);
  writeU16(out, SIOC_VIF_COUNT.index, vif);
  return out;
}

export function decodeVifCountReq(buf: Buffer): VifCounters {
  return {
    inPackets: readCounter(buf, SIOC_VIF_COUNT.icount),
    inBytes: readCounter(buf, SIOC_VIF_COUNT.ibytes),
    outPackets: readCounter(buf, SIOC_VIF_COUNT.ocount),
    outBytes: readCounter(buf, SIOC_VIF_COUNT.obytes),
  };
}

// The fixed-size records the upcall handler (upcall-reader-handler.ts, on the poll hub's thread)
// packs upcalls into and UpcallReader (main thread) reads back, so a batch crosses threads as
// one transferred ArrayBuffer instead of structured-cloned objects. Host byte order except the
// addresses, which stay in network order as the kernel wrote them:
//   0 u8 msgtype (the kernel's: IGMPMSG_* / MRT6MSG_*)   2 u16 vif
//   4 source, then group (4 or 16 bytes each)            then f64 Date.now() at recv, 8-aligned
// IPv4: 24 bytes (at @16); IPv6: 48 bytes (at @40).

import os from "node:os";
import { bufferToIpv4, bufferToIpv6 } from "../../address/index.js";

const LE = os.endianness() === "LE";

export interface UpcallRecordLayout {
  /** Bytes of one address. */
  addrLen: 4 | 16;
  group: number;
  at: number;
  /** Bytes of one record. */
  size: number;
}

function layout(addrLen: 4 | 16): UpcallRecordLayout {
  const at = (4 + 2 * addrLen + 7) & ~7;
  return { addrLen, group: 4 + addrLen, at, size: at + 8 };
}

export const UPCALL_RECORD: Readonly<Record<4 | 6, UpcallRecordLayout>> = { 4: layout(4), 6: layout(16) };

/**
 * Writes the record at byte `at` of `out`: the kernel's msgtype and vif, source and group copied
 * from `addrs` (source at `addrsOffset`, group right after it, as in igmpmsg and mrt6msg).
 */
export function writeUpcallRecord(
  out: Buffer,
  at: number,
  l: UpcallRecordLayout,
  msgtype: number,
  vif: number,
  addrs: Buffer,
  addrsOffset: number,
  now: number,
): void {
  out[at] = msgtype;
  if (LE) out.writeUInt16LE(vif, at + 2);
  else out.writeUInt16BE(vif, at + 2);
  addrs.copy(out, at + 4, addrsOffset, addrsOffset + 2 * l.addrLen);
  if (LE) out.writeDoubleLE(now, at + l.at);
  else out.writeDoubleBE(now, at + l.at);
}

/** The fields of the record at byte `at` of `buf` (addresses as text). */
export function readUpcallRecord(
  buf: Buffer,
  at: number,
  l: UpcallRecordLayout,
): { msgtype: number; vif: number; source: string; group: string; at: number } {
  const text = l.addrLen === 4 ? bufferToIpv4 : bufferToIpv6;
  return {
    msgtype: buf[at] ?? 0,
    vif: LE ? buf.readUInt16LE(at + 2) : buf.readUInt16BE(at + 2),
    source: text(buf, at + 4),
    group: text(buf, at + l.group),
    at: LE ? buf.readDoubleLE(at + l.at) : buf.readDoubleBE(at + l.at),
  };
}

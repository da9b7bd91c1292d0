// Netlink framing: walking the messages of a received datagram (or of several datagrams laid
// end to end at 4-byte boundaries) and the attributes inside one message. Pure Buffer code, no
// koffi, so the decoders built on it are shared by dumps (main thread) and the monitor (bytes
// read by its worker, decoded on the main thread).
//
// Netlink headers and attributes are in host byte order; addresses inside attributes are in
// network order.

import os from "node:os";
import { NLMSG_HDRLEN } from "./rtnetlink-constants.js";

const LE = os.endianness() === "LE";

/** NLMSG_ALIGN / NLA_ALIGN: messages and attributes start at 4-byte boundaries. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

export function readU16(buf: Buffer, off: number): number {
  return LE ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
}

export function readU32(buf: Buffer, off: number): number {
  return LE ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
}

export function readI32(buf: Buffer, off: number): number {
  return LE ? buf.readInt32LE(off) : buf.readInt32BE(off);
}

export function writeU16(buf: Buffer, off: number, v: number): void {
  if (LE) buf.writeUInt16LE(v, off);
  else buf.writeUInt16BE(v, off);
}

export function writeU32(buf: Buffer, off: number, v: number): void {
  if (LE) buf.writeUInt32LE(v, off);
  else buf.writeUInt32BE(v, off);
}

/**
 * Called per message: `type`, `flags` and `seq` from struct nlmsghdr, then the payload range
 * [start, end). Return false to stop the walk.
 */
export type NetlinkMessageFn = (type: number, flags: number, seq: number, start: number, end: number) => boolean | void;

/**
 * Walks the netlink messages in buf[0, len). Stops at the first malformed header (a length
 * below the header size or past `len`): the kernel never sends one, so the rest is not
 * trustworthy either. Returns false if `fn` stopped the walk, true otherwise.
 */
export function forEachNetlinkMessage(buf: Buffer, len: number, fn: NetlinkMessageFn): boolean {
  let off = 0;
  while (off + NLMSG_HDRLEN <= len) {
    const msgLen = readU32(buf, off);
    if (msgLen < NLMSG_HDRLEN || off + msgLen > len) break;
    const type = readU16(buf, off + 4);
    const flags = readU16(buf, off + 6);
    const seq = readU32(buf, off + 8);
    if (fn(type, flags, seq, off + NLMSG_HDRLEN, off + msgLen) === false) return false;
    off += align4(msgLen);
  }
  return true;
}

/** NLA_TYPE_MASK: the attribute type without NLA_F_NESTED / NLA_F_NET_BYTEORDER. */
export const NLA_TYPE_MASK = 0x3fff;

/** Called per attribute with its type and payload range [start, end). */
export type NetlinkAttributeFn = (type: number, start: number, end: number) => void;

/** Walks the attributes (struct rtattr / nlattr) in buf[start, end). */
export function forEachNetlinkAttribute(buf: Buffer, start: number, end: number, fn: NetlinkAttributeFn): void {
  let a = start;
  while (a + 4 <= end) {
    const alen = readU16(buf, a);
    if (alen < 4 || a + alen > end) break;
    fn(readU16(buf, a + 2) & NLA_TYPE_MASK, a + 4, a + alen);
    a += align4(alen);
  }
}

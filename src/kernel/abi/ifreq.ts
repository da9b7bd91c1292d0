// struct ifreq (linux/if.h; LP64) for SIOCGIFINDEX/SIOCGIFNAME, which the mroute sockets of
// both families issue on themselves so names resolve in the socket's netns. Pure: no koffi.

import { IFNAMSIZ } from "./mroute-constants.js";
import { checkRange, readI32, writeI32 } from "./struct-fields.js";

export const IFREQ_SIZE = 40;
/** struct ifreq: name[16], then a 24-byte union of which ifr_ifindex is the first int. */
export const IFREQ = { name: 0, ifindex: 16 } as const;

/**
 * Byte length of `name` if it fits ifr_name (at most IFNAMSIZ-1 bytes, no NUL), else undefined:
 * the kernel would silently truncate and resolve a different interface.
 */
export function ifnameLength(name: string): number | undefined {
  const len = Buffer.byteLength(name);
  return len === 0 || len >= IFNAMSIZ || name.includes("\0") ? undefined : len;
}

/** ifreq for SIOCGIFINDEX. Throws RangeError for a name that does not fit (see ifnameLength). */
export function encodeIfreqName(name: string, out: Buffer = Buffer.alloc(IFREQ_SIZE)): Buffer {
  if (ifnameLength(name) === undefined) throw new RangeError(`invalid interface name ${JSON.stringify(name)}`);
  out.fill(0, 0, IFREQ_SIZE);
  out.write(name, IFREQ.name, IFNAMSIZ - 1, "utf8");
  return out;
}

/** ifreq for SIOCGIFNAME. */
export function encodeIfreqIndex(ifindex: number, out: Buffer = Buffer.alloc(IFREQ_SIZE)): Buffer {
  checkRange("ifindex", ifindex, 0x7fffffff);
  out.fill(0, 0, IFREQ_SIZE);
  writeI32(out, IFREQ.ifindex, ifindex);
  return out;
}

export function decodeIfreqIndex(buf: Buffer): number {
  return readI32(buf, IFREQ.ifindex);
}

export function decodeIfreqName(buf: Buffer): string {
  const end = buf.indexOf(0, IFREQ.name);
  return buf.toString("utf8", IFREQ.name, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end);
}

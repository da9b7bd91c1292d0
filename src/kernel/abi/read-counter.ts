// Reading the kernel's u64 packet/byte counters (ioctl structs, rtnetlink RTA_MFC_STATS) as
// bigint. ListRoutes and WatchStats read 3 per route and call: most are 0 or below 2^32, and
// those need no 64-bit BigInt read (zero is the shared 0n, nothing allocated).

import os from "node:os";

const LE = os.endianness() === "LE";

/** The host-order u64 at `off`. */
export function readCounter(buf: Buffer, off: number): bigint {
  const lo = LE ? buf.readUInt32LE(off) : buf.readUInt32BE(off + 4);
  const hi = LE ? buf.readUInt32LE(off + 4) : buf.readUInt32BE(off);
  if (hi !== 0) return LE ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off);
  return lo === 0 ? 0n : BigInt(lo);
}

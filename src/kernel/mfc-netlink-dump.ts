// One rtnetlink dump (RTM_GETROUTE, family RTNL_FAMILY_IPMR) returns every MFC entry of every
// table with its iif, oifs + TTL thresholds and counters in a handful of recv() calls. At 10k
// entries that is several times cheaper than 10k SIOCGETSGCNT ioctls (~1.2 µs each through
// koffi) or reading and parsing /proc/net/ip_mr_cache, and, unlike /proc, it sees every table.
// Interfaces are reported by ifindex; callers map them to their VIFs.

import os from "node:os";
import { inNetns } from "./in-netns.js";
import { AF_NETLINK, NETLINK_ROUTE, SOCK_CLOEXEC, SOCK_RAW, close, recvBlocking, send, socket } from "./libc.js";
import { KernelError } from "./kernel-error.js";

const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
export const RTNL_FAMILY_IPMR = 128;

const RTA_DST = 1;
const RTA_SRC = 2;
const RTA_IIF = 3;
const RTA_MULTIPATH = 9;
const RTA_TABLE = 15;
const RTA_MFC_STATS = 17;

/** An MFC entry as rtnetlink reports it (interfaces by ifindex). */
export interface NetlinkMfcEntry {
  table: number;
  source: string;
  group: string;
  /** ifindex of the input interface; 0 when the entry is unresolved or has none. */
  iifIndex: number;
  /** ifindex → TTL threshold of each output interface. */
  oifs: Map<number, number>;
  packets: bigint;
  bytes: bigint;
  wrongIf: bigint;
}

function ipv4At(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

const LE = os.endianness() === "LE";

/**
 * A NETLINK_ROUTE socket created in `netns` (or ours) used only for MFC dumps. Dumps are
 * synchronous: the kernel answers a dump request at once, so recv() never waits for traffic.
 */
export class MfcNetlinkDumper {
  #fd: number;
  #seq = 1;
  readonly #buf = Buffer.alloc(256 * 1024);
  readonly #req = Buffer.alloc(16 + 12);

  private constructor(fd: number) {
    this.#fd = fd;
  }

  static open(netns?: string): MfcNetlinkDumper {
    return new MfcNetlinkDumper(inNetns(netns, () => socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)));
  }

  close(): void {
    if (this.#fd >= 0) close(this.#fd);
    this.#fd = -1;
  }

  /** Calls `each` for every resolved IPv4 MFC entry (of `table` if given). */
  dump(each: (e: NetlinkMfcEntry) => void, table?: number): void {
    if (this.#fd < 0) throw new KernelError("netlink dump", os.constants.errno.EBADF, "socket closed");
    const req = this.#req;
    const seq = this.#seq++;
    req.fill(0);
    req.writeUInt32LE(req.length, 0);
    req.writeUInt16LE(RTM_GETROUTE, 4);
    req.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
    req.writeUInt32LE(seq, 8);
    req[16] = RTNL_FAMILY_IPMR; // rtmsg.rtm_family
    send(this.#fd, req, "send(RTM_GETROUTE)");
    const buf = this.#buf;
    for (;;) {
      const n = recvBlocking(this.#fd, buf, "recv(RTM_GETROUTE)");
      let off = 0;
      while (off + 16 <= n) {
        const len = buf.readUInt32LE(off);
        const type = buf.readUInt16LE(off + 4);
        if (len < 16 || off + len > n) break;
        if (buf.readUInt32LE(off + 8) === seq) {
          if (type === NLMSG_DONE) return;
          if (type === NLMSG_ERROR) {
            const err = -buf.readInt32LE(off + 16);
            if (err !== 0) throw new KernelError("netlink dump (RTM_GETROUTE)", err);
            return;
          }
          if (type === RTM_NEWROUTE) this.#entry(buf, off + 16, off + len, each, table);
        }
        off += (len + 3) & ~3;
      }
    }
  }

  #entry(buf: Buffer, start: number, end: number, each: (e: NetlinkMfcEntry) => void, want?: number): void {
    if (buf[start] !== RTNL_FAMILY_IPMR) return;
    let table = buf[start + 4] ?? 0; // rtm_table; RTA_TABLE below has the full 32 bits
    let source = "0.0.0.0";
    let group = "0.0.0.0";
    let iifIndex = 0;
    const oifs = new Map<number, number>();
    let packets = 0n;
    let bytes = 0n;
    let wrongIf = 0n;
    let a = start + 12; // sizeof(struct rtmsg)
    while (a + 4 <= end) {
      const alen = buf.readUInt16LE(a);
      const atype = buf.readUInt16LE(a + 2) & 0x3fff;
      if (alen < 4 || a + alen > end) break;
      const p = a + 4;
      switch (atype) {
        case RTA_SRC:
          source = ipv4At(buf, p);
          break;
        case RTA_DST:
          group = ipv4At(buf, p);
          break;
        case RTA_IIF:
          iifIndex = buf.readUInt32LE(p);
          break;
        case RTA_TABLE:
          table = buf.readUInt32LE(p);
          break;
        case RTA_MULTIPATH: {
          // struct rtnexthop { u16 len; u8 flags; u8 hops (= TTL threshold); int ifindex; }
          let h = p;
          while (h + 8 <= a + alen) {
            const hlen = buf.readUInt16LE(h);
            if (hlen < 8) break;
            oifs.set(buf.readInt32LE(h + 4), buf[h + 3] ?? 0);
            h += (hlen + 3) & ~3;
          }
          break;
        }
        case RTA_MFC_STATS:
          packets = LE ? buf.readBigUInt64LE(p) : buf.readBigUInt64BE(p);
          bytes = LE ? buf.readBigUInt64LE(p + 8) : buf.readBigUInt64BE(p + 8);
          wrongIf = LE ? buf.readBigUInt64LE(p + 16) : buf.readBigUInt64BE(p + 16);
          break;
      }
      a += (alen + 3) & ~3;
    }
    if (want !== undefined && table !== want) return;
    each({ table, source, group, iifIndex, oifs, packets, bytes, wrongIf });
  }
}

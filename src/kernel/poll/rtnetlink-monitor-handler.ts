// RtnetlinkMonitor's code on the poll hub's thread (a handler module, poll-hub-protocol.ts).
//
// The handler only moves bytes: it creates a NETLINK_ROUTE socket bound to the requested groups
// (the hub calls createHandler inside the monitored namespace), drains it with
// recv(MSG_DONTWAIT) into a batch buffer when readable and transfers each batch to the main
// thread, which decodes it (netlink-mfc-codec.ts, netlink-link-codec.ts): one decoder for dumps
// and events, typed and tested, and one transferred ArrayBuffer per batch is cheaper than
// structured-cloning one object with a Map per event.
//
// With dropOwnMfcUpdates the owner's own MFC updates are dropped by a classic BPF socket filter
// (SO_ATTACH_FILTER), in the kernel before they are queued: no wakeup, no recv, no copy for the
// 100k notifications of a 100k-route apply. Only if the filter cannot be attached does the
// handler drop them itself after recv (dropOwn).

import os from "node:os";
import {
  KernelError,
  AF_NETLINK,
  MSG_TRUNC,
  NETLINK_ROUTE,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  bind,
  close,
  recvNonBlocking,
  socket,
  tryAttachFilter,
  trySetsockopt,
} from "../ffi/index.js";
import {
  readU16,
  readU32,
  writeU16,
  writeU32,
  BPF_RET_K,
  encodeSockFilter,
  NLMSG_HDRLEN,
  RTMSG_SIZE,
  RTM_NEWROUTE,
  RTNL_FAMILY_IP6MR,
  RTNL_FAMILY_IPMR,
  RTPROT_MROUTED,
  SOCKADDR_NL_SIZE,
} from "../abi/index.js";
import type { PollHubHandler, PollHubPost } from "./poll-hub-protocol.js";

/** The handler's data. */
export interface MonitorHandlerData {
  /** bind() group bitmask (bit n-1 for rtnetlink group n). */
  groups: number;
  /** Requested SO_RCVBUF(FORCE) in bytes (the kernel doubles it for bookkeeping). */
  rcvbufBytes: number;
  /** Drop RTM_NEWROUTE IPMR notifications with rtm_protocol RTPROT_MROUTED (see the option). */
  dropOwnMfcUpdates: boolean;
}

/** Where the owner's own MFC updates are dropped: a socket filter in the kernel, the worker, or nowhere. */
export type OwnMfcUpdatesFilter = "kernel" | "worker" | "none";

/**
 * Messages to the monitor (besides the hub's):
 *   "ready" carries ownFilter (the socket is bound by then)
 *   "data": whole datagrams, each padded to 4 bytes
 *   "overrun": ENOBUFS (or a datagram too large): events lost
 */
export type MonitorHandlerMessage =
  | { type: "ready"; ownFilter: OwnMfcUpdatesFilter }
  | { type: "data"; bytes: ArrayBuffer }
  | { type: "overrun" };

const { EINTR, ENOBUFS } = os.constants.errno;
// Notifications are single messages of a few hundred bytes (a link with many VFs: tens of KiB);
// a datagram larger than MAX_DGRAM is detected through MSG_TRUNC and reported as an overrun.
const MAX_DGRAM = 64 * 1024;
const BATCH = 1024 * 1024;
// struct rtmsg fields after the netlink header: rtm_family, rtm_protocol.
const RTM_FAMILY_AT = NLMSG_HDRLEN;
const RTM_PROTOCOL_AT = NLMSG_HDRLEN + 5;
/** Shortest notification that has the fields above. */
const MIN_ROUTE_MSG = NLMSG_HDRLEN + RTMSG_SIZE;
// One batch buffer for every monitor: the hub calls one handler at a time, and each read()
// transfers a copy of what it filled before returning.
const batch = Buffer.alloc(BATCH);

function isOwnUpdate(buf: Buffer, at: number, len: number): boolean {
  const family = buf[at + RTM_FAMILY_AT];
  return (
    readU16(buf, at + 4) === RTM_NEWROUTE &&
    len >= MIN_ROUTE_MSG &&
    (family === RTNL_FAMILY_IPMR || family === RTNL_FAMILY_IP6MR) &&
    buf[at + RTM_PROTOCOL_AT] === RTPROT_MROUTED
  );
}

/** Removes, in place, the MFC updates the MRT_INIT owner made itself; returns the bytes kept. */
function dropOwn(buf: Buffer, start: number, n: number): number {
  let read = start;
  let write = start;
  const end = start + n;
  while (read + NLMSG_HDRLEN <= end) {
    const len = readU32(buf, read);
    if (len < NLMSG_HDRLEN || read + len > end) break;
    const step = (len + 3) & ~3;
    if (!isOwnUpdate(buf, read, len)) {
      if (write !== read) buf.copy(buf, write, read, Math.min(read + step, end));
      write += Math.min(step, end - read);
    }
    read += step;
  }
  if (read < end) {
    if (write !== read) buf.copy(buf, write, read, end);
    write += end - read;
  }
  return write - start;
}

/**
 * cBPF over one notification (one message per datagram): accept unless it is an RTM_NEWROUTE
 * of family RTNL_FAMILY_IPMR or RTNL_FAMILY_IP6MR with rtm_protocol RTPROT_MROUTED. Offsets as
 * in dropOwn; "ldh" loads big-endian, so the host-order nlmsg_type is compared byte-swapped on
 * little-endian. A load past the end would drop the datagram: anything shorter than
 * MIN_ROUTE_MSG is accepted first.
 */
function ownUpdatesFilter(): Buffer {
  const LD_LEN = 0x80, LDH_ABS = 0x28, LDB_ABS = 0x30, JGE_K = 0x35, JEQ_K = 0x15, RET_K = BPF_RET_K;
  const LE = os.endianness() === "LE";
  return encodeSockFilter([
    [LD_LEN, 0, 0, 0],
    [JGE_K, 0, 7, MIN_ROUTE_MSG], // short: accept
    [LDH_ABS, 0, 0, 4],
    [JEQ_K, 0, 5, LE ? RTM_NEWROUTE << 8 : RTM_NEWROUTE],
    [LDB_ABS, 0, 0, RTM_FAMILY_AT],
    [JEQ_K, 1, 0, RTNL_FAMILY_IPMR],
    [JEQ_K, 0, 2, RTNL_FAMILY_IP6MR],
    [LDB_ABS, 0, 0, RTM_PROTOCOL_AT],
    [JEQ_K, 1, 0, RTPROT_MROUTED],
    [RET_K, 0, 0, 0xffffffff], // accept the whole datagram
    [RET_K, 0, 0, 0], // drop it
  ]);
}

/** The bound socket and where own updates are dropped; throws KernelError (nothing left open). */
function openSocket({ groups, rcvbufBytes, dropOwnMfcUpdates }: MonitorHandlerData): { fd: number; ownFilter: OwnMfcUpdatesFilter } {
  const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  try {
    const size = Buffer.alloc(4);
    writeU32(size, 0, rcvbufBytes);
    // SO_RCVBUFFORCE (CAP_NET_ADMIN) may exceed net.core.rmem_max; SO_RCVBUF is capped by it.
    if (trySetsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size) !== 0) {
      const errno = trySetsockopt(fd, SOL_SOCKET, SO_RCVBUF, size);
      if (errno !== 0) throw new KernelError("setsockopt(SO_RCVBUF)", errno);
    }
    // Before bind(): no unfiltered notification can be queued.
    let ownFilter: OwnMfcUpdatesFilter = "none";
    if (dropOwnMfcUpdates) ownFilter = tryAttachFilter(fd, ownUpdatesFilter()) === 0 ? "kernel" : "worker";
    const addr = Buffer.alloc(SOCKADDR_NL_SIZE); // sockaddr_nl: family, pad, pid 0 (kernel assigns), groups
    writeU16(addr, 0, AF_NETLINK);
    writeU32(addr, 8, groups);
    bind(fd, addr, "bind(AF_NETLINK)");
    return { fd, ownFilter };
  } catch (err) {
    close(fd);
    throw err;
  }
}

export function createHandler(data: MonitorHandlerData, post: PollHubPost<MonitorHandlerMessage>): PollHubHandler {
  const { fd, ownFilter } = openSocket(data);
  let used = 0;
  const flush = () => {
    if (used === 0) return;
    const bytes = batch.buffer.slice(batch.byteOffset, batch.byteOffset + used) as ArrayBuffer;
    post({ type: "data", bytes }, [bytes]);
    used = 0;
  };
  /** One recv into the batch: the byte count, undefined when nothing is queued, -1: try again. */
  const receive = (): number | undefined => {
    try {
      return recvNonBlocking(fd, batch.subarray(used, used + MAX_DGRAM), "recv", MSG_TRUNC);
    } catch (err) {
      if (err instanceof KernelError && err.errno === EINTR) return -1;
      if (!(err instanceof KernelError) || err.errno !== ENOBUFS) throw err;
      // The kernel dropped notifications because the receive queue was full. It reports this
      // before the messages still queued; reading on is fine, but the receiver's picture is
      // incomplete until it resyncs from dumps.
      flush();
      post({ type: "overrun" });
      return -1;
    }
  };
  // Drains what is queued now, one batch at most: a flood of events never keeps the hub from
  // its other fds or its wake-up.
  function read(): void {
    try {
      while (BATCH - used >= MAX_DGRAM) {
        const n = receive();
        if (n === undefined) break;
        if (n < 0) continue;
        if (n > MAX_DGRAM) {
          flush();
          post({ type: "overrun" });
          continue;
        }
        const kept = ownFilter === "worker" ? dropOwn(batch, used, n) : n;
        const padded = (kept + 3) & ~3;
        batch.fill(0, used + kept, used + padded);
        used += padded;
      }
    } finally {
      flush();
    }
  }
  return { fd, ready: { ownFilter }, read, close: () => close(fd) };
}

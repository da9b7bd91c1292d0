// RtnetlinkMonitor's code on the poll hub's thread (poll-hub-worker.ts), as CommonJS source: it
// runs unchanged from src/ (vitest, tsx) and dist/, and the hub compiles it once per thread.
//
// The handler only moves bytes: it creates a NETLINK_ROUTE socket bound to the requested groups
// inside the monitored namespace (the hub's inNetns: setns() changes the calling thread only,
// and the thread returns to its own namespace before polling again), drains it with
// recv(MSG_DONTWAIT) into a batch buffer when readable and transfers each batch to the main
// thread, which decodes it (netlink-mfc-codec.ts, netlink-link-codec.ts): one decoder for dumps
// and events, typed and tested, and one transferred ArrayBuffer per batch is cheaper than
// structured-cloning one object with a Map per event.
//
// With dropOwnMfcUpdates the owner's own MFC updates are dropped by a classic BPF socket filter
// (SO_ATTACH_FILTER), in the kernel before they are queued: no wakeup, no recv, no copy for the
// 100k notifications of a 100k-route apply. Only if the filter cannot be attached does the
// handler drop them itself after recv (dropOwn).
//
// Messages to the monitor (besides the hub's "ready" and "fatal"):
//   "ready" carries ownFilter: where own MFC updates are dropped ("kernel", "worker", or "none":
//                                             not asked to); the socket is bound by then
//   { type: "data", bytes: ArrayBuffer }      whole datagrams, each padded to 4 bytes
//   { type: "overrun" }                       ENOBUFS (or a datagram too large): events lost

/** The handler's data. */
export interface MonitorHandlerData {
  /** Network namespace file to make the socket in, or null for the process's own namespace. */
  netns: string | null;
  /** bind() group bitmask (bit n-1 for rtnetlink group n). */
  groups: number;
  /** Requested SO_RCVBUF(FORCE) in bytes (the kernel doubles it for bookkeeping). */
  rcvbufBytes: number;
  /** Drop RTM_NEWROUTE IPMR notifications with rtm_protocol RTPROT_MROUTED (see the option). */
  dropOwnMfcUpdates: boolean;
}

export const MONITOR_HANDLER_SOURCE = String.raw`(env) => {
const { koffi, lib, LE } = env;
const { EAGAIN, EINTR, ENOBUFS } = env.errno;
const RTM_NEWROUTE = 24, RTNL_FAMILY_IPMR = 128, RTNL_FAMILY_IP6MR = 129, RTPROT_MROUTED = 17;
const AF_NETLINK = 16, SOCK_RAW = 3, SOCK_CLOEXEC = 0o2000000, NETLINK_ROUTE = 0;
const SOL_SOCKET = 1, SO_RCVBUF = 8, SO_RCVBUFFORCE = 33, SO_ATTACH_FILTER = 26;
const MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40;
// Notifications are single messages of a few hundred bytes (a link with many VFs: tens of KiB);
// a datagram larger than MAX_DGRAM is detected through MSG_TRUNC and reported as an overrun.
const MAX_DGRAM = 64 * 1024;
const BATCH = 1024 * 1024;

const SockFprog = koffi.struct("mfcd_sock_fprog", { len: "uint16", filter: "void *" });
const c = {
  close: lib.func("int close(int fd)"),
  socket: lib.func("int socket(int domain, int type, int protocol)"),
  setsockopt: lib.func("int setsockopt(int fd, int level, int optname, void *optval, uint32_t optlen)"),
  setsockoptFilter: lib.func("int setsockopt(int fd, int level, int optname, mfcd_sock_fprog *optval, uint32_t optlen)"),
  bind: lib.func("int bind(int fd, void *addr, uint32_t addrlen)"),
  recv: lib.func("intptr_t recv(int fd, void *buf, size_t len, int flags)"),
};
// One batch buffer for every monitor: the hub calls one handler at a time, and each read()
// transfers a copy of what it filled before returning.
const batch = Buffer.alloc(BATCH);

function u16(buf, off, v) { if (LE) buf.writeUInt16LE(v, off); else buf.writeUInt16BE(v, off); }
function i32(buf, off, v) { if (LE) buf.writeInt32LE(v, off); else buf.writeInt32BE(v, off); }
function u32(buf, off, v) { if (LE) buf.writeUInt32LE(v, off); else buf.writeUInt32BE(v, off); }

// Removes, in place, the MFC updates the MRT_INIT owner made itself; returns the bytes kept.
function dropOwn(buf, start, n) {
  let read = start, write = start;
  const end = start + n;
  while (read + 16 <= end) {
    const len = LE ? buf.readUInt32LE(read) : buf.readUInt32BE(read);
    if (len < 16 || read + len > end) break;
    const type = LE ? buf.readUInt16LE(read + 4) : buf.readUInt16BE(read + 4);
    const step = (len + 3) & ~3;
    const family = buf[read + 16];
    const own = type === RTM_NEWROUTE && len >= 28 && (family === RTNL_FAMILY_IPMR || family === RTNL_FAMILY_IP6MR) &&
      buf[read + 21] === RTPROT_MROUTED;
    if (!own) {
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

// cBPF over one notification (one message per datagram): accept unless it is an RTM_NEWROUTE
// of family RTNL_FAMILY_IPMR or RTNL_FAMILY_IP6MR with rtm_protocol RTPROT_MROUTED. Offsets as in dropOwn; "ldh"
// loads big-endian, so the host-order nlmsg_type is compared byte-swapped on little-endian.
// A load past the end would drop the datagram: anything shorter than 28 bytes is accepted first.
function ownUpdatesFilter() {
  const LD_LEN = 0x80, LDH_ABS = 0x28, LDB_ABS = 0x30, JGE_K = 0x35, JEQ_K = 0x15, RET_K = 0x06;
  const prog = [
    [LD_LEN, 0, 0, 0],
    [JGE_K, 0, 7, 28], // short: accept
    [LDH_ABS, 0, 0, 4],
    [JEQ_K, 0, 5, LE ? RTM_NEWROUTE << 8 : RTM_NEWROUTE],
    [LDB_ABS, 0, 0, 16],
    [JEQ_K, 1, 0, RTNL_FAMILY_IPMR],
    [JEQ_K, 0, 2, RTNL_FAMILY_IP6MR],
    [LDB_ABS, 0, 0, 21],
    [JEQ_K, 1, 0, RTPROT_MROUTED],
    [RET_K, 0, 0, 0xffffffff], // accept the whole datagram
    [RET_K, 0, 0, 0], // drop it
  ];
  const buf = Buffer.alloc(8 * prog.length); // struct sock_filter { u16 code; u8 jt, jf; u32 k; }
  prog.forEach(([code, jt, jf, k], i) => {
    u16(buf, 8 * i, code);
    buf[8 * i + 2] = jt;
    buf[8 * i + 3] = jf;
    u32(buf, 8 * i + 4, k);
  });
  return { len: prog.length, filter: buf };
}

// The bound socket and where own updates are dropped; throws env.fatal (nothing left open).
function openSocket({ groups, rcvbufBytes, dropOwnMfcUpdates }) {
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw env.fatal("socket(AF_NETLINK)", koffi.errno());
  try {
    const size = Buffer.alloc(4);
    i32(size, 0, rcvbufBytes);
    // SO_RCVBUFFORCE (CAP_NET_ADMIN) may exceed net.core.rmem_max; SO_RCVBUF is capped by it.
    if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) < 0 && c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4) < 0) {
      throw env.fatal("setsockopt(SO_RCVBUF)", koffi.errno());
    }
    // Before bind(): no unfiltered notification can be queued.
    let ownFilter = "none";
    if (dropOwnMfcUpdates) {
      const attached = c.setsockoptFilter(fd, SOL_SOCKET, SO_ATTACH_FILTER, ownUpdatesFilter(), koffi.sizeof(SockFprog));
      ownFilter = attached === 0 ? "kernel" : "worker";
    }
    const addr = Buffer.alloc(12); // sockaddr_nl: family, pad, pid 0 (kernel assigns), groups
    u16(addr, 0, AF_NETLINK);
    u32(addr, 8, groups);
    if (c.bind(fd, addr, 12) < 0) throw env.fatal("bind(AF_NETLINK)", koffi.errno());
    return { fd, ownFilter };
  } catch (err) {
    c.close(fd);
    throw err;
  }
}

return (data, post) => {
  const { fd, ownFilter } = env.inNetns(data.netns, () => openSocket(data));
  let used = 0;
  const flush = () => {
    if (used === 0) return;
    const bytes = batch.buffer.slice(batch.byteOffset, batch.byteOffset + used);
    post({ type: "data", bytes }, [bytes]);
    used = 0;
  };
  // Drains what is queued now, one batch at most: a flood of events never keeps the hub from
  // its other fds or its wake-up.
  function read() {
    try {
      while (BATCH - used >= MAX_DGRAM) {
        const n = Number(c.recv(fd, batch.subarray(used), MAX_DGRAM, MSG_DONTWAIT | MSG_TRUNC));
        if (n < 0) {
          const errno = koffi.errno();
          if (errno === EAGAIN) break;
          if (errno === EINTR) continue;
          if (errno === ENOBUFS) {
            // The kernel dropped notifications because the receive queue was full. It reports
            // this before the messages still queued; reading on is fine, but the receiver's
            // picture is incomplete until it resyncs from dumps.
            flush();
            post({ type: "overrun" });
            continue;
          }
          throw env.fatal("recv", errno);
        }
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
  return { fd, ready: { ownFilter }, read, close: () => c.close(fd) };
};
}`;

// UpcallReader's code on the poll hub's thread (poll-hub-worker.ts), as CommonJS source: it
// runs unchanged from src/ (vitest, tsx) and dist/, and the hub compiles it once per thread.
//
// The handler reads the MRT_INIT socket through its own duplicate descriptor (made by the main
// thread with F_DUPFD_CLOEXEC and closed by it once the hub no longer polls it), so the main
// thread may close the socket's original fd at any time without the number being reused under
// poll(). Everything that arrives on a raw IGMP socket is read: kernel upcalls (struct igmpmsg,
// im_mbz at byte 9 is 0) and real IGMP packets (byte 9 is the IP header's protocol, 2). Upcalls
// of interest are packed into fixed records and transferred in batches; the rest is only counted.
//
// Record layout (UPCALL_RECORD_SIZE bytes, host byte order except the addresses):
//   0 u8 msgtype (IGMPMSG_NOCACHE 1, WRONGVIF 2, WRVIFWHOLE 4)   2 u16 vif
//   4 source (network order, 4 bytes)   8 group (network order)   16 f64 Date.now() at recv
//
// Messages to the reader (besides the hub's "ready" and "fatal"):
//   { type: "batch", records: ArrayBuffer, count, igmp, wholepkt, other }
//        count records; igmp/wholepkt/other: datagrams skipped since the previous batch

/** The handler's data. */
export interface UpcallHandlerData {
  /** Duplicate of the MRT_INIT socket's fd (owned and closed by the main thread). */
  fd: number;
  /** 4: struct igmpmsg on a raw IGMP socket; 6: struct mrt6msg on a raw ICMPv6 socket. */
  family: 4 | 6;
}

export const UPCALL_RECORD_SIZE = 24;
/** IPv6 records: 0 u8 msgtype, 2 u16 mif, 4 source (16), 20 group (16), 40 f64 Date.now(). */
export const UPCALL6_RECORD_SIZE = 48;

export const UPCALL_HANDLER_SOURCE = String.raw`(env) => {
const { koffi, lib, LE } = env;
const { EAGAIN, EINTR, EBADF, ENOTSOCK, EFAULT } = env.errno;
const MSG_DONTWAIT = 0x40;
// Upcalls are 20-28 bytes; IGMP packets up to an MTU. Bigger datagrams (a WHOLEPKT upcall of
// a jumbo frame) are truncated, which is fine: only the first 20 bytes matter.
const DGRAM = 64 * 1024;
// Datagrams read per call at most, so a flood never starves the hub's other fds or its wake-up.
const ROUND = 4096;
const recv = lib.func("intptr_t recv(int fd, void *buf, size_t len, int flags)");
// One receive buffer for every reader: the hub calls one handler at a time.
const dgram = Buffer.alloc(DGRAM);

function u16(buf, off, v) { if (LE) buf.writeUInt16LE(v, off); else buf.writeUInt16BE(v, off); }
function f64(buf, off, v) { if (LE) buf.writeDoubleLE(v, off); else buf.writeDoubleBE(v, off); }

return ({ fd, family }, post) => {
  const RECORD = family === 6 ? 48 : 24;
  function read() {
    let records = Buffer.alloc(64 * RECORD);
    let count = 0, igmp = 0, wholepkt = 0, other = 0;
    const room = () => {
      if ((count + 1) * RECORD <= records.length) return;
      const bigger = Buffer.alloc(records.length * 2);
      records.copy(bigger);
      records = bigger;
    };
    for (let i = 0; i < ROUND; i++) {
      const n = Number(recv(fd, dgram, DGRAM, MSG_DONTWAIT));
      if (n < 0) {
        const errno = koffi.errno();
        if (errno === EAGAIN) break;
        if (errno === EINTR) continue;
        // EBADF / ENOTSOCK / EFAULT: the descriptor is unusable. Anything else is a pending
        // socket error (sk_err, e.g. from an ICMP error), reported once and cleared by recv.
        if (errno === EBADF || errno === ENOTSOCK || errno === EFAULT) throw env.fatal("recv", errno);
        other++;
        continue;
      }
      if (family === 6) {
        // struct mrt6msg: im6_mbz 0 (an ICMPv6 message has its type there), msgtype, mif, src, dst.
        if (n < 40 || dgram[0] !== 0) { igmp++; continue; }
        const type6 = dgram[1];
        if (type6 === 3) { wholepkt++; continue; }
        if (type6 !== 1 && type6 !== 2) { other++; continue; }
        room();
        const at6 = count * RECORD;
        records[at6] = type6;
        u16(records, at6 + 2, LE ? dgram.readUInt16LE(2) : dgram.readUInt16BE(2));
        dgram.copy(records, at6 + 4, 8, 40);
        f64(records, at6 + 40, Date.now());
        count++;
        continue;
      }
      if (n < 20 || dgram[9] !== 0) { igmp++; continue; }
      const type = dgram[8];
      if (type === 3) { wholepkt++; continue; }
      if (type !== 1 && type !== 2 && type !== 4) { other++; continue; }
      room();
      const at = count * RECORD;
      records[at] = type;
      u16(records, at + 2, dgram[10] | (dgram[11] << 8));
      dgram.copy(records, at + 4, 12, 20);
      f64(records, at + 16, Date.now());
      count++;
    }
    if (count > 0 || igmp > 0 || wholepkt > 0 || other > 0) {
      const bytes = records.buffer.slice(records.byteOffset, records.byteOffset + count * RECORD);
      post({ type: "batch", records: bytes, count, igmp, wholepkt, other }, [bytes]);
    }
  }
  // The fd is the main thread's duplicate: it closes it.
  return { fd, ready: {}, read, close() {} };
};
}`;

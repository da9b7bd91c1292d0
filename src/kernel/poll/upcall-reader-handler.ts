// UpcallReader's code on the poll hub's thread (a handler module, poll-hub-protocol.ts).
//
// The handler reads the MRT_INIT socket through its own duplicate descriptor (made by the main
// thread with F_DUPFD_CLOEXEC and closed by it once the hub no longer polls it), so the main
// thread may close the socket's original fd at any time without the number being reused under
// poll(). Everything that arrives on the socket is read: kernel upcalls (struct igmpmsg with
// im_mbz 0, or struct mrt6msg with im6_mbz 0) and real IGMP / ICMPv6 packets (IPv4: byte 9 is
// the IP header's protocol, 2; IPv6: byte 0 is the ICMPv6 type). Upcalls of interest are packed
// into records (upcall-record.ts) and transferred in batches; the rest is only counted.

import os from "node:os";
import { KernelError, recvNonBlocking } from "../ffi/index.js";
import {
  IGMPMSG_NOCACHE,
  IGMPMSG_WHOLEPKT,
  IGMPMSG_WRONGVIF,
  IGMPMSG_WRVIFWHOLE,
  IPV4_STRUCTS,
  IPV6_STRUCTS,
  MRT6MSG_NOCACHE,
  MRT6MSG_WHOLEPKT,
  MRT6MSG_WRONGMIF,
  type UpcallLayout,
} from "../abi/index.js";
import type { PollHubHandler, PollHubPost } from "./poll-hub-protocol.js";
import { UPCALL_RECORD, writeUpcallRecord } from "./upcall-record.js";

/** The handler's data. */
export interface UpcallHandlerData {
  /** Duplicate of the MRT_INIT socket's fd (owned and closed by the main thread). */
  fd: number;
  /** 4: struct igmpmsg on a raw IGMP socket; 6: struct mrt6msg on a raw ICMPv6 socket. */
  family: 4 | 6;
}

/**
 * Messages to the reader (besides the hub's): `count` records (upcall-record.ts) in `records`;
 * igmp/wholepkt/other: datagrams skipped since the previous batch.
 */
export type UpcallHandlerMessage =
  | { type: "ready" }
  | { type: "batch"; records: ArrayBuffer; count: number; igmp: number; wholepkt: number; other: number };

const { EINTR, EBADF, ENOTSOCK, EFAULT } = os.constants.errno;
// Upcalls are 20-40 bytes; IGMP packets up to an MTU. Bigger datagrams (a WHOLEPKT upcall of
// a jumbo frame) are truncated, which is fine: only the header matters.
const DGRAM = 64 * 1024;
// Datagrams read per call at most, so a flood never starves the hub's other fds or its wake-up.
const ROUND = 4096;
// One receive buffer for every reader: the hub calls one handler at a time.
const dgram = Buffer.alloc(DGRAM);

/** Where each family's upcall message is (its layout tells it from packets) and what is kept. */
interface UpcallFormat {
  layout: UpcallLayout;
  wholepkt: number;
  /** Message types reported (the rest is counted as other). */
  kept: readonly number[];
}

const FORMAT: Record<4 | 6, UpcallFormat> = {
  4: { layout: IPV4_STRUCTS.upcall, wholepkt: IGMPMSG_WHOLEPKT, kept: [IGMPMSG_NOCACHE, IGMPMSG_WRONGVIF, IGMPMSG_WRVIFWHOLE] },
  6: { layout: IPV6_STRUCTS.upcall, wholepkt: MRT6MSG_WHOLEPKT, kept: [MRT6MSG_NOCACHE, MRT6MSG_WRONGMIF] },
};

const INTERRUPTED = -1;
const SOCKET_ERROR = -2;

/** One recv into dgram: the byte count, undefined when nothing is queued, or a code above. */
function receive(fd: number): number | undefined {
  try {
    return recvNonBlocking(fd, dgram, "recv");
  } catch (err) {
    if (!(err instanceof KernelError)) throw err;
    if (err.errno === EINTR) return INTERRUPTED;
    // EBADF / ENOTSOCK / EFAULT: the descriptor is unusable. Anything else is a pending socket
    // error (sk_err, e.g. from an ICMP error), reported once and cleared by recv.
    if (err.errno === EBADF || err.errno === ENOTSOCK || err.errno === EFAULT) throw err;
    return SOCKET_ERROR;
  }
}

export function createHandler({ fd, family }: UpcallHandlerData, post: PollHubPost<UpcallHandlerMessage>): PollHubHandler {
  const format = FORMAT[family];
  const layout = format.layout;
  const record = UPCALL_RECORD[family];
  function read(): void {
    let records = Buffer.alloc(64 * record.size);
    let count = 0;
    let igmp = 0;
    let wholepkt = 0;
    let other = 0;
    for (let i = 0; i < ROUND; i++) {
      const n = receive(fd);
      if (n === undefined) break;
      if (n === INTERRUPTED) continue;
      if (n === SOCKET_ERROR) {
        other++;
        continue;
      }
      if (n < layout.size || dgram[layout.mbz] !== 0) {
        igmp++;
        continue;
      }
      const type = dgram[layout.msgtype] ?? 0;
      if (type === format.wholepkt) {
        wholepkt++;
        continue;
      }
      if (!format.kept.includes(type)) {
        other++;
        continue;
      }
      if ((count + 1) * record.size > records.length) {
        const bigger = Buffer.alloc(records.length * 2);
        records.copy(bigger);
        records = bigger;
      }
      writeUpcallRecord(records, count * record.size, record, type, layout.readVif(dgram), dgram, layout.src, Date.now());
      count++;
    }
    if (count > 0 || igmp > 0 || wholepkt > 0 || other > 0) {
      const bytes = records.buffer.slice(records.byteOffset, records.byteOffset + count * record.size) as ArrayBuffer;
      post({ type: "batch", records: bytes, count, igmp, wholepkt, other }, [bytes]);
    }
  }
  // The fd is the main thread's duplicate: it closes it.
  return { fd, read, close() {} };
}

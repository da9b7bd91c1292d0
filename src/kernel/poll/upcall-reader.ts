// Kernel upcalls read off the event loop: IGMPMSG_NOCACHE (a packet arrived on a VIF for an
// (S,G) without an MFC entry) and IGMPMSG_WRONGVIF (a packet for an (S,G) arrived on a VIF other
// than the entry's input VIF), read from the MRT_INIT socket off the event loop, on the poll hub's
// thread (poll-hub.ts; the reading code is upcall-reader-handler.ts).
//
// Kernel behaviour (Linux 6.18, ipmr.c; the tests pin it):
//  - NOCACHE: one per new unresolved (S,G), only for packets arriving on a VIF; the kernel
//    queues up to 4 packets and drops the unresolved entry after 10 s (then a new upcall).
//    There is no fixed cap on unresolved entries any more (older kernels stopped at 10); an
//    upcall is lost only when the socket's receive queue is full.
//  - WRONGVIF: only with MRT_ASSERT on (or MRT_PIM), at most one per (S,G) every 3 s, and
//    **only when the arrival VIF is itself an oif of the entry** (non-zero TTL in it), unless
//    PIM mode is on. Traffic arriving on a VIF that is not an oif only increments the entry's
//    wrong_if counter (SIOCGETSGCNT) and sends nothing.
//  - WRVIFWHOLE (4, with MRT_PIM + PIM_WHOLEPKT) is reported as "wrongvif"; WHOLEPKT (3, the
//    PIM register VIF's packets) is counted and skipped.
//  - Real IGMP packets arrive on the same socket (router-alert and IGMPv2-style reports to
//    routable groups are delivered to the MRT_INIT socket): counted as `igmp` and skipped.
//    Reading them also keeps the socket's receive queue from filling up, which would make the
//    kernel drop upcalls.
//
// One reader per socket: two readers would split the datagrams between them. The reader works
// on its own duplicate of the fd, so closing the MrouteSocket first is safe (its MRT_DONE still
// releases the table; the reader then only sees IGMP packets until it is closed).

import { dupCloexec } from "../ffi/index.js";
import { IGMPMSG_NOCACHE, MRT6MSG_NOCACHE } from "../abi/index.js";
import { PollHubReader } from "./poll-hub-reader.js";
import type { UpcallHandlerData, UpcallHandlerMessage } from "./upcall-reader-handler.js";
import { UPCALL_RECORD, readUpcallRecord } from "./upcall-record.js";
import { workerModuleUrl } from "./worker-module.js";

export type UpcallType = "nocache" | "wrongvif";

export interface Upcall {
  type: UpcallType;
  /** VIF the packet arrived on. */
  vif: number;
  source: string;
  group: string;
  /** Date.now() when the upcall was read (off the event loop). */
  at: number;
}

/** Datagrams read so far, by kind. */
export interface UpcallReaderStats {
  nocache: number;
  wrongvif: number;
  /** Real IGMP packets (skipped). */
  igmp: number;
  /** IGMPMSG_WHOLEPKT upcalls (skipped). */
  wholepkt: number;
  /** Unknown upcall types and transient socket errors (skipped). */
  other: number;
}

export interface UpcallReaderOptions {
  /** "ipv6": the fd is a Mroute6Socket's (struct mrt6msg upcalls); default "ipv4". */
  family?: "ipv4" | "ipv6";
  /**
   * The MRT_INIT socket's fd (MrouteSocket.fd). The reader duplicates it at start(), so the
   * caller keeps ownership of this one.
   */
  fd: number;
  /**
   * Called on the event loop for each upcall, in kernel order. If it throws, the error goes to
   * onError when given, else it is thrown as an uncaught exception.
   */
  onUpcall: (u: Upcall) => void;
  /**
   * A failure after start() resolved (KernelError from its poll/recv); the reader has
   * stopped. Without onError it is thrown as an uncaught exception.
   */
  onError?: (err: Error) => void;
}

const HANDLER = workerModuleUrl("upcall-reader-handler", import.meta.url);

export class UpcallReader extends PollHubReader<UpcallHandlerMessage> {
  readonly #opts: UpcallReaderOptions;
  readonly #stats: UpcallReaderStats = { nocache: 0, wrongvif: 0, igmp: 0, wholepkt: 0, other: 0 };

  private constructor(opts: UpcallReaderOptions) {
    super(opts.onError);
    this.#opts = opts;
  }

  /**
   * Adds the socket to the poll hub; resolves once it is polled (upcalls already queued on the
   * socket are delivered too). Rejects with RangeError for a negative fd, KernelError EBADF for
   * a closed one, or the hub's error; nothing is left running then.
   */
  static async start(options: UpcallReaderOptions): Promise<UpcallReader> {
    if (!Number.isInteger(options.fd) || options.fd < 0) {
      throw new RangeError(`fd must be a non-negative integer, got ${options.fd}`);
    }
    // A duplicate: the caller may close its fd at any time without the number being reused
    // under the hub's poll().
    const sockFd = dupCloexec(options.fd);
    const data: UpcallHandlerData = { fd: sockFd, family: options.family === "ipv6" ? 6 : 4 };
    const reader = new UpcallReader(options);
    await reader.join({ name: "upcall reader", handler: HANDLER, data, ownedFds: [sockFd] });
    return reader;
  }

  /** Datagrams read so far (a copy), updated per batch on the event loop. */
  get stats(): UpcallReaderStats {
    return { ...this.#stats };
  }

  protected override onMessage(m: UpcallHandlerMessage): void {
    if (m.type !== "batch") return;
    this.#stats.igmp += m.igmp;
    this.#stats.wholepkt += m.wholepkt;
    this.#stats.other += m.other;
    const buf = Buffer.from(m.records);
    const family = this.#opts.family === "ipv6" ? 6 : 4;
    const layout = UPCALL_RECORD[family];
    const nocache = family === 6 ? MRT6MSG_NOCACHE : IGMPMSG_NOCACHE;
    for (let i = 0; i < m.count && !this.member.stopped; i++) {
      const { msgtype, ...fields } = readUpcallRecord(buf, i * layout.size, layout);
      const type: UpcallType = msgtype === nocache ? "nocache" : "wrongvif";
      this.#stats[type]++;
      this.deliver(this.#opts.onUpcall, { type, ...fields });
    }
  }
}

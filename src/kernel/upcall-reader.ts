// Kernel upcalls read off the event loop: IGMPMSG_NOCACHE (a packet arrived on a VIF for an
// (S,G) without an MFC entry) and IGMPMSG_WRONGVIF (a packet for an (S,G) arrived on a VIF other
// than the entry's input VIF), read from the MRT_INIT socket by a worker thread that blocks in
// poll([socket, eventfd]) (see upcall-reader-worker.ts).
//
// Kernel behaviour (Linux 6.18, ipmr.c; the tests pin it):
//  - NOCACHE: one per new unresolved (S,G), only for packets arriving on a VIF; the kernel
//    queues up to 4 packets and drops the unresolved entry after ~10 s (then a new upcall).
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

import { createRequire } from "node:module";
import os from "node:os";
import { Worker } from "node:worker_threads";
import { KernelError } from "./kernel-error.js";
import { EFD_CLOEXEC, EFD_NONBLOCK, close, dupCloexec, eventfd, write } from "./libc.js";
import { IGMPMSG_NOCACHE } from "./mroute-constants.js";
import { bufferToIpv4 } from "./mroute-structs.js";
import { bufferToIpv6 } from "./ipv6-address.js";
import { UPCALL6_RECORD_SIZE, UPCALL_RECORD_SIZE, UPCALL_WORKER_SOURCE, type UpcallWorkerData } from "./upcall-reader-worker.js";

export type UpcallType = "nocache" | "wrongvif";

export interface Upcall {
  type: UpcallType;
  /** VIF the packet arrived on. */
  vif: number;
  source: string;
  group: string;
  /** Date.now() when the worker read the upcall. */
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
   * A failure after start() resolved (KernelError from the worker's poll/recv); the reader has
   * stopped. Without onError it is thrown as an uncaught exception.
   */
  onError?: (err: Error) => void;
}

type WorkerMessage =
  | { type: "ready" }
  | { type: "batch"; records: ArrayBuffer; count: number; igmp: number; wholepkt: number; other: number }
  | { type: "fatal"; syscall: string; errno: number };

const STOP = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]); // eventfd counter += 1 (any byte order works)
const LE = os.endianness() === "LE";

let koffiPath: string | undefined;
function resolveKoffi(): string {
  koffiPath ??= createRequire(import.meta.url).resolve("koffi");
  return koffiPath;
}

/**
 * Eventfds of running workers, woken from the process 'exit' hook: a worker blocked in poll()
 * would otherwise keep a naturally exiting process (with an unref()'d reader) from ending.
 */
const liveEventFds = new Set<number>();
let exitHookInstalled = false;

function stopAllOnExit(): void {
  for (const fd of liveEventFds) {
    try {
      write(fd, STOP, "write(eventfd)");
    } catch {
      // Exiting anyway.
    }
  }
}

function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // Linux releases the fd even when close() reports an error.
  }
}

export class UpcallReader {
  readonly #worker: Worker;
  readonly #opts: UpcallReaderOptions;
  #eventFd: number;
  #sockFd: number;
  #stopped = false;
  #closing: Promise<void> | undefined;
  readonly #exited: Promise<void>;
  readonly #stats: UpcallReaderStats = { nocache: 0, wrongvif: 0, igmp: 0, wholepkt: 0, other: 0 };

  private constructor(worker: Worker, eventFd: number, sockFd: number, opts: UpcallReaderOptions) {
    this.#worker = worker;
    this.#eventFd = eventFd;
    this.#sockFd = sockFd;
    this.#opts = opts;
    liveEventFds.add(eventFd);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on("exit", stopAllOnExit);
    }
    this.#exited = new Promise((resolve) => {
      worker.once("exit", () => {
        // The worker no longer polls either descriptor: release them.
        this.#closeFds();
        resolve();
      });
    });
  }

  /**
   * Starts the worker; resolves once it is about to poll (upcalls already queued on the socket
   * are delivered too). Rejects with RangeError for a negative fd, KernelError EBADF for a
   * closed one, or the worker's error; nothing is left running then.
   */
  static start(options: UpcallReaderOptions): Promise<UpcallReader> {
    if (!Number.isInteger(options.fd) || options.fd < 0) {
      return Promise.reject(new RangeError(`fd must be a non-negative integer, got ${options.fd}`));
    }
    let sockFd: number;
    let efd: number;
    let worker: Worker;
    try {
      sockFd = dupCloexec(options.fd);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    try {
      efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    } catch (err) {
      closeQuietly(sockFd);
      return Promise.reject(err as Error);
    }
    const { EAGAIN, EINTR, EBADF, ENOTSOCK, EFAULT } = os.constants.errno;
    const workerData: UpcallWorkerData = {
      koffiPath: resolveKoffi(),
      fd: sockFd,
      eventFd: efd,
      errno: { EAGAIN, EINTR, EBADF, ENOTSOCK, EFAULT },
      family: options.family === "ipv6" ? 6 : 4,
    };
    try {
      worker = new Worker(UPCALL_WORKER_SOURCE, { eval: true, workerData });
    } catch (err) {
      closeQuietly(efd);
      closeQuietly(sockFd);
      return Promise.reject(err as Error);
    }
    const reader = new UpcallReader(worker, efd, sockFd, options);
    return new Promise((resolve, reject) => {
      let ready = false;
      let failure: Error | undefined;
      worker.on("message", (m: WorkerMessage) => {
        if (ready) reader.#onMessage(m);
        else if (m.type === "ready") {
          ready = true;
          resolve(reader);
        } else if (m.type === "fatal") {
          failure ??= new KernelError(m.syscall, m.errno, "upcall reader");
        }
      });
      worker.on("error", (err) => {
        if (ready) reader.#fail(err);
        else failure ??= err;
      });
      worker.once("exit", (code) => {
        if (ready) {
          // An exit nobody asked for (after a fatal message or error, already reported).
          reader.#stopped = true;
          return;
        }
        reader.#stopped = true;
        reject(failure ?? new Error(`upcall reader worker exited (code ${code}) before polling`));
      });
    });
  }

  /** Lets the process exit while the reader runs (like unref() on a timer). */
  unref(): this {
    this.#worker.unref();
    return this;
  }

  /** Undoes unref(). */
  ref(): this {
    this.#worker.ref();
    return this;
  }

  /** True once close() was called or the worker stopped after an error. */
  get closed(): boolean {
    return this.#stopped;
  }

  /** Datagrams read so far (a copy), updated per batch on the event loop. */
  get stats(): UpcallReaderStats {
    return { ...this.#stats };
  }

  /**
   * Stops the worker (woken at once through the eventfd) and resolves when it has exited and
   * its descriptors are closed; no upcall is delivered after close() was called. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopped = true;
      if (this.#eventFd >= 0) write(this.#eventFd, STOP, "write(eventfd)");
      await this.#exited;
    })();
    return this.#closing;
  }

  #closeFds(): void {
    if (this.#eventFd >= 0) {
      liveEventFds.delete(this.#eventFd);
      closeQuietly(this.#eventFd);
      this.#eventFd = -1;
    }
    if (this.#sockFd >= 0) {
      closeQuietly(this.#sockFd);
      this.#sockFd = -1;
    }
  }

  #fail(err: Error): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const { onError } = this.#opts;
    if (onError) onError(err);
    else
      queueMicrotask(() => {
        throw err;
      });
  }

  #emit(u: Upcall): void {
    const { onUpcall, onError } = this.#opts;
    if (!onError) {
      onUpcall(u);
      return;
    }
    try {
      onUpcall(u);
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #onMessage(m: WorkerMessage): void {
    if (this.#stopped) return;
    switch (m.type) {
      case "batch": {
        this.#stats.igmp += m.igmp;
        this.#stats.wholepkt += m.wholepkt;
        this.#stats.other += m.other;
        const buf = Buffer.from(m.records);
        const v6 = this.#opts.family === "ipv6";
        for (let i = 0; i < m.count && !this.#stopped; i++) {
          if (v6) {
            const off6 = i * UPCALL6_RECORD_SIZE;
            const type6: UpcallType = buf[off6] === 1 ? "nocache" : "wrongvif";
            this.#stats[type6]++;
            this.#emit({
              type: type6,
              vif: LE ? buf.readUInt16LE(off6 + 2) : buf.readUInt16BE(off6 + 2),
              source: bufferToIpv6(buf, off6 + 4),
              group: bufferToIpv6(buf, off6 + 20),
              at: LE ? buf.readDoubleLE(off6 + 40) : buf.readDoubleBE(off6 + 40),
            });
            continue;
          }
          const off = i * UPCALL_RECORD_SIZE;
          const type: UpcallType = buf[off] === IGMPMSG_NOCACHE ? "nocache" : "wrongvif";
          this.#stats[type]++;
          this.#emit({
            type,
            vif: LE ? buf.readUInt16LE(off + 2) : buf.readUInt16BE(off + 2),
            source: bufferToIpv4(buf, off + 4),
            group: bufferToIpv4(buf, off + 8),
            at: LE ? buf.readDoubleLE(off + 16) : buf.readDoubleBE(off + 16),
          });
        }
        break;
      }
      case "fatal":
        this.#fail(new KernelError(m.syscall, m.errno, "upcall reader stopped"));
        break;
      case "ready":
        break;
    }
  }
}

// Kernel change notifications for one network namespace: links (RTNLGRP_LINK) and IPv4 MFC
// entries (RTNLGRP_IPV4_MROUTE), read off the event loop by a worker thread (see
// rtnetlink-monitor-worker.ts for why a worker and why it forwards raw bytes) and decoded here
// with the same codecs as the dumps.
//
// What the kernel sends on RTNLGRP_IPV4_MROUTE (Linux 6.18, observed; test/kernel pins most): one
// message per change, built like a dump reply (rtm_family RTNL_FAMILY_IPMR, RTA_TABLE, RTA_SRC,
// RTA_DST, RTA_IIF, RTA_MULTIPATH, RTA_MFC_STATS):
//   RTM_NEWROUTE  MRT_ADD_MFC from any socket, also when it replaces an existing (S,G) in
//                 place; a NOCACHE upcall's unresolved entry (RTNH_F_UNRESOLVED, no iif/oifs);
//                 resolving that entry with MRT_ADD_MFC sends just the new entry (no delete of
//                 the unresolved one first)
//   RTM_DELROUTE  MRT_DEL_MFC from any socket; every entry removed by MRT_DONE / close of the
//                 MRT_INIT socket (VIFs go first, so these carry iifIndex 0 and no oifs) or by
//                 MRT_FLUSH; expiry of an unresolved entry (~10 s)
// As in dumps, only oifs whose VIF exists are listed, by ifindex, and RTA_IIF is missing
// (iifIndex 0) once the input VIF is gone. Adding or deleting a VIF sends no MFC event (and no
// visible link event) even though entries start or stop using it.

import { createRequire } from "node:module";
import os from "node:os";
import { Worker } from "node:worker_threads";
import { KernelError } from "./kernel-error.js";
import { EFD_CLOEXEC, EFD_NONBLOCK, close, eventfd, write } from "./libc.js";
import { type LinkInfo, decodeLinkMessage } from "./netlink-link-codec.js";
import { forEachNetlinkMessage } from "./netlink-messages.js";
import { type NetlinkMfcEntry, decodeMfcMessage } from "./netlink-mfc-codec.js";
import { MONITOR_WORKER_SOURCE, type MonitorWorkerData } from "./rtnetlink-monitor-worker.js";
import {
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTNLGRP_IPV4_MROUTE,
  RTNLGRP_LINK,
} from "./rtnetlink-constants.js";

export type { LinkInfo } from "./netlink-link-codec.js";
/** The snapshot to start from (and to resync from after "overrun"), next to the monitor. */
export { listLinks } from "./list-links.js";

export type RtnetlinkEvent =
  /** RTM_NEWLINK: a new link, a flags change (up/down, carrier) or a rename (same ifindex). */
  | { kind: "link-new"; link: LinkInfo }
  /** RTM_DELLINK: the link is gone (deleted, or moved to another namespace). */
  | { kind: "link-del"; link: LinkInfo }
  /**
   * RTM_NEWROUTE / RTM_DELROUTE of an IPv4 MFC entry: `table`, `source`, `group`, `iifIndex`,
   * `oifs` (ifindex → TTL threshold), plus `unresolved`, `static` and the counters at the
   * time of the change (for a delete: the final counters).
   */
  | ({ kind: "mroute-new" | "mroute-del" } & NetlinkMfcEntry)
  /**
   * The kernel dropped notifications (receive queue full): resync from listLinks / dumps. The
   * kernel reports ENOBUFS before the messages still queued, so events from before the loss
   * may follow this one: apply them idempotently (new = upsert, del = remove) after the resync.
   */
  | { kind: "overrun" };

export interface RtnetlinkMonitorOptions {
  /** Network namespace file, e.g. /run/netns/NAME; default: this process's namespace. */
  netns?: string;
  /**
   * Called on the event loop for each event, in kernel order. If it throws, the error goes to
   * onError when given, else it is thrown as an uncaught exception.
   */
  onEvent: (e: RtnetlinkEvent) => void;
  /**
   * A failure after start() resolved (KernelError from the worker's poll/recv); the monitor
   * has stopped. Without onError such an error is thrown as an uncaught exception, like an
   * 'error' event nobody listens to.
   */
  onError?: (err: Error) => void;
  /**
   * Receive buffer requested with SO_RCVBUFFORCE (falls back to SO_RCVBUF, capped by
   * net.core.rmem_max). Default 8 MiB, which the kernel doubles to 16 MiB of accounting: each
   * MFC notification is charged ~830 bytes (skb truesize), so ~20k of them fit even if the
   * worker did not read at all (4 MiB: ~10k). Memory is only used while events are queued.
   */
  rcvbufBytes?: number;
  /**
   * Drop, in the worker, MFC updates the MRT_INIT owner made itself (rtm_protocol
   * RTPROT_MROUTED): the owner knows what it wrote, and a 100k-route apply would otherwise cost
   * the event loop 100k decodes. Entries changed by any other socket are RTPROT_STATIC and still
   * reported, as are all deletions. Default false.
   */
  dropOwnMfcUpdates?: boolean;
}

type WorkerMessage =
  | { type: "ready" }
  | { type: "data"; bytes: ArrayBuffer }
  | { type: "overrun" }
  | { type: "fatal"; syscall: string; errno: number };

const GROUPS = (1 << (RTNLGRP_LINK - 1)) | (1 << (RTNLGRP_IPV4_MROUTE - 1));
const STOP = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]); // eventfd counter += 1 (any byte order works)

// Resolved once, relative to this module: works from src/ (vitest, tsx) and from dist/.
let koffiPath: string | undefined;
function resolveKoffi(): string {
  koffiPath ??= createRequire(import.meta.url).resolve("koffi");
  return koffiPath;
}

/**
 * Eventfds of running workers. At process exit Node stops worker threads and waits for them,
 * but a worker blocked inside poll() never notices (a natural exit with an unref()'d monitor
 * would hang): waking every worker from the 'exit' hook lets them finish.
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

export class RtnetlinkMonitor {
  readonly #worker: Worker;
  readonly #opts: RtnetlinkMonitorOptions;
  #eventFd: number;
  /** Set by close(): events still in flight are dropped from then on. */
  #stopped = false;
  #closing: Promise<void> | undefined;
  readonly #exited: Promise<void>;

  private constructor(worker: Worker, eventFd: number, opts: RtnetlinkMonitorOptions) {
    this.#worker = worker;
    this.#eventFd = eventFd;
    this.#opts = opts;
    liveEventFds.add(eventFd);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on("exit", stopAllOnExit);
    }
    this.#exited = new Promise((resolve) => {
      worker.once("exit", () => {
        // The worker no longer polls the eventfd: release it.
        this.#closeEventFd();
        resolve();
      });
    });
  }

  /**
   * Starts the worker; resolves once its socket is bound to the groups, so every change made
   * after that is reported. Rejects with KernelError if the namespace cannot be entered or the
   * socket cannot be set up (then nothing is left running).
   */
  static start(options: RtnetlinkMonitorOptions): Promise<RtnetlinkMonitor> {
    const workerData: MonitorWorkerData = {
      koffiPath: resolveKoffi(),
      netns: options.netns ?? null,
      eventFd: -1,
      groups: GROUPS,
      rcvbufBytes: options.rcvbufBytes ?? 8 * 1024 * 1024,
      dropOwnMfcUpdates: options.dropOwnMfcUpdates ?? false,
      errno: {
        EAGAIN: os.constants.errno.EAGAIN,
        EINTR: os.constants.errno.EINTR,
        ENOBUFS: os.constants.errno.ENOBUFS,
      },
    };
    if (!Number.isInteger(workerData.rcvbufBytes) || workerData.rcvbufBytes <= 0 || workerData.rcvbufBytes > 0x3fffffff) {
      return Promise.reject(new RangeError(`rcvbufBytes must be a positive integer, got ${workerData.rcvbufBytes}`));
    }
    let efd: number;
    let worker: Worker;
    try {
      efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    try {
      worker = new Worker(MONITOR_WORKER_SOURCE, { eval: true, workerData: { ...workerData, eventFd: efd } });
    } catch (err) {
      close(efd);
      return Promise.reject(err as Error);
    }
    const monitor = new RtnetlinkMonitor(worker, efd, options);
    return new Promise((resolve, reject) => {
      let ready = false;
      let failure: Error | undefined;
      worker.on("message", (m: WorkerMessage) => {
        if (ready) monitor.#onMessage(m);
        else if (m.type === "ready") {
          ready = true;
          resolve(monitor);
        } else if (m.type === "fatal") {
          // The worker ends by itself after a fatal message.
          failure ??= new KernelError(m.syscall, m.errno, "rtnetlink monitor");
        }
      });
      worker.on("error", (err) => {
        // An exception inside the worker (e.g. koffi failed to load); the worker is gone.
        if (ready) monitor.#fail(err);
        else failure ??= err;
      });
      // A failed start rejects only once the thread is gone and the eventfd closed (the
      // constructor's exit listener runs first), so nothing of it is left behind.
      worker.once("exit", (code) => {
        if (ready) return;
        monitor.#stopped = true;
        reject(failure ?? new Error(`rtnetlink monitor worker exited (code ${code}) before subscribing`));
      });
    });
  }

  /**
   * Lets the process exit while the monitor runs (its worker no longer keeps the event loop
   * alive), like unref() on a timer or socket. Events are still delivered while the process
   * lives; at exit the worker is woken and stops. process.exit() works either way.
   */
  unref(): this {
    this.#worker.unref();
    return this;
  }

  /** Undoes unref(): the running monitor keeps the process alive again (the default). */
  ref(): this {
    this.#worker.ref();
    return this;
  }

  /** True once close() was called or the worker stopped after an error. */
  get closed(): boolean {
    return this.#stopped;
  }

  /**
   * Stops the worker (it wakes at once from poll through the eventfd), closes its socket and
   * the eventfd, and resolves when the thread has exited; no event is delivered after close()
   * was called. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopped = true;
      if (this.#eventFd >= 0) write(this.#eventFd, STOP, "write(eventfd)");
      await this.#exited;
    })();
    return this.#closing;
  }

  #closeEventFd(): void {
    if (this.#eventFd < 0) return;
    const fd = this.#eventFd;
    this.#eventFd = -1;
    liveEventFds.delete(fd);
    try {
      close(fd);
    } catch {
      // Linux releases the fd even when close() reports an error.
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

  #emit(e: RtnetlinkEvent): void {
    if (this.#stopped) return;
    const { onEvent, onError } = this.#opts;
    if (!onError) {
      onEvent(e);
      return;
    }
    try {
      onEvent(e);
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #onMessage(m: WorkerMessage): void {
    if (this.#stopped) return;
    switch (m.type) {
      case "data":
        this.#decode(Buffer.from(m.bytes));
        break;
      case "overrun":
        this.#emit({ kind: "overrun" });
        break;
      case "fatal":
        this.#fail(new KernelError(m.syscall, m.errno, "rtnetlink monitor stopped"));
        break;
      case "ready":
        break;
    }
  }

  #decode(buf: Buffer): void {
    forEachNetlinkMessage(buf, buf.length, (type, _flags, _seq, start, end) => {
      if (this.#stopped) return false;
      switch (type) {
        case RTM_NEWLINK:
        case RTM_DELLINK: {
          const link = decodeLinkMessage(buf, start, end);
          if (link) this.#emit({ kind: type === RTM_NEWLINK ? "link-new" : "link-del", link });
          break;
        }
        case RTM_NEWROUTE:
        case RTM_DELROUTE: {
          const entry = decodeMfcMessage(buf, start, end);
          if (entry) this.#emit({ kind: type === RTM_NEWROUTE ? "mroute-new" : "mroute-del", ...entry });
          break;
        }
        // NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE: nothing to report on a notification socket.
      }
      return true;
    });
  }
}

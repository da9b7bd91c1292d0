// The lifecycle shared by mfcd's blocking readers (rtnetlink monitor, upcall reader): a
// worker_threads worker runs eval'd CommonJS code that blocks in poll([its fd, eventfd]); the
// main thread owns the eventfd and stops the worker at once by writing to it. The worker code
// (it runs unchanged from src/ and dist/) gets `koffiPath` and `eventFd` in its workerData and
// posts { type: "ready" } once polling, { type: "fatal", syscall, errno } before it gives up.

import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { KernelError } from "./kernel-error.js";
import { EFD_CLOEXEC, EFD_NONBLOCK, close, eventfd, write } from "./libc.js";

const STOP = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]); // eventfd counter += 1 (any byte order works)

// Resolved once, relative to this module: works from src/ (vitest, tsx) and from dist/.
let koffiPath: string | undefined;
function resolveKoffi(): string {
  koffiPath ??= createRequire(import.meta.url).resolve("koffi");
  return koffiPath;
}

/**
 * Eventfds of running workers. At process exit Node stops worker threads and waits for them,
 * but a worker blocked inside poll() never notices (a natural exit with an unref()'d reader
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

export function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // Linux releases the fd even when close() reports an error.
  }
}

export type PollWorkerMessage = { type: string; syscall?: string; errno?: number };

export interface PollWorkerOptions<M extends PollWorkerMessage> {
  /** For error messages, e.g. "upcall reader". */
  name: string;
  /** The worker's CommonJS source. */
  source: string;
  /** workerData besides koffiPath and eventFd. */
  workerData: object;
  /** Descriptors handed to the worker, closed once it has exited (also after a failed start). */
  ownedFds?: number[];
  /** Every message after "ready" (a "fatal" one included, after the worker stopped itself). */
  onMessage: (m: M) => void;
  /** The worker failed after start() resolved (its error, or a fatal message). */
  onFail: (err: Error) => void;
}

export class PollWorker<M extends PollWorkerMessage> {
  readonly #worker: Worker;
  #eventFd: number;
  #ownedFds: number[];
  #stopped = false;
  #closing: Promise<void> | undefined;
  #readyMessage: M | undefined;
  readonly #exited: Promise<void>;

  private constructor(worker: Worker, eventFd: number, ownedFds: number[]) {
    this.#worker = worker;
    this.#eventFd = eventFd;
    this.#ownedFds = ownedFds;
    liveEventFds.add(eventFd);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on("exit", stopAllOnExit);
    }
    this.#exited = new Promise((resolve) => {
      worker.once("exit", () => {
        // The worker no longer polls its descriptors: release them.
        this.#closeFds();
        resolve();
      });
    });
  }

  /**
   * Starts the worker; resolves once it polls. Rejects with the worker's error (a KernelError
   * for a fatal message); nothing is left running then and the owned fds are closed.
   */
  static start<M extends PollWorkerMessage>(opts: PollWorkerOptions<M>): Promise<PollWorker<M>> {
    const owned = opts.ownedFds ?? [];
    let efd: number;
    let worker: Worker;
    try {
      efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    } catch (err) {
      owned.forEach(closeQuietly);
      return Promise.reject(err as Error);
    }
    try {
      worker = new Worker(opts.source, {
        eval: true,
        workerData: { ...opts.workerData, koffiPath: resolveKoffi(), eventFd: efd },
      });
    } catch (err) {
      closeQuietly(efd);
      owned.forEach(closeQuietly);
      return Promise.reject(err as Error);
    }
    const pw = new PollWorker<M>(worker, efd, owned);
    return new Promise((resolve, reject) => {
      let ready = false;
      let failure: Error | undefined;
      worker.on("message", (m: M) => {
        if (ready) {
          if (pw.#stopped) return;
          if (m.type === "fatal") pw.#fail(new KernelError(m.syscall ?? "worker", m.errno ?? 0, `${opts.name} stopped`), opts);
          else opts.onMessage(m);
        } else if (m.type === "ready") {
          ready = true;
          pw.#readyMessage = m;
          resolve(pw);
        } else if (m.type === "fatal") {
          // The worker ends by itself after a fatal message.
          failure ??= new KernelError(m.syscall ?? "worker", m.errno ?? 0, opts.name);
        }
      });
      worker.on("error", (err) => {
        // An exception inside the worker (e.g. koffi failed to load); the worker is gone.
        if (ready) pw.#fail(err, opts);
        else failure ??= err;
      });
      // A failed start rejects only once the thread is gone and the fds closed (the
      // constructor's exit listener runs first), so nothing of it is left behind.
      worker.once("exit", (code) => {
        pw.#stopped = true;
        if (!ready) reject(failure ?? new Error(`${opts.name} worker exited (code ${code}) before polling`));
      });
    });
  }

  /** Lets the process exit while the worker runs (like unref() on a timer). */
  unref(): void {
    this.#worker.unref();
  }

  /** Undoes unref(). */
  ref(): void {
    this.#worker.ref();
  }

  /** The worker's "ready" message (it may carry what the worker set up). */
  get readyMessage(): M | undefined {
    return this.#readyMessage;
  }

  /** True once close() was called or the worker stopped. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Stops the worker (woken at once through the eventfd) and resolves when it has exited and
   * its descriptors are closed. Idempotent: later calls return the same promise.
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
    this.#ownedFds.forEach(closeQuietly);
    this.#ownedFds = [];
  }

  #fail(err: Error, opts: PollWorkerOptions<M>): void {
    if (this.#stopped) return;
    this.#stopped = true;
    opts.onFail(err);
  }
}

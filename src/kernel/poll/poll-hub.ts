// One worker thread for all of mfcd's blocking readers (upcall readers of every table, the
// rtnetlink monitor): raw and netlink sockets cannot be put on libuv's loop, and a worker per
// reader costs a V8 isolate's RSS and a koffi load each. The thread blocks in poll() over every
// member's fd plus an eventfd, which the main thread writes to add or remove a member at run time
// and to stop the thread (poll-hub-worker.ts; the protocol and the handler shape are in
// poll-hub-protocol.ts).
//
// The thread runs while it has members: the first join() starts it, the last member leaving
// stops it (and the next join() starts a new one), so a process that closed its readers holds
// no thread and no descriptor. A member's failure (its handler threw, POLLNVAL) ends that member
// only; only a failure of the thread itself ends all of them.

import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";
import { KernelError, EFD_CLOEXEC, EFD_NONBLOCK, close, eventfd, write } from "../ffi/index.js";
import type { PollHubControl, PollHubEnvelope, PollHubMessage, PollHubWorkerData } from "./poll-hub-protocol.js";
import { workerExecArgv, workerModuleUrl } from "./worker-module.js";

export type { PollHubMessage } from "./poll-hub-protocol.js";

const WAKE = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]); // eventfd counter += 1 (any byte order works)
const WORKER_ENTRY = workerModuleUrl("poll-hub-worker", import.meta.url);

function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // Linux releases the fd even when close() reports an error.
  }
}

/**
 * Running hubs. At process exit Node stops worker threads and waits for them, but a thread
 * blocked inside poll() never notices (a natural exit with an unref()'d reader would hang):
 * stopping every hub from the 'exit' hook lets them finish.
 */
const liveHubs = new Set<PollHub>();
let exitHookInstalled = false;

export interface PollHubJoinOptions<M extends PollHubMessage, D = unknown> {
  /** For error messages, e.g. "upcall reader". */
  name: string;
  /** The handler module (poll-hub-protocol.ts), e.g. workerModuleUrl("upcall-reader-handler", import.meta.url). */
  handler: URL;
  /** Its createHandler's data (structured-cloned into the worker). */
  data: D;
  /** Network namespace file createHandler runs in (default: the process's own namespace). */
  netns?: string;
  /** Descriptors the handler uses, closed once it no longer polls them (also after a failed join). */
  ownedFds?: number[];
  /** Every message after "ready" (not "fatal": that one goes to onFail). */
  onMessage: (m: M) => void;
  /** The member failed after join() resolved (its handler's error or the thread's). */
  onFail: (err: Error) => void;
}

/** A reader's place in the hub. */
export interface PollHubMember<M extends PollHubMessage> {
  /** The member's "ready" message (it may carry what the handler set up). */
  readonly readyMessage: M | undefined;
  /** True once close() was called or the member failed. */
  readonly stopped: boolean;
  /** Lets the process exit while this member is polled (like unref() on a timer). */
  unref(): void;
  /** Undoes unref(). */
  ref(): void;
  /**
   * Takes the fd out of the poll set and resolves once the thread no longer polls it and the
   * owned fds are closed (and the thread has exited if this was its last member). Idempotent.
   */
  close(): Promise<void>;
}

type State = "joining" | "ready" | "gone";

class Member<M extends PollHubMessage> implements PollHubMember<M> {
  readonly id: number;
  readonly opts: PollHubJoinOptions<M, unknown>;
  readonly #hub: PollHub;
  #state: State = "joining";
  #stopped = false;
  #refd = true;
  #readyMessage: M | undefined;
  #closing: Promise<void> | undefined;
  #settle!: { resolve: (m: Member<M>) => void; reject: (err: Error) => void };
  readonly joined: Promise<Member<M>>;
  #goneResolve!: () => void;
  readonly #gone = new Promise<void>((resolve) => (this.#goneResolve = resolve));

  constructor(hub: PollHub, id: number, opts: PollHubJoinOptions<M, unknown>) {
    this.#hub = hub;
    this.id = id;
    this.opts = opts;
    this.joined = new Promise((resolve, reject) => (this.#settle = { resolve, reject }));
  }

  get readyMessage(): M | undefined {
    return this.#readyMessage;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  get refd(): boolean {
    return this.#refd;
  }

  unref(): void {
    this.#refd = false;
    this.#hub.updateRef();
  }

  ref(): void {
    this.#refd = true;
    this.#hub.updateRef();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopped = true;
      if (this.#state !== "gone") this.#hub.remove(this.id);
      await this.#gone;
    })();
    return this.#closing;
  }

  /** A message for this member from the thread. */
  deliver(m: M): void {
    switch (m.type) {
      case "ready":
        if (this.#state !== "joining") return;
        this.#state = "ready";
        this.#readyMessage = m;
        this.#settle.resolve(this);
        return;
      case "removed":
        this.leave(undefined);
        return;
      case "fatal":
        this.leave(
          m.message !== undefined
            ? new Error(`${this.opts.name} stopped: ${m.message}`)
            : new KernelError(m.syscall ?? "poll hub", m.errno ?? 0, `${this.opts.name} stopped`),
        );
        return;
      default:
        if (this.#state === "ready" && !this.#stopped) this.opts.onMessage(m);
    }
  }

  /**
   * The thread no longer polls this member's fd: release its descriptors, then settle (a failed
   * join rejects, a running member reports err unless it was being closed).
   */
  leave(err: Error | undefined): void {
    if (this.#state === "gone") return;
    const was = this.#state;
    this.#state = "gone";
    (this.opts.ownedFds ?? []).forEach(closeQuietly);
    const failed = err !== undefined && !this.#stopped;
    this.#stopped = true;
    void this.#hub.left(this).then(() => {
      this.#goneResolve();
      if (was === "joining") this.#settle.reject(err ?? new Error(`${this.opts.name} closed before polling`));
      else if (failed) this.opts.onFail(err);
    });
  }
}

export class PollHub {
  /** The hub new members join; undefined while none runs (or the last one is stopping). */
  static #current: PollHub | undefined;

  readonly #worker: Worker;
  readonly #control: MessagePort;
  readonly #stop = new Int32Array(new SharedArrayBuffer(4));
  #eventFd: number;
  readonly #members = new Map<number, Member<PollHubMessage>>();
  #nextId = 1;
  #failure: Error | undefined;
  #stopping = false;
  readonly #exited: Promise<void>;

  private constructor() {
    this.#eventFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    const { port1, port2 } = new MessageChannel();
    const workerData: PollHubWorkerData = { eventFd: this.#eventFd, control: port2, stop: this.#stop };
    try {
      this.#worker = new Worker(WORKER_ENTRY, { workerData, transferList: [port2], execArgv: workerExecArgv(WORKER_ENTRY) });
    } catch (err) {
      closeQuietly(this.#eventFd);
      port1.close();
      throw err;
    }
    this.#control = port1;
    liveHubs.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on("exit", () => liveHubs.forEach((hub) => hub.#shutdown()));
    }
    this.#worker.on("message", ({ id, msg }: PollHubEnvelope) => {
      if (id === -1) this.#failure ??= new KernelError(msg.syscall ?? "poll hub", msg.errno ?? 0, "poll hub stopped");
      else this.#members.get(id)?.deliver(msg);
    });
    // An exception inside the thread (e.g. koffi failed to load); it exits next.
    this.#worker.on("error", (err) => (this.#failure ??= err));
    this.#exited = new Promise((resolve) => {
      this.#worker.once("exit", (code) => {
        liveHubs.delete(this);
        if (PollHub.#current === this) PollHub.#current = undefined;
        this.#control.close();
        closeQuietly(this.#eventFd);
        this.#eventFd = -1;
        resolve();
        // Members still here lost their thread (it failed, or the process is exiting).
        const err = this.#failure ?? new Error(`poll hub worker exited (code ${code})`);
        for (const m of [...this.#members.values()]) m.leave(err);
      });
    });
  }

  /**
   * Adds a reader's fd to the poll set (starting the thread if none runs); resolves once it is
   * polled. Rejects with the handler's error (a KernelError for its fatal message) or the
   * thread's; nothing of the member is left then and its owned fds are closed.
   */
  static join<M extends PollHubMessage, D = unknown>(opts: PollHubJoinOptions<M, D>): Promise<PollHubMember<M>> {
    try {
      PollHub.#current ??= new PollHub();
    } catch (err) {
      (opts.ownedFds ?? []).forEach(closeQuietly);
      return Promise.reject(err as Error);
    }
    return PollHub.#current.#join(opts);
  }

  #join<M extends PollHubMessage, D>(opts: PollHubJoinOptions<M, D>): Promise<Member<M>> {
    const member = new Member<M>(this, this.#nextId++, opts);
    this.#members.set(member.id, member as unknown as Member<PollHubMessage>);
    this.updateRef();
    this.#send({ type: "add", id: member.id, handler: opts.handler.href, netns: opts.netns, data: opts.data });
    return member.joined;
  }

  /** Asks the thread to stop polling a member; it answers "removed". */
  remove(id: number): void {
    this.#send({ type: "remove", id });
  }

  /** The thread keeps the process alive while any member that has not left wants it to. */
  updateRef(): void {
    if ([...this.#members.values()].some((m) => m.refd)) this.#worker.ref();
    else this.#worker.unref();
  }

  /**
   * A member left. The last one stops the thread: the promise resolves once it has exited
   * (else at once). The worker stays ref'd until then if the member was, so a close() awaited
   * at shutdown does not let the process end under it.
   */
  left(member: { id: number }): Promise<void> {
    this.#members.delete(member.id);
    if (this.#members.size > 0) {
      this.updateRef();
      return Promise.resolve();
    }
    this.#shutdown();
    return this.#exited;
  }

  #send(m: PollHubControl): void {
    this.#control.postMessage(m);
    this.#wake();
  }

  #wake(): void {
    if (this.#eventFd < 0) return;
    try {
      write(this.#eventFd, WAKE, "write(eventfd)");
    } catch {
      // Only an overflowing counter fails, and that wakes the thread just as well.
    }
  }

  #shutdown(): void {
    if (PollHub.#current === this) PollHub.#current = undefined;
    if (this.#stopping) return;
    this.#stopping = true;
    Atomics.store(this.#stop, 0, 1);
    this.#wake();
  }
}

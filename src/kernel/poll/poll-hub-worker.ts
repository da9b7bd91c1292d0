// The poll hub's thread (entry of the Worker that poll-hub.ts starts; the protocol is in
// poll-hub-protocol.ts). One thread serves every blocking reader of the process: it blocks in
// poll([eventfd, fd of each member]) and calls the member's handler when its fd is readable.
// Handler modules are imported on first use (the only time the thread returns to its event
// loop); control messages are taken with receiveMessageOnPort after an eventfd wake-up.

import fs from "node:fs";
import os from "node:os";
import { parentPort, receiveMessageOnPort, workerData, type TransferListItem } from "node:worker_threads";
import { inNetns, KernelError, POLLIN, POLLNVAL, poll, pollRevents, pollfds, read } from "../ffi/index.js";
import type {
  PollHubControl,
  PollHubEnvelope,
  PollHubHandler,
  PollHubHandlerFactory,
  PollHubHandlerModule,
  PollHubMessage,
  PollHubWorkerData,
} from "./poll-hub-protocol.js";

type Factory = PollHubHandlerFactory<unknown, PollHubMessage>;

const { EBADF, EINTR } = os.constants.errno;
const { eventFd, control, stop } = workerData as PollHubWorkerData;
const port = parentPort;
if (port === null) throw new Error("poll-hub-worker.ts runs as a worker thread only");

/** The thread cannot go on (poll or the eventfd failed, or it is stuck in a foreign namespace). */
class ThreadBroken extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
  ) {
    super(syscall);
  }
}

const NETNS_SELF = "/proc/thread-self/ns/net";
const homeNetns = fs.statSync(NETNS_SELF).ino;
const factories = new Map<string, Factory>(); // handler module URL -> createHandler
const members = new Map<number, PollHubHandler>();

function send(id: number, msg: PollHubMessage, transfer?: TransferListItem[]): void {
  port?.postMessage({ id, msg } satisfies PollHubEnvelope, transfer);
}

function failed(id: number, err: unknown): void {
  if (err instanceof KernelError) send(id, { type: "fatal", syscall: err.syscall, errno: err.errno });
  else send(id, { type: "fatal", syscall: "poll hub handler", errno: 0, message: String((err as Error | undefined)?.stack ?? err) });
}

function leave(id: number): void {
  const h = members.get(id);
  if (!h) return;
  members.delete(id);
  try {
    h.close();
  } catch {
    // Its descriptors are released anyway; nothing to report to a member that is gone.
  }
}

async function factory(url: string): Promise<Factory> {
  let make = factories.get(url);
  if (!make) {
    const mod = (await import(url)) as Partial<PollHubHandlerModule>;
    if (typeof mod.createHandler !== "function") throw new TypeError(`${url} exports no createHandler`);
    make = mod.createHandler as unknown as Factory;
    factories.set(url, make);
  }
  return make;
}

async function add(m: Extract<PollHubControl, { type: "add" }>): Promise<void> {
  try {
    const make = await factory(m.handler);
    const h = inNetns(m.netns, () => make(m.data, (msg, transfer) => send(m.id, msg, transfer)));
    members.set(m.id, h);
    send(m.id, { ...h.ready, type: "ready" });
  } catch (err) {
    // in-netns.ts returns the thread home or throws; a thread that did not make it home would
    // open later members' sockets in a foreign namespace.
    if (m.netns !== undefined && fs.statSync(NETNS_SELF).ino !== homeNetns) {
      throw new ThreadBroken("setns(back to own netns)", err instanceof KernelError ? err.errno : 0);
    }
    failed(m.id, err);
  }
}

async function takeControl(): Promise<void> {
  for (let r = receiveMessageOnPort(control); r; r = receiveMessageOnPort(control)) {
    const m = r.message as PollHubControl;
    if (m.type === "add") await add(m);
    else {
      leave(m.id);
      send(m.id, { type: "removed" });
    }
  }
}

/** Reads each member whose fd has revents; a member that throws leaves. True if any left. */
function serve(ids: readonly number[], set: Buffer): boolean {
  let changed = false;
  ids.forEach((id, i) => {
    const rev = pollRevents(set, i + 1);
    const h = members.get(id);
    if (rev === 0 || !h) return; // nothing, or removed just now
    try {
      if (rev & POLLNVAL) throw new KernelError("poll", EBADF);
      h.read();
    } catch (err) {
      leave(id);
      failed(id, err);
      changed = true;
    }
  });
  return changed;
}

async function run(): Promise<void> {
  const counter = Buffer.alloc(8);
  let ids: number[] = [];
  let set: Buffer = Buffer.alloc(0);
  let dirty = true;
  for (;;) {
    if (dirty) {
      ids = [...members.keys()];
      set = pollfds([eventFd, ...ids.map((id) => members.get(id)?.fd ?? -1)], POLLIN);
      dirty = false;
    }
    try {
      poll(set, -1);
    } catch (err) {
      if (err instanceof KernelError && err.errno === EINTR) continue;
      throw new ThreadBroken("poll", err instanceof KernelError ? err.errno : 0);
    }
    if (pollRevents(set, 0) !== 0) {
      // Woken by the main thread: reset the counter, then stop or take the changes.
      try {
        read(eventFd, counter, "read(eventfd)");
      } catch (err) {
        throw new ThreadBroken("read(eventfd)", err instanceof KernelError ? err.errno : 0);
      }
      if (Atomics.load(stop, 0) !== 0) return;
      await takeControl();
      dirty = true;
    }
    if (serve(ids, set)) dirty = true;
  }
}

try {
  await run();
} catch (err) {
  if (!(err instanceof ThreadBroken)) throw err;
  send(-1, { type: "broken", syscall: err.syscall, errno: err.errno });
} finally {
  // Sockets the handlers made belong to the process: close them before the thread ends.
  for (const id of [...members.keys()]) leave(id);
}

// Source of PollHub's worker thread, as a CommonJS string for `new Worker(source, { eval: true })`:
// it must run unchanged from TypeScript sources (vitest/tsx, where no sibling .js file exists)
// and from dist/ (tsc copies no .js files), and needs no module resolution of its own (the main
// thread passes koffi's absolute path).
//
// One thread serves every blocking reader of the process: it blocks in poll([eventfd, fd of each
// member]) and calls the member's handler when its fd is readable. A handler is the reader's own
// code (upcall-reader-handler.ts, rtnetlink-monitor-handler.ts), sent as source in its "add"
// message and compiled once per kind: `(env) => (data, post) => { fd, ready, read(), close() }`.
//   env:    { koffi, lib (libc), LE, errno (os.constants.errno), fatal(syscall, errno) (an
//           error to throw), inNetns(path, fn) }
//   post:   post(msg, transfer?) sends msg to this member on the main thread
//   fd:     the descriptor to poll; ready: extra fields of the member's "ready" message
//   read(): the fd has revents: read a bounded amount (so others are served), post the result
//   close(): the member leaves (removed, or after it threw): release what the handler opened
// A handler that throws stops only its own member ("fatal" to it); the others keep running.
//
// The main thread changes the set through a MessagePort (`control`): { type: "add", id, kind,
// source, data } and { type: "remove", id }, each followed by a write to the eventfd, which wakes
// poll(); the worker then takes them with receiveMessageOnPort (it never returns to its event
// loop). stop[0] !== 0 with an eventfd write ends the thread (shutdown of the hub, process exit).
//
// Messages to the main thread, { id, msg }:
//   { type: "ready", ...handler.ready }   the member's fd is polled from now on
//   { type: "removed" }                   answer to "remove": its fd is no longer polled
//   { type: "fatal", syscall, errno, message? }   the member stopped (its fd is no longer polled)
//   anything the handler posts
// and { id: -1, msg: { type: "broken", syscall, errno } } before the whole thread gives up.

import type { MessagePort } from "node:worker_threads";

/** workerData of the hub's worker. */
export interface PollHubWorkerData {
  /** Absolute path of koffi's CommonJS entry point. */
  koffiPath: string;
  /** eventfd that wakes poll() (owned and closed by the main thread). */
  eventFd: number;
  /** Where the main thread posts "add" and "remove" (transferred). */
  control: MessagePort;
  /** Int32Array over a SharedArrayBuffer; [0] !== 0: stop. */
  stop: Int32Array;
}

export const POLL_HUB_WORKER_SOURCE = String.raw`"use strict";
const { parentPort, workerData, receiveMessageOnPort } = require("node:worker_threads");
const os = require("node:os");
const vm = require("node:vm");
const koffi = require(workerData.koffiPath);

const { eventFd, control, stop } = workerData;
const { EAGAIN, EINTR, EBADF } = os.constants.errno;
const POLLIN = 0x1, POLLNVAL = 0x20;
const O_RDONLY = 0, O_CLOEXEC = 0o2000000, CLONE_NEWNET = 0x40000000;
const LE = os.endianness() === "LE";

const lib = koffi.load("libc.so.6");
const c = {
  poll: lib.func("int poll(void *fds, unsigned long nfds, int timeout)"),
  read: lib.func("intptr_t read(int fd, void *buf, size_t count)"),
  open: lib.func("int open(const char *path, int flags)"),
  close: lib.func("int close(int fd)"),
  setns: lib.func("int setns(int fd, int nstype)"),
};

class Fatal extends Error {
  constructor(syscall, errno) {
    super(syscall);
    this.syscall = syscall;
    this.errno = errno;
  }
}
// Thrown when this thread cannot continue at all (it is left in a foreign namespace).
class Broken extends Fatal {}

// setns() changes the calling thread only, and a socket stays in the namespace it was made in:
// a handler makes its socket inside fn and the thread returns home before polling again.
function inNetns(path, fn) {
  if (path === null || path === undefined) return fn();
  const target = c.open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) throw new Fatal("open(" + path + ")", koffi.errno());
  const home = c.open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  try {
    if (home < 0) throw new Fatal("open(/proc/thread-self/ns/net)", koffi.errno());
    if (c.setns(target, CLONE_NEWNET) < 0) throw new Fatal("setns", koffi.errno());
    try {
      return fn();
    } finally {
      if (c.setns(home, CLONE_NEWNET) < 0) throw new Broken("setns(back to own netns)", koffi.errno());
    }
  } finally {
    if (home >= 0) c.close(home);
    c.close(target);
  }
}

const env = { koffi, lib, LE, errno: os.constants.errno, fatal: (syscall, errno) => new Fatal(syscall, errno), inNetns };
const kinds = new Map(); // kind -> (data, post) => handler
const members = new Map(); // id -> handler

function send(id, msg, transfer) {
  parentPort.postMessage({ id, msg }, transfer);
}

// A handler's error ends its member only; Broken ends the thread (rethrown to the top).
function failed(id, err) {
  if (err instanceof Broken) throw err;
  if (err instanceof Fatal) send(id, { type: "fatal", syscall: err.syscall, errno: err.errno });
  else send(id, { type: "fatal", syscall: "poll hub handler", errno: 0, message: String(err && err.stack || err) });
}

function leave(id) {
  const h = members.get(id);
  if (!h) return;
  members.delete(id);
  try {
    h.close();
  } catch {
    // Its descriptors are released anyway; nothing to report to a member that is gone.
  }
}

function add(m) {
  try {
    let make = kinds.get(m.kind);
    if (!make) {
      make = vm.runInThisContext(m.source, { filename: "mfcd-" + m.kind + "-handler.js" })(env);
      kinds.set(m.kind, make);
    }
    const h = make(m.data, (msg, transfer) => send(m.id, msg, transfer));
    members.set(m.id, h);
    send(m.id, Object.assign({ type: "ready" }, h.ready));
  } catch (err) {
    failed(m.id, err);
  }
}

function takeControl() {
  for (let r = receiveMessageOnPort(control); r; r = receiveMessageOnPort(control)) {
    const m = r.message;
    if (m.type === "add") add(m);
    else if (m.type === "remove") {
      leave(m.id);
      send(m.id, { type: "removed" });
    }
  }
}

function u16(buf, off, v) { if (LE) buf.writeUInt16LE(v, off); else buf.writeUInt16BE(v, off); }
function i32(buf, off, v) { if (LE) buf.writeInt32LE(v, off); else buf.writeInt32BE(v, off); }
function i16at(buf, off) { return LE ? buf.readInt16LE(off) : buf.readInt16BE(off); }

function run() {
  const counter = Buffer.alloc(8);
  let fds = Buffer.alloc(0); // struct pollfd[] { int fd; short events; short revents; }
  let ids = [];
  let dirty = true;
  for (;;) {
    if (dirty) {
      ids = [...members.keys()];
      fds = Buffer.alloc(8 * (ids.length + 1));
      i32(fds, 0, eventFd);
      u16(fds, 4, POLLIN);
      ids.forEach((id, i) => {
        i32(fds, 8 * (i + 1), members.get(id).fd);
        u16(fds, 8 * (i + 1) + 4, POLLIN);
      });
      dirty = false;
    }
    if (c.poll(fds, ids.length + 1, -1) < 0) {
      const errno = koffi.errno();
      if (errno === EINTR) continue;
      send(-1, { type: "broken", syscall: "poll", errno });
      return;
    }
    if (i16at(fds, 6) !== 0) {
      // Woken by the main thread: reset the counter, then stop or take the changes.
      if (c.read(eventFd, counter, 8) < 0 && koffi.errno() !== EAGAIN) {
        send(-1, { type: "broken", syscall: "read(eventfd)", errno: koffi.errno() });
        return;
      }
      if (stop[0] !== 0) return;
      takeControl();
      dirty = true;
    }
    for (let i = 0; i < ids.length; i++) {
      const rev = i16at(fds, 8 * (i + 1) + 6);
      if (rev === 0) continue;
      const id = ids[i];
      const h = members.get(id);
      if (!h) continue; // removed just now
      try {
        if (rev & POLLNVAL) throw new Fatal("poll", EBADF);
        h.read();
      } catch (err) {
        leave(id);
        failed(id, err);
        dirty = true;
      }
    }
  }
}

try {
  run();
} catch (err) {
  if (!(err instanceof Broken)) throw err;
  send(-1, { type: "broken", syscall: err.syscall, errno: err.errno });
} finally {
  // Sockets the handlers made belong to the process: close them before the thread ends.
  for (const id of [...members.keys()]) leave(id);
}
`;

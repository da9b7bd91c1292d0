// A NETLINK_ROUTE socket for synchronous dumps (RTM_GETROUTE, RTM_GETLINK) and single requests
// answered with one message (RTM_GETROUTE without NLM_F_DUMP as `ip route get`, RTM_NEWRULE
// with NLM_F_ACK) on the calling thread. Safe to block on: the kernel builds a request's answer
// inside the sendmsg() call and every part of a dump inside the recv() that asks for it, so
// nothing waits for anything but the CPU. Not subscribed to any group, so nothing but the
// replies to our own requests ever arrives on it.

import os from "node:os";
import {
  inNetns,
  KernelError,
  AF_NETLINK,
  MSG_TRUNC,
  NETLINK_ROUTE,
  SOCK_CLOEXEC,
  SOCK_RAW,
  close,
  recvFlags,
  send,
  socket,
  trySetsockopt,
} from "../ffi/index.js";
import {
  forEachNetlinkMessage,
  readI32,
  writeU16,
  writeU32,
  NETLINK_GET_STRICT_CHK,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  SOL_NETLINK,
} from "../abi/index.js";

const { EBADF, EINTR, EMSGSIZE } = os.constants.errno;

/** The answer to a single request: its message type and a copy of its payload. */
export interface NetlinkReply {
  type: number;
  payload: Buffer;
}

/** Called per reply message of a dump: its type and payload range [start, end) in `buf`. */
export type DumpMessageFn = (type: number, buf: Buffer, start: number, end: number) => void;

/** How often a dump is restarted after NLM_F_DUMP_INTR before giving up with EINTR. */
const MAX_DUMP_ATTEMPTS = 10;

export class NetlinkRouteSocket {
  #fd: number;
  #seq = 0;
  // Dump parts are at most 32 KiB on Linux 6.x (larger only for links with huge attribute
  // sets); MSG_TRUNC reveals a part that did not fit rather than losing its tail silently.
  readonly #buf = Buffer.allocUnsafe(128 * 1024);

  private constructor(
    fd: number,
    /** NETLINK_GET_STRICT_CHK is on: the kernel applies filters sent with dump requests. */
    readonly strict: boolean,
  ) {
    this.#fd = fd;
  }

  /** Creates the socket inside `netns` (a path such as /run/netns/NAME) or in ours. */
  static open(netns?: string): NetlinkRouteSocket {
    const fd = inNetns(netns, () => socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    const one = Buffer.alloc(4);
    one.writeInt32LE(1, 0);
    // Old kernels (< 4.20) lack strict checking; callers then filter in user space.
    const strict = trySetsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, one) === 0;
    return new NetlinkRouteSocket(fd, strict);
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    try {
      close(fd);
    } catch {
      // Linux releases the fd even when close() reports an error.
    }
  }

  /**
   * Sends `type` with NLM_F_REQUEST | `flags` and `body` (family header plus attributes) and
   * returns the answer. An error answer (NLMSG_ERROR with a non-zero code) is returned as
   * { errno } rather than thrown: for lookups it is a result ("no route"), not a failure.
   * Throws KernelError only when a system call fails.
   */
  request(type: number, body: Buffer, flags = 0): NetlinkReply | { errno: number } {
    if (this.#fd < 0) throw new KernelError(`netlink request ${type}`, EBADF, "socket closed");
    const seq = this.#send(type, NLM_F_REQUEST | flags, body, `send(netlink request ${type})`);

    const buf = this.#buf;
    for (;;) {
      const n = recvFlags(this.#fd, buf, MSG_TRUNC, `recv(netlink request ${type})`);
      if (n > buf.length) throw new KernelError(`recv(netlink request ${type})`, EMSGSIZE, `${n}-byte reply`);
      let answer: NetlinkReply | { errno: number } | undefined;
      forEachNetlinkMessage(buf, n, (mtype, _flags, mseq, start, end) => {
        // Answers to an earlier request abandoned by an exception: skip them.
        if (mseq !== seq) return true;
        if (mtype === NLMSG_ERROR) {
          const code = end - start >= 4 ? -readI32(buf, start) : 0;
          // Code 0 is an acknowledgement; without NLM_F_ACK none is sent, so treat it as "no data".
          answer = { errno: code };
          return false;
        }
        if (mtype === NLMSG_DONE) {
          answer = { errno: 0 };
          return false;
        }
        answer = { type: mtype, payload: Buffer.from(buf.subarray(start, end)) };
        return false;
      });
      if (answer !== undefined) return answer;
    }
  }

  /**
   * Dumps: sends `type` with NLM_F_DUMP and `body` (the family header plus any attributes),
   * and calls `onMessage` for each reply message that is not NLMSG_DONE / NLMSG_ERROR. If the
   * kernel flags the dump as interrupted (NLM_F_DUMP_INTR: the objects changed meanwhile),
   * calls `onRestart` and starts over, so `onMessage` sees one consistent snapshot in the end.
   * Throws KernelError for an error reply (e.g. ENOENT for a filtered table that does not
   * exist) or a failed system call.
   */
  dump(type: number, body: Buffer, onMessage: DumpMessageFn, onRestart: () => void = () => undefined): void {
    for (let attempt = 1; ; attempt++) {
      if (this.#dumpOnce(type, body, onMessage)) return;
      if (attempt >= MAX_DUMP_ATTEMPTS) {
        throw new KernelError("netlink dump", EINTR, `interrupted ${attempt} times by concurrent changes`);
      }
      onRestart();
    }
  }

  /**
   * Sends one message: a netlink header (`type`, `flags`, the next sequence number) before
   * `body` on the open socket. Returns the sequence number the answer carries; `what` names
   * the send in errors.
   */
  #send(type: number, flags: number, body: Buffer, what: string): number {
    const seq = (this.#seq = (this.#seq + 1) >>> 0 || 1);
    const req = Buffer.alloc(NLMSG_HDRLEN + body.length);
    writeU32(req, 0, req.length);
    writeU16(req, 4, type);
    writeU16(req, 6, flags);
    writeU32(req, 8, seq);
    body.copy(req, NLMSG_HDRLEN);
    send(this.#fd, req, what);
    return seq;
  }

  /** One dump attempt; false when some part carried NLM_F_DUMP_INTR. */
  #dumpOnce(type: number, body: Buffer, onMessage: DumpMessageFn): boolean {
    if (this.#fd < 0) throw new KernelError("netlink dump", EBADF, "socket closed");
    const seq = this.#send(type, NLM_F_REQUEST | NLM_F_DUMP, body, `send(netlink dump ${type})`);

    const buf = this.#buf;
    let consistent = true;
    let done = false;
    let error = 0;
    while (!done) {
      const n = recvFlags(this.#fd, buf, MSG_TRUNC, `recv(netlink dump ${type})`);
      if (n > buf.length) throw new KernelError(`recv(netlink dump ${type})`, EMSGSIZE, `${n}-byte reply part`);
      forEachNetlinkMessage(buf, n, (mtype, flags, mseq, start, end) => {
        // Leftovers of an earlier dump that was abandoned by an exception: skip them.
        if (mseq !== seq) return;
        if (flags & NLM_F_DUMP_INTR) consistent = false;
        if (mtype === NLMSG_DONE) {
          // Since Linux 4.x the DONE payload is the dump's own result (0 or -errno).
          if (end - start >= 4) error = -readI32(buf, start);
          done = true;
          return false;
        }
        if (mtype === NLMSG_ERROR) {
          error = end - start >= 4 ? -readI32(buf, start) : 0;
          done = true;
          return false;
        }
        onMessage(mtype, buf, start, end);
        return true;
      });
    }
    if (error > 0) throw new KernelError(`netlink dump ${type}`, error);
    return consistent;
  }
}

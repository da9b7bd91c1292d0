// A NETLINK_ROUTE socket for single synchronous requests that are answered with one message
// (e.g. RTM_GETROUTE without NLM_F_DUMP: `ip route get`). The kernel builds the answer inside
// the sendmsg() call, so the recv() that follows never waits for anything. Complements
// NetlinkRouteSocket, which does dumps only.

import os from "node:os";
import { inNetns } from "./in-netns.js";
import { KernelError } from "./kernel-error.js";
import {
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
} from "./libc.js";
import { forEachNetlinkMessage, readI32, writeU16, writeU32 } from "./netlink-messages.js";
import { NETLINK_GET_STRICT_CHK, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_REQUEST, SOL_NETLINK } from "./rtnetlink-constants.js";

const { EBADF, EMSGSIZE } = os.constants.errno;

/** The answer to a request: its message type and a copy of its payload. */
export interface NetlinkReply {
  type: number;
  payload: Buffer;
}

export class NetlinkRequestSocket {
  #fd: number;
  #seq = 0;
  readonly #buf = Buffer.allocUnsafe(64 * 1024);

  private constructor(
    fd: number,
    /** NETLINK_GET_STRICT_CHK is on: the kernel validates request headers strictly. */
    readonly strict: boolean,
  ) {
    this.#fd = fd;
  }

  /** Creates the socket inside `netns` (a path such as /run/netns/NAME) or in ours. */
  static open(netns?: string): NetlinkRequestSocket {
    const fd = inNetns(netns, () => socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    const one = Buffer.alloc(4);
    one.writeInt32LE(1, 0);
    const strict = trySetsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, one) === 0;
    return new NetlinkRequestSocket(fd, strict);
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
    const seq = (this.#seq = (this.#seq + 1) >>> 0 || 1);
    const req = Buffer.alloc(NLMSG_HDRLEN + body.length);
    writeU32(req, 0, req.length);
    writeU16(req, 4, type);
    writeU16(req, 6, NLM_F_REQUEST | flags);
    writeU32(req, 8, seq);
    body.copy(req, NLMSG_HDRLEN);
    send(this.#fd, req, `send(netlink request ${type})`);

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
}

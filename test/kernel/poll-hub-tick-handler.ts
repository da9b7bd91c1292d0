// A handler module for poll-hub.test.ts (poll-hub-protocol.ts): reads an eventfd's counter and
// posts it. Counter 13 is "the fd broke" (EIO), 99 a bug in the handler.
import os from "node:os";
import { KernelError, read } from "../../src/kernel/ffi/index.js";
import type { PollHubHandler, PollHubPost } from "../../src/kernel/poll/poll-hub-protocol.js";

export interface TickData {
  fd: number;
  failToStart: boolean;
}

export type TickMessage = { type: "ready"; fd: number } | { type: "tick"; value: number };

const { EIO, ENODEV } = os.constants.errno;

export function createHandler({ fd, failToStart }: TickData, post: PollHubPost<TickMessage>): PollHubHandler {
  if (failToStart) throw new KernelError("tick-open", ENODEV);
  const buf = Buffer.alloc(8);
  return {
    fd,
    ready: { fd },
    read() {
      if (read(fd, buf, "read") === undefined) return;
      const value = Number(os.endianness() === "LE" ? buf.readBigUInt64LE(0) : buf.readBigUInt64BE(0));
      if (value === 13) throw new KernelError("tick", EIO);
      if (value === 99) throw new TypeError("handler bug");
      post({ type: "tick", value });
    },
    close() {},
  };
}

// What the two sides of the poll hub (poll-hub.ts on the main thread, poll-hub-worker.ts on its
// thread) and the handler modules the thread imports agree on.
//
// A handler module (upcall-reader-handler.ts, rtnetlink-monitor-handler.ts) is a reader's own
// code on the hub's thread. It exports `createHandler(data, post)`, called once per member when
// it joins (inside the member's network namespace, if it names one: a socket stays in the
// namespace it was made in, and the thread returns home before polling again), returning
//   fd:      the descriptor to poll; ready: extra fields of the member's "ready" message
//   read():  the fd has revents: read a bounded amount (so others are served), post the result
//   close(): the member leaves (removed, or after it threw): release what the handler opened
// A KernelError thrown by createHandler or read() stops that member with its syscall and errno
// ("fatal"); any other exception stops it with its stack as the message. Other members go on.
//
// The main thread changes the set through a MessagePort (`control`), each message followed by a
// write to the eventfd, which wakes poll(); the thread takes them with receiveMessageOnPort.
// stop[0] !== 0 with an eventfd write ends the thread (shutdown of the hub, process exit).
//
// Messages to the main thread are PollHubEnvelopes, { id, msg }:
//   { type: "ready", ...handler.ready }   the member's fd is polled from now on
//   { type: "removed" }                   answer to "remove": its fd is no longer polled
//   { type: "fatal", syscall, errno, message? }   the member stopped (its fd is no longer polled)
//   anything the handler posts
// and { id: -1, msg: { type: "broken", syscall, errno } } before the whole thread gives up.

import type { MessagePort, TransferListItem } from "node:worker_threads";

/** workerData of the hub's thread. */
export interface PollHubWorkerData {
  /** eventfd that wakes poll() (owned and closed by the main thread). */
  eventFd: number;
  /** Where the main thread posts PollHubControl messages (transferred). */
  control: MessagePort;
  /** Int32Array over a SharedArrayBuffer; [0] !== 0: stop. */
  stop: Int32Array;
}

/** Main thread → hub thread. */
export type PollHubControl =
  | {
      type: "add";
      id: number;
      /** URL of the handler module (workerModuleUrl). */
      handler: string;
      /** Network namespace file createHandler runs in; undefined: the thread's own. */
      netns: string | undefined;
      /** createHandler's data (structured-cloned). */
      data: unknown;
    }
  | { type: "remove"; id: number };

/** A message of (or about) one member; handlers add their own types. */
export type PollHubMessage = { type: string; syscall?: string; errno?: number; message?: string };

/** Hub thread → main thread: a message for member `id` (-1: the whole thread). */
export interface PollHubEnvelope {
  id: number;
  msg: PollHubMessage;
}

/** Sends a message to the member on the main thread (transfer: ArrayBuffers to move). */
export type PollHubPost<M> = (msg: M, transfer?: TransferListItem[]) => void;

/** What createHandler returns. */
export interface PollHubHandler {
  fd: number;
  ready?: object;
  read(): void;
  close(): void;
}

/** The export of a handler module. */
export type PollHubHandlerFactory<D, M> = (data: D, post: PollHubPost<M>) => PollHubHandler;

/** A handler module as the hub's thread imports it. */
export interface PollHubHandlerModule {
  createHandler: PollHubHandlerFactory<never, never>;
}

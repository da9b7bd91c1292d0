// What every main-thread reader on the poll hub shares (UpcallReader, RtnetlinkMonitor): its
// place in the hub, ref/unref, close, and where errors go. A failure of the member, or an error
// thrown by the user's callback, goes to onError when given; without it, it is thrown as an
// uncaught exception, like an 'error' event nobody listens to.

import { PollHub, type PollHubJoinOptions, type PollHubMember } from "./poll-hub.js";
import type { PollHubMessage } from "./poll-hub-protocol.js";

export abstract class PollHubReader<M extends PollHubMessage> {
  readonly #onError: ((err: Error) => void) | undefined;
  #member!: PollHubMember<M>;

  protected constructor(onError: ((err: Error) => void) | undefined) {
    this.#onError = onError;
  }

  /** Joins the hub (resolves once the handler is polled); every later message goes to onMessage. */
  protected async join<D>(opts: Omit<PollHubJoinOptions<M, D>, "onMessage" | "onFail">): Promise<void> {
    this.#member = await PollHub.join<M, D>({
      ...opts,
      onMessage: (m) => this.onMessage(m),
      onFail: (err) => this.#fail(err),
    });
  }

  /** A message of the handler's (after "ready"), on the event loop. */
  protected abstract onMessage(m: M): void;

  protected get member(): PollHubMember<M> {
    return this.#member;
  }

  /**
   * Lets the process exit while the reader runs (it no longer keeps the event loop alive), like
   * unref() on a timer or socket. Events are still delivered while the process lives; at exit
   * the hub's thread is woken and stops. process.exit() works either way.
   */
  unref(): this {
    this.#member.unref();
    return this;
  }

  /** Undoes unref(): the running reader keeps the process alive again (the default). */
  ref(): this {
    this.#member.ref();
    return this;
  }

  /** True once close() was called or the reader stopped after an error. */
  get closed(): boolean {
    return this.#member.stopped;
  }

  /**
   * Takes the socket out of the poll hub (woken at once through its eventfd) and resolves once
   * the hub no longer polls it and its descriptor is closed (with the hub's thread, if it was the
   * last reader); nothing is delivered after close() was called. Idempotent: later calls return
   * the same promise.
   */
  close(): Promise<void> {
    return this.#member.close();
  }

  /** Calls the user's `callback` with `value`; what it throws goes where errors go (above). */
  protected deliver<T>(callback: (value: T) => void, value: T): void {
    const onError = this.#onError;
    if (!onError) {
      callback(value);
      return;
    }
    try {
      callback(value);
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #fail(err: Error): void {
    const onError = this.#onError;
    if (onError) onError(err);
    else
      queueMicrotask(() => {
        throw err;
      });
  }
}

// Run a synchronous function with the calling thread inside another network namespace.
// setns(CLONE_NEWNET) affects only the calling thread, and a socket (or a /proc/thread-self/net
// file) stays bound to the namespace it was created in, so this lets one process own kernel
// objects in several namespaces without `ip netns exec`. Nothing else runs on this thread
// while `fn` runs (it is synchronous), so the rest of Node never sees the foreign namespace.

import { CLONE_NEWNET, O_CLOEXEC, O_RDONLY, close, open, setns } from "./libc.js";
import { KernelError } from "./kernel-error.js";

/**
 * Calls `fn` inside the network namespace at `netnsPath` (e.g. /run/netns/NAME), or directly
 * when `netnsPath` is undefined. Always returns the thread to its own namespace, also when `fn`
 * throws; if even that fails, the process cannot continue safely and the error says so.
 */
export function inNetns<T>(netnsPath: string | undefined, fn: () => T): T {
  if (netnsPath === undefined) return fn();
  const target = open(netnsPath, O_RDONLY | O_CLOEXEC);
  let home: number | undefined;
  try {
    home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    setns(target, CLONE_NEWNET);
    try {
      return fn();
    } finally {
      try {
        setns(home, CLONE_NEWNET);
      } catch (err) {
        const errno = err instanceof KernelError ? err.errno : 0;
        // eslint-disable-next-line no-unsafe-finally -- this must win over fn's own error
        throw new KernelError("setns(back to own netns)", errno, "thread left in a foreign namespace");
      }
    }
  } finally {
    if (home !== undefined) close(home);
    close(target);
  }
}

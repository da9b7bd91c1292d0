// Per-test undo list for kernel tests: push an undo step as each resource is created; after
// each test they run in reverse order (sockets and readers before their namespaces), all of them
// even when some fail, and the failures are reported together.

import { afterEach } from "vitest";

export function cleanupAfterEach(): (() => unknown)[] {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    const errors: unknown[] = [];
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, "cleanup failed");
  });
  return cleanups;
}

// vitest globalSetup: remove test namespaces (`mfct-<pid>-*`) left behind by test processes that
// died without cleaning up, before the run and again after it (a worker of this run may have been
// killed, and worker threads never run exit hooks). Namespaces of other live processes — e.g. a
// concurrent test run — are left alone.
// It also bundles src/ into the bins dist/server/main.js and dist/cli/main.js (scripts/bundle.mjs,
// ~1 s) the end-to-end tests run, so they test the current sources as users run them.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { sweepStaleNamespaces } from "./netns.js";

async function sweep(when: string, includeThisProcess: boolean): Promise<void> {
  if (process.getuid?.() !== 0) return; // no namespaces without root; kernel tests say so themselves
  try {
    const swept = await sweepStaleNamespaces({ includeThisProcess });
    if (swept.length > 0) {
      console.warn(`[global-setup] ${when}: removed ${swept.length} stale test namespace(s): ${swept.join(", ")}`);
    }
  } catch (err) {
    console.warn(`[global-setup] ${when}: sweeping stale namespaces failed: ${String(err)}`);
  }
}

export async function setup(): Promise<void> {
  if (process.getuid?.() !== 0) {
    // Fail loudly instead of skipping: a green run without the kernel tests would be a lie.
    throw new Error("mfcd's tests need root: they build network namespaces and open raw IGMP sockets");
  }
  await sweep("before run", false);
  // The test runner (scripts/test-runner) bundles once on the host before booting any guest.
  if (process.env.MFCD_TEST_BUNDLED === "1") return;
  execFileSync(process.execPath, [path.resolve(import.meta.dirname, "../../scripts/bundle.mjs")], { stdio: "inherit" });
}

export async function teardown(): Promise<void> {
  // All workers are done: namespaces of worker threads (which share this pid) go too.
  await sweep("after run", true);
}

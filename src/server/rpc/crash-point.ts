// Fault injection for the crash tests: MFCD_CRASH_POINT=<name> makes mfcd SIGKILL itself when it
// reaches that point — between a kernel write and the state record that acknowledges it, the
// window a crash can hit — so a test can prove that the restart makes kernel == state file. Unset
// (always, outside those tests) it costs one comparison.
// "name@N": the N-th time that point is reached (default the first).
const [armed, nth] = (process.env.MFCD_CRASH_POINT ?? "").split("@");
let countdown = Number(nth ?? 1);

/** The points tests can arm (test/e2e/crash-points.test.ts). */
export type CrashPointName = "add-route:kernel-written" | "del-route:kernel-written" | "apply-routes:kernel-written";

export function crashPoint(name: CrashPointName): void {
  if (armed !== name || --countdown > 0) return;
  process.kill(process.pid, "SIGKILL");
  // kill() returns before every thread is gone: nothing after this point may run.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

// The one place for time bounds in tests. Tests wait for conditions, never for fixed times; a
// bound on a wait only matters when something is broken, so it must be generous on every machine
// the suite runs on. Inside a user-mode Linux guest (scripts/uml/run-in-guest.sh sets
// MFCD_IN_UML_GUEST=1) the kernel is a single-CPU process and every syscall costs several host
// context switches (Node starts in ~1 s instead of 50 ms), so bounds are scaled up there.
//
//   MFCD_TEST_TIME_SCALE  the factor (a number > 0); default 10 in the guest, 1 elsewhere.
//
// Use bound(ms) for anything that gives up: waitFor timeouts, readiness waits, test and hook
// timeouts, grace periods before SIGKILL. Do not use it to pace traffic or to choose what a test
// measures (a Diagnose window that must contain a burst is a bound; a stream's interval is not).

const DEFAULT_GUEST_SCALE = 10;

function readScale(env: NodeJS.ProcessEnv): number {
  const raw = env.MFCD_TEST_TIME_SCALE;
  if (raw !== undefined && raw !== "") {
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0) {
      throw new Error(`MFCD_TEST_TIME_SCALE must be a number > 0, got ${JSON.stringify(raw)}`);
    }
    return v;
  }
  return env.MFCD_IN_UML_GUEST === "1" ? DEFAULT_GUEST_SCALE : 1;
}

/** True inside a user-mode Linux guest (scripts/uml/run-in-guest.sh). */
export const IN_UML_GUEST = process.env.MFCD_IN_UML_GUEST === "1";

/** The factor every bound is multiplied by on this machine. */
export const TIME_SCALE = readScale(process.env);

/** `ms` scaled for this machine (rounded up to whole milliseconds). */
export function bound(ms: number): number {
  return Math.ceil(ms * TIME_SCALE);
}

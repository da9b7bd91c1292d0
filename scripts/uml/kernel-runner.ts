// Where a lab runs: on the host's kernel or in a user-mode Linux guest. MFCD_KERNEL=host|uml|auto
// (default auto: the guest only where the host kernel lacks what is needed) — one variable for
// `npm test` and `npm run demo`.

export type KernelRunner = "host" | "uml" | "auto";

export const KERNEL_RUNNER_VARIABLE = "MFCD_KERNEL";

export function kernelRunner(env: NodeJS.ProcessEnv = process.env): KernelRunner {
  const value = env[KERNEL_RUNNER_VARIABLE];
  const v = (value ?? "").trim() || "auto";
  if (v === "host" || v === "uml" || v === "auto") return v;
  throw new Error(`${KERNEL_RUNNER_VARIABLE}=${value}: expected host, uml or auto`);
}

/** True inside a guest booted by run-in-guest.sh (which never boots another one). */
export function inGuest(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.MFCD_IN_UML_GUEST === "1";
}

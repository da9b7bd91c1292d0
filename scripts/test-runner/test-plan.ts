// Where each test file runs: natively, in a user-mode Linux guest, or nowhere (with the reason).

import type { KernelNeed, TestFile } from "./test-needs.js";

import type { KernelRunner } from "../uml/kernel-runner.js";

export interface TestPlan {
  native: TestFile[];
  /** Native files that boot the project's user-mode kernel (run once it is built). */
  nativeWithKernel: TestFile[];
  guest: TestFile[];
  /** Files for Debian's user-mode kernel (a kernel lacking options). */
  debianGuest: TestFile[];
  /** Files that cannot run in this mode, with what the host lacks. */
  unrunnable: { file: TestFile; missing: KernelNeed[] }[];
}

export function planTests(files: TestFile[], hostHas: ReadonlySet<KernelNeed>, mode: KernelRunner): TestPlan {
  const plan: TestPlan = { native: [], nativeWithKernel: [], guest: [], debianGuest: [], unrunnable: [] };
  for (const f of files) {
    const missing = f.needs.filter((n) => !hostHas.has(n));
    if (f.needs.length === 0) plan.native.push(f);
    else if (f.needs.includes("uml-kernel")) plan.nativeWithKernel.push(f);
    else if (f.needs.includes("debian-uml")) {
      if (mode === "host") plan.unrunnable.push({ file: f, missing: ["debian-uml"] });
      else plan.debianGuest.push(f);
    }
    else if (mode === "uml") plan.guest.push(f);
    else if (missing.length === 0) plan.native.push(f);
    else if (mode === "auto") plan.guest.push(f);
    else plan.unrunnable.push({ file: f, missing });
  }
  return plan;
}

/**
 * Splits files into at most `n` shards of similar total weight (longest first, each to the
 * lightest shard), so parallel guests end at about the same time.
 */
export function shard<T>(items: T[], n: number, weight: (t: T) => number): T[][] {
  const shards = Array.from({ length: Math.max(1, Math.min(n, items.length)) }, () => ({ w: 0, items: [] as T[] }));
  for (const item of [...items].sort((a, b) => weight(b) - weight(a))) {
    const lightest = shards.reduce((a, b) => (b.w < a.w ? b : a));
    lightest.items.push(item);
    lightest.w += weight(item);
  }
  return shards.map((s) => s.items).filter((s) => s.length > 0);
}

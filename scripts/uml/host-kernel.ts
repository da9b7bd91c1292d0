// The host kernel's multicast routing features, in the words of the tests' needs.

import { probeKernelCapabilities, type KernelCapabilities } from "../../src/kernel/system/index.js";
import type { KernelNeed } from "../test-runner/test-needs.js";

export interface HostKernel {
  release: string;
  has: Set<KernelNeed>;
  /** The CONFIG_ option of each need the host lacks. */
  lacks: Map<KernelNeed, string>;
}

export function probeHostKernel(): HostKernel {
  const caps: KernelCapabilities = probeKernelCapabilities();
  const has = new Set<KernelNeed>();
  const lacks = new Map<KernelNeed, string>();
  for (const c of caps.capabilities) {
    if (c.name === "mfc-dump") continue;
    if (c.available) has.add(c.name);
    else lacks.set(c.name, c.option);
  }
  return { release: caps.release, has, lacks };
}

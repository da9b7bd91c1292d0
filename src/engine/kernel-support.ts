// Parts of multicast routing this kernel lacks (IPv6, tables other than the default), as the
// engine refuses or parks routes needing them. The server decides from the kernel probe
// (src/kernel/system/kernel-capabilities.ts) which (family, table)s are unusable; the engine only asks.

import { DomainError } from "./domain-error.js";
import type { AddressFamily } from "./route-key.js";

/** google.rpc.ErrorInfo reason: the kernel lacks an option the request needs. */
export const KERNEL_OPTION_MISSING = "KERNEL_OPTION_MISSING";

/** A part of the kernel a (family, table) needs and lacks (structurally a KernelCapability). */
export interface MissingKernelPart {
  /** e.g. "CONFIG_IPV6_MROUTE". */
  option: string;
  /** e.g. "IPv6 multicast routing". */
  what: string;
  /** The probe's errno and syscall. */
  detail: string;
}

/** Which kernel part a (family, table) lacks; undefined when the table can be opened. */
export type KernelSupport = (family: AddressFamily, table: number) => MissingKernelPart | undefined;

/** FAILED_PRECONDITION for a route (or table) of `family`/`table` needing `part`. */
export function kernelOptionMissing(part: MissingKernelPart, family: AddressFamily, table: number): DomainError {
  return new DomainError(
    "failed-precondition",
    `${family} table ${table} is not available: ${part.what} needs ${part.option}, which this kernel lacks` +
      (part.detail ? ` (${part.detail})` : ""),
    { reason: KERNEL_OPTION_MISSING, metadata: { option: part.option, family, table: String(table), detail: part.detail } },
  );
}

// The host around multicast routing: what this kernel offers mfcd (the capability probe),
// sysctls and SNMP counters read as Diagnose evidence, and glibc malloc tuning.
export {
  capability,
  hasCapability,
  type KernelCapabilities,
  type KernelCapability,
  type KernelCapabilityName,
  probeKernelCapabilities,
  withNftCapability,
} from "./kernel-capabilities.js";
export { rpFilter } from "./sysctl.js";
export { readNetstat } from "./netstat.js";
export { tuneMalloc } from "./malloc-tuning.js";

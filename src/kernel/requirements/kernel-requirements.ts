// What mfcd needs from the kernel, as pure functions of probe results (kernel-capabilities.ts):
// the text of a failed probe (errno → cause), which capability a (family, table) needs, and the
// one fatal start message when nothing is usable. No syscalls here, so it is unit-tested anywhere.

import type { KernelCapabilities, KernelCapability, KernelCapabilityName } from "../system/index.js";

/** The kernel option behind each capability, and what it enables (messages, GetInfo). */
export const CAPABILITY_OPTIONS: Readonly<Record<KernelCapabilityName, { option: string; what: string }>> = {
  ipv4: { option: "CONFIG_IP_MROUTE", what: "IPv4 multicast routing" },
  tables: { option: "CONFIG_IP_MROUTE_MULTIPLE_TABLES", what: "IPv4 multicast routing tables other than the default (table ≠ 0)" },
  ipv6: { option: "CONFIG_IPV6_MROUTE", what: "IPv6 multicast routing" },
  "ipv6-tables": {
    option: "CONFIG_IPV6_MROUTE_MULTIPLE_TABLES",
    what: "IPv6 multicast routing tables other than the default (table ≠ 0)",
  },
  nft: { option: "CONFIG_NF_TABLES_IPV4", what: "nftables' ip family (rescue options, Diagnose TTL probes, Trace)" },
  "mfc-dump": { option: "CONFIG_IP_MROUTE", what: "rtnetlink dumps of the IPv4 multicast forwarding cache (RTNL_FAMILY_IPMR)" },
};

/** The order capabilities are listed in. */
export const CAPABILITY_NAMES: readonly KernelCapabilityName[] = ["ipv4", "tables", "ipv6", "ipv6-tables", "nft", "mfc-dump"];

/** Where kernels without multicast routing are usually met (named in the fatal start message). */
export const WHERE_USUALLY_MISSING =
  "WSL2, gVisor and some microVM/sandbox kernels have no multicast routing; Docker Desktop's LinuxKit kernel lacks IPv6 multicast routing";

/** How an operator checks the kernel's options. */
export const HOW_TO_CHECK = "Check with `zcat /proc/config.gz | grep MROUTE` or `grep MROUTE /boot/config-$(uname -r)`";

/** The Linux capability a failed syscall of a probe most likely lacked. */
export function neededLinuxCapability(syscall: string): "CAP_NET_RAW" | "CAP_NET_ADMIN" {
  return syscall.startsWith("socket") ? "CAP_NET_RAW" : "CAP_NET_ADMIN";
}

/**
 * Why a probe's syscall failed, for KernelCapability.detail: the errno and syscall, and what it
 * means here — ENOPROTOOPT is the option missing from the kernel, EPERM/EACCES a missing
 * capability of this process (not the kernel's fault).
 */
export function probeFailureDetail(syscall: string, code: string, option: string): string {
  switch (code) {
    case "ENOPROTOOPT":
      return `${syscall}: ENOPROTOOPT (the kernel was built without ${option})`;
    case "EPERM":
    case "EACCES":
      return `${syscall}: ${code} (mfcd lacks ${neededLinuxCapability(syscall)}; the kernel option is not the cause)`;
    case "EAFNOSUPPORT":
      return `${syscall}: EAFNOSUPPORT (the kernel has no IPv6: CONFIG_IPV6 off or ipv6.disable=1)`;
    case "EPROTONOSUPPORT":
    case "ESOCKTNOSUPPORT":
      return `${syscall}: ${code} (raw sockets of this protocol are not supported by this kernel)`;
    default:
      return `${syscall}: ${code}`;
  }
}

/** True when the capability failed for want of a Linux capability (EPERM/EACCES), not an option. */
export function isPermissionProblem(cap: KernelCapability): boolean {
  return !cap.available && /: (EPERM|EACCES) \(|Operation not permitted|lacks CAP_NET_/.test(cap.detail);
}

/** Builds a KernelCapability entry with its option and description. */
export function capabilityEntry(name: KernelCapabilityName, available: boolean, detail: string): KernelCapability {
  const { option, what } = CAPABILITY_OPTIONS[name];
  return { name, option, what, available, detail: available ? "" : detail };
}

/** The capabilities a kernel table of `family` numbered `table` (mfcd numbering, 0 = default) needs. */
export function capabilitiesForTable(family: "ipv4" | "ipv6", table: number): KernelCapabilityName[] {
  const base: KernelCapabilityName = family === "ipv4" ? "ipv4" : "ipv6";
  if (table === 0) return [base];
  return [base, family === "ipv4" ? "tables" : "ipv6-tables"];
}

/** The first capability a (family, table) needs that this kernel lacks; undefined when usable. */
export function missingForTable(caps: KernelCapabilities, family: "ipv4" | "ipv6", table: number): KernelCapability | undefined {
  for (const name of capabilitiesForTable(family, table)) {
    const cap = caps.capabilities.find((c) => c.name === name);
    if (cap && !cap.available) return cap;
  }
  return undefined;
}

/** True when mfcd can route something here: IPv4 or IPv6 multicast routing (default table). */
export function anyRoutingUsable(caps: KernelCapabilities): boolean {
  return caps.capabilities.some((c) => (c.name === "ipv4" || c.name === "ipv6") && c.available);
}

/**
 * The fatal start message when neither IPv4 nor IPv6 multicast routing is usable, or undefined
 * when mfcd can start. Names the missing options (or the missing Linux capability when a probe
 * was refused with EPERM/EACCES), how to check, and where such kernels are usually met.
 */
export function noRoutingMessage(caps: KernelCapabilities): string | undefined {
  if (anyRoutingUsable(caps)) return undefined;
  const families = caps.capabilities.filter((c) => c.name === "ipv4" || c.name === "ipv6");
  const permission = families.filter(isPermissionProblem);
  const release = caps.release ? ` (${caps.release})` : "";
  if (permission.length > 0) {
    const needs = [...new Set(permission.map((c) => neededLinuxCapability(c.detail)))];
    return (
      `multicast routing cannot be used${release}: ${families.map((c) => `${c.what}: ${c.detail}`).join("; ")}. ` +
      `mfcd needs ${needs.join(" and ")}: run as root or grant them (systemd AmbientCapabilities=, ` +
      "Kubernetes securityContext.capabilities.add)"
    );
  }
  const options = families.map((c) => c.option);
  return (
    `this kernel${release} has no multicast routing: it was built without ${options.join(" and ")} ` +
    `(${families.map((c) => c.detail).join("; ")}). ${HOW_TO_CHECK}; a kernel with ${options.join("=y and ")}=y is needed. ` +
    `${WHERE_USUALLY_MISSING}.`
  );
}

/** One line per unavailable capability, for the start log ("serving what works"). */
export function unavailableSummary(caps: KernelCapabilities): { name: string; option: string; detail: string }[] {
  return caps.capabilities.filter((c) => !c.available).map((c) => ({ name: c.name, option: c.option, detail: c.detail }));
}

/**
 * The kernel option whose absence makes `syscall` fail with ENOPROTOOPT, when the syscall says
 * (e.g. "setsockopt(MRT6_TABLE)" → CONFIG_IPV6_MROUTE_MULTIPLE_TABLES); undefined otherwise.
 */
export function optionForSyscall(syscall: string): string | undefined {
  if (/\bMRT6_TABLE\b/.test(syscall)) return CAPABILITY_OPTIONS["ipv6-tables"].option;
  if (/\bMRT_TABLE\b/.test(syscall)) return CAPABILITY_OPTIONS.tables.option;
  if (/\bMRT6_\w+/.test(syscall)) return CAPABILITY_OPTIONS.ipv6.option;
  if (/\bMRT_\w+/.test(syscall)) return CAPABILITY_OPTIONS.ipv4.option;
  return undefined;
}

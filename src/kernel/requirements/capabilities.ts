// Which of the capabilities mfcd needs this process holds, from /proc/self/status: a non-root
// mfcd (systemd AmbientCapabilities=, Kubernetes securityContext) must say exactly which one is
// missing instead of failing later with a bare EPERM from socket() or setsockopt().

import fs from "node:fs";

export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;

/** What each needed capability is for, as the error message tells the operator. */
export const NEEDED_CAPABILITIES: readonly { bit: number; name: string; why: string }[] = [
  { bit: CAP_NET_RAW, name: "CAP_NET_RAW", why: "the raw IGMP/ICMPv6 socket that owns the multicast routing table" },
  { bit: CAP_NET_ADMIN, name: "CAP_NET_ADMIN", why: "MRT_INIT, MRT_ADD_VIF/MRT_ADD_MFC, ip mrules and nftables" },
];

/** The effective capability set of this process (bit n = capability n). */
export function effectiveCapabilities(status: string = fs.readFileSync("/proc/self/status", "utf8")): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (!m?.[1]) throw new Error("/proc/self/status has no CapEff line");
  return BigInt(`0x${m[1]}`);
}

/** The needed capabilities missing from `effective` (empty when mfcd can run). */
export function missingCapabilities(effective: bigint = effectiveCapabilities()): { name: string; why: string }[] {
  return NEEDED_CAPABILITIES.filter((c) => ((effective >> BigInt(c.bit)) & 1n) === 0n).map(({ name, why }) => ({
    name,
    why,
  }));
}

// What this kernel (network namespace) offers mfcd, decided from syscalls' errnos, never from
// /proc files (a kernel may hide /proc/net entries; a missing option shows as ENOPROTOOPT):
// - ipv4: getsockopt(IPPROTO_IP, MRT_VERSION) on a raw IGMP socket — non-invasive (no MRT_INIT);
// - tables: setsockopt(MRT_TABLE, RT_TABLE_DEFAULT) on a fresh raw IGMP socket that never did
//   MRT_INIT (selects the existing default table; ENOPROTOOPT without multiple tables);
// - ipv6 / ipv6-tables: the same with MRT6_VERSION / MRT6_TABLE (RT6_TABLE_DFLT) on raw ICMPv6;
// - nft: `nft -c add table ip <unique>` (check mode: the kernel validates, then aborts);
// - mfc-dump: an rtnetlink RTM_GETROUTE dump of RTNL_FAMILY_IPMR answered with IPMR routes only
//   (a kernel without ipmr may fall back to dumping every family).
// Never throws for a missing feature: each capability says whether it is available and why not.

import os from "node:os";
import {
  inNetns,
  KernelError,
  AF_INET,
  AF_INET6,
  IPPROTO_ICMPV6,
  IPPROTO_IGMP,
  IPPROTO_IP,
  IPPROTO_IPV6,
  SOCK_CLOEXEC,
  SOCK_RAW,
  close,
  getsockoptInt,
  setsockoptInt,
  socket,
} from "../ffi/index.js";
import {
  MRT6_TABLE,
  MRT6_VERSION,
  MRT_TABLE,
  MRT_VERSION,
  RT6_TABLE_DFLT,
  RT_TABLE_DEFAULT,
  RTA_TABLE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTMSG_SIZE,
  RTNL_FAMILY_IPMR,
} from "../abi/index.js";
import { NetlinkRouteSocket } from "../netlink/index.js";
import { nftIpFamilyProbeArgs, nftProbeResult, runNftSync } from "../nft/index.js";
import { CAPABILITY_NAMES, capabilityEntry, probeFailureDetail, CAPABILITY_OPTIONS } from "../requirements/index.js";

export type KernelCapabilityName = "ipv4" | "tables" | "ipv6" | "ipv6-tables" | "nft" | "mfc-dump";

export interface KernelCapability {
  name: KernelCapabilityName;
  /** The kernel option it needs, e.g. "CONFIG_IP_MROUTE" ("CONFIG_NF_TABLES_IPV4" for nft). */
  option: string;
  /** What it enables, for messages and GetInfo, e.g. "IPv6 multicast routing". */
  what: string;
  available: boolean;
  /** Why it is unavailable (errno and syscall, or nft's message); "" when available. */
  detail: string;
}

export interface KernelCapabilities {
  release: string;
  capabilities: KernelCapability[];
}

export interface ProbeOptions {
  /** Network namespace file (e.g. /run/netns/NAME) to probe; default: our own. */
  netns?: string;
  /** Also run `nft -c` (default true). mfcd's start passes false and asks nft off-thread. */
  nft?: boolean;
}

/** Probes this network namespace's kernel (or `netns`'s). Never throws for a missing feature. */
export function probeKernelCapabilities(opts: ProbeOptions = {}): KernelCapabilities {
  const found = new Map<KernelCapabilityName, { available: boolean; detail: string }>();
  inNetns(opts.netns, () => {
    found.set("ipv4", socketOption(AF_INET, IPPROTO_IGMP, "get", IPPROTO_IP, MRT_VERSION, 0, "ipv4"));
    found.set("tables", socketOption(AF_INET, IPPROTO_IGMP, "set", IPPROTO_IP, MRT_TABLE, RT_TABLE_DEFAULT, "tables"));
    found.set("ipv6", socketOption(AF_INET6, IPPROTO_ICMPV6, "get", IPPROTO_IPV6, MRT6_VERSION, 0, "ipv6"));
    found.set("ipv6-tables", socketOption(AF_INET6, IPPROTO_ICMPV6, "set", IPPROTO_IPV6, MRT6_TABLE, RT6_TABLE_DFLT, "ipv6-tables"));
    found.set("mfc-dump", probeMfcDump(found.get("ipv4")));
  });
  // A table probe fails with ENOPROTOOPT also when the family itself is missing: say so.
  for (const [tables, family] of [["tables", "ipv4"], ["ipv6-tables", "ipv6"]] as const) {
    const f = found.get(family);
    const t = found.get(tables);
    if (f && t && !f.available && !t.available) {
      t.detail = `needs ${CAPABILITY_OPTIONS[family].option} first (${t.detail})`;
    }
  }
  found.set("nft", opts.nft === false ? { available: false, detail: "not probed" } : probeNftIpFamily(opts.netns));
  return {
    release: os.release(),
    capabilities: CAPABILITY_NAMES.map((name) => {
      const r = found.get(name) ?? { available: false, detail: "not probed" };
      return capabilityEntry(name, r.available, r.detail);
    }),
  };
}

export function hasCapability(caps: KernelCapabilities, name: KernelCapabilityName): boolean {
  return capability(caps, name).available;
}

export function capability(caps: KernelCapabilities, name: KernelCapabilityName): KernelCapability {
  const found = caps.capabilities.find((c) => c.name === name);
  return found ?? capabilityEntry(name, false, "not probed");
}

/** A copy of `caps` with the nft capability replaced (mfcd asks nft off the main thread). */
export function withNftCapability(caps: KernelCapabilities, available: boolean, detail: string): KernelCapabilities {
  return {
    release: caps.release,
    capabilities: caps.capabilities.map((c) => (c.name === "nft" ? capabilityEntry("nft", available, detail) : c)),
  };
}

const FAMILY_TEXT: Record<number, string> = { [AF_INET]: "AF_INET", [AF_INET6]: "AF_INET6" };
const PROTO_TEXT: Record<number, string> = { [IPPROTO_IGMP]: "IPPROTO_IGMP", [IPPROTO_ICMPV6]: "IPPROTO_ICMPV6" };
const LEVEL_TEXT: Record<number, string> = { [IPPROTO_IP]: "IPPROTO_IP", [IPPROTO_IPV6]: "IPPROTO_IPV6" };
const OPT_TEXT: Record<string, string> = {
  [`${IPPROTO_IP}/${MRT_VERSION}`]: "MRT_VERSION",
  [`${IPPROTO_IP}/${MRT_TABLE}`]: "MRT_TABLE",
  [`${IPPROTO_IPV6}/${MRT6_VERSION}`]: "MRT6_VERSION",
  [`${IPPROTO_IPV6}/${MRT6_TABLE}`]: "MRT6_TABLE",
};

/** One fresh raw socket, one get/setsockopt of an int, closed again. */
function socketOption(
  family: number,
  protocol: number,
  op: "get" | "set",
  level: number,
  optname: number,
  value: number,
  name: KernelCapabilityName,
): { available: boolean; detail: string } {
  const option = CAPABILITY_OPTIONS[name].option;
  const socketCall = `socket(${FAMILY_TEXT[family]}, SOCK_RAW, ${PROTO_TEXT[protocol]})`;
  const optCall = `${op}sockopt(${LEVEL_TEXT[level]}, ${OPT_TEXT[`${level}/${optname}`]}${op === "set" ? `, ${value}` : ""})`;
  let fd: number;
  try {
    fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, protocol);
  } catch (err) {
    return { available: false, detail: failure(socketCall, err, option) };
  }
  try {
    if (op === "get") getsockoptInt(fd, level, optname, optCall);
    else setsockoptInt(fd, level, optname, value, optCall);
    return { available: true, detail: "" };
  } catch (err) {
    return { available: false, detail: failure(optCall, err, option) };
  } finally {
    close(fd);
  }
}

function failure(syscall: string, err: unknown, option: string): string {
  if (err instanceof KernelError) return probeFailureDetail(syscall, err.code, option);
  return `${syscall}: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * One RTM_GETROUTE dump of RTNL_FAMILY_IPMR; every reply must be an IPMR route. Measured on a
 * kernel without CONFIG_IP_MROUTE: the unfiltered request is answered with every family's
 * routes (rtm_family 2 and 10), the RTA_TABLE-filtered one with nothing and no error — so
 * without the ipv4 capability (the same option registers the ipmr dump) it is unavailable
 * without asking.
 */
function probeMfcDump(ipv4: { available: boolean; detail: string } | undefined): { available: boolean; detail: string } {
  const call = "rtnetlink RTM_GETROUTE dump (family RTNL_FAMILY_IPMR)";
  if (ipv4 && !ipv4.available) return { available: false, detail: `needs IPv4 multicast routing (${ipv4.detail})` };
  let sock: NetlinkRouteSocket | undefined;
  try {
    sock = NetlinkRouteSocket.open();
    // Only the default table (with strict checking the kernel walks just that one): cheap even
    // when other tables hold many entries.
    const body = Buffer.alloc(RTMSG_SIZE + (sock.strict ? 8 : 0));
    body[0] = RTNL_FAMILY_IPMR;
    if (sock.strict) {
      body.writeUInt16LE(8, RTMSG_SIZE);
      body.writeUInt16LE(RTA_TABLE, RTMSG_SIZE + 2);
      body.writeUInt32LE(RT_TABLE_DEFAULT, RTMSG_SIZE + 4);
    }
    let other: number | undefined;
    sock.dump(RTM_GETROUTE, body, (type, buf, start) => {
      if (type === RTM_NEWROUTE && buf[start] !== RTNL_FAMILY_IPMR && other === undefined) other = buf[start];
    });
    if (other !== undefined) {
      return { available: false, detail: `${call}: answered with rtm_family ${other} routes (the kernel has no ipmr dump)` };
    }
    return { available: true, detail: "" };
  } catch (err) {
    return { available: false, detail: failure(call, err, CAPABILITY_OPTIONS["mfc-dump"].option) };
  } finally {
    sock?.close();
  }
}

function probeNftIpFamily(netns: string | undefined): { available: boolean; detail: string } {
  try {
    runNftSync(nftIpFamilyProbeArgs(), { netns, timeoutMs: 5000 });
    return nftProbeResult(undefined);
  } catch (err) {
    return nftProbeResult(err);
  }
}

// Reading IPv4 sysctls (/proc/sys/net/ipv4/...) as evidence for diagnostics: rp_filter (which
// silently drops multicast before the MFC, see kernel-facts.md) and mc_forwarding.
//
// /proc/sys/net is per network namespace, and the kernel resolves it against the namespace of
// the *calling thread* at open time (sysctl lookups and dentry revalidation use
// current->nsproxy->net_ns). So a value of another namespace is read by entering it with
// inNetns() and reading synchronously on this thread; fs.readFileSync opens and reads on the
// calling thread, and nothing else runs on it meanwhile. Without `netns` the calling thread's
// namespace is read (mfcd runs inside its namespace, so that is the right one).

import fs from "node:fs";
import path from "node:path";
import { inNetns } from "../ffi/index.js";
import { ifnameLength } from "../abi/index.js";

export interface ProcReadOptions {
  /** Network namespace file (e.g. /run/netns/NAME) to read in; default: the calling thread's. */
  netns?: string;
  /**
   * Root of the proc file system (default "/proc"); another directory with the same layout
   * lets unit tests feed fixture files.
   */
  procRoot?: string;
}

/** The `all` value and the interface's own value of a net.ipv4.conf.* setting. */
export interface ConfPair {
  all: number;
  iface: number;
}

/** rp_filter of an interface: the kernel uses max(conf.all, conf.<iif>) (0 off, 1 strict, 2 loose). */
export interface RpFilter extends ConfPair {
  effective: number;
}

function sysctlFile(name: string, procRoot: string): string {
  // Accept "net/ipv4/conf/all/rp_filter", "/proc/sys/net/...", or the dotted sysctl(8) form
  // "net.ipv4.conf.all.rp_filter" (only when there is no slash: interface names may hold dots).
  let rel = name;
  if (rel.startsWith("/proc/sys/")) rel = rel.slice("/proc/sys/".length);
  else if (!rel.includes("/")) rel = rel.replaceAll(".", "/");
  const parts = rel.split("/");
  if (rel.length === 0 || rel.includes("\0") || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new RangeError(`not a sysctl name: ${JSON.stringify(name)}`);
  }
  return path.join(procRoot, "sys", ...parts);
}

/**
 * The raw value of a sysctl (trimmed), e.g. readSysctl("net/ipv4/conf/all/rp_filter").
 * Throws the fs error (code ENOENT for a setting or interface that does not exist).
 */
export function readSysctl(name: string, opts: ProcReadOptions = {}): string {
  const file = sysctlFile(name, opts.procRoot ?? "/proc");
  return inNetns(opts.netns, () => fs.readFileSync(file, "utf8")).trim();
}

/** readSysctl parsed as one integer; throws if the value is not a single integer. */
export function readSysctlInt(name: string, opts: ProcReadOptions = {}): number {
  const raw = readSysctl(name, opts);
  if (!/^-?\d+$/.test(raw)) throw new Error(`sysctl ${name} is not an integer: ${JSON.stringify(raw)}`);
  return Number(raw);
}

function checkIfname(iif: string): void {
  if (ifnameLength(iif) === undefined || iif.includes("/") || iif === "." || iif === "..") {
    throw new RangeError(`not an interface name: ${JSON.stringify(iif)}`);
  }
}

/**
 * net.ipv4.conf.{all,<iif>}.<key> read in one namespace switch; undefined when `iif` has no
 * conf directory there (no such interface, or it has no IPv4 configuration).
 */
export function ipv4Conf(iif: string, key: string, opts: ProcReadOptions = {}): ConfPair | undefined {
  checkIfname(iif);
  if (!/^[a-z0-9_]+$/.test(key)) throw new RangeError(`not a conf key: ${JSON.stringify(key)}`);
  const root = opts.procRoot ?? "/proc";
  const allFile = path.join(root, "sys/net/ipv4/conf/all", key);
  const ifFile = path.join(root, "sys/net/ipv4/conf", iif, key);
  const read = (f: string): number => {
    const raw = fs.readFileSync(f, "utf8").trim();
    if (!/^-?\d+$/.test(raw)) throw new Error(`${f} is not an integer: ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  return inNetns(opts.netns, () => {
    let iface: number;
    try {
      iface = read(ifFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    return { all: read(allFile), iface };
  });
}

/**
 * rp_filter for packets arriving on `iif`: conf.all, conf.<iif> and the value the kernel
 * applies, max of the two. undefined when there is no such interface in the namespace.
 */
export function rpFilter(iif: string, opts: ProcReadOptions = {}): RpFilter | undefined {
  const pair = ipv4Conf(iif, "rp_filter", opts);
  return pair && { ...pair, effective: Math.max(pair.all, pair.iface) };
}

/**
 * mc_forwarding (read-only; the kernel raises it): `all` is 1 while a socket holds MRT_INIT
 * (default table) in the namespace, `iface` while the interface is a VIF. undefined when there
 * is no such interface.
 */
export function mcForwarding(iif: string, opts: ProcReadOptions = {}): ConfPair | undefined {
  return ipv4Conf(iif, "mc_forwarding", opts);
}

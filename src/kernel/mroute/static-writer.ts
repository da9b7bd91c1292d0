// The socket mfcd writes its VIFs and route entries through: a raw socket of the family that
// does NOT hold MRT(6)_INIT. The kernel marks what such a socket writes static (VIFF_STATIC,
// MFC_STATIC) and keeps it, counters included, when the MRT_INIT socket closes — a crash or a
// planned restart of mfcd leaves forwarding state for the next mfcd to adopt (README "Restarts
// and upgrades"; measured in test/experiments/05-static-survival). Writes from a socket without
// MRT_INIT need CAP_NET_ADMIN. The socket only writes: a drop-all filter keeps the IGMP/ICMPv6
// traffic of the namespace from queuing on it.

import fs from "node:fs";
import { BPF_RET_K, encodeSockFilter, RT_TABLE_DEFAULT, VIFF_STATIC } from "../abi/index.js";
import { MfcNetlinkDumper } from "../netlink/index.js";
import { setsockoptInt, socket, SOCK_CLOEXEC, SOCK_RAW, tryAttachFilter } from "../ffi/index.js";
import { MRT_OPTIONS, type MrouteFamily } from "./mroute-family.js";

/** Opens the writer of kernel table `table` (0: the family's default) in the calling thread's netns. */
export function openStaticWriter(f: MrouteFamily, table: number): number {
  const fd = socket(f.domain, SOCK_RAW | SOCK_CLOEXEC, f.protocol);
  // Best effort: without the filter the queue is bounded by the receive buffer anyway.
  tryAttachFilter(fd, encodeSockFilter([[BPF_RET_K, 0, 0, 0]])); // ret #0: drop every packet
  if (table !== 0) setsockoptInt(fd, f.level, MRT_OPTIONS.table, table, `setsockopt(${f.optionPrefix}_TABLE)`);
  return fd;
}

/**
 * Whether this process's netns has static VIFs in `f`'s default table (/proc), i.e. what a
 * previous mfcd left there: then mfcd takes the table at start to adopt or remove them, even
 * when its state file has no route for it. False when the file cannot be read (no such family).
 */
export function hasStaticVifs(f: MrouteFamily): boolean {
  let text: Buffer;
  try {
    text = fs.readFileSync(`/proc/self/net/${f.procVifFile}`);
  } catch {
    return false;
  }
  return f.parseProcVifs(text).some((v) => (v.flags & VIFF_STATIC) !== 0);
}

/**
 * The non-default IPv4 tables (their ids) with static VIFs in this process's netns: what a
 * previous mfcd left there (RTNL_FAMILY_IPMR link dump). Empty when the dump fails.
 */
export function ipv4TablesWithStaticVifs(): number[] {
  let dumper: MfcNetlinkDumper | undefined;
  try {
    dumper = MfcNetlinkDumper.open(undefined, "ipv4");
    const tables: number[] = [];
    for (const [id, vifs] of dumper.vifsByTable()) {
      if (id !== RT_TABLE_DEFAULT && vifs.some((v) => (v.flags & VIFF_STATIC) !== 0)) tables.push(id);
    }
    return tables;
  } catch {
    return [];
  } finally {
    dumper?.close();
  }
}

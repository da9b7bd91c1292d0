// What GetInfo reports about this mfcd, as a plain object the daemon fills in (main.ts) and tests
// fake. Structural on purpose: the kernel part is exactly what the kernel capability probe
// returns ({ release, capabilities: [{ name, option, what, available, detail }] }), without
// importing it. No gRPC here: main.ts imports this module statically.

import fs from "node:fs";
import type { AddressFamily } from "../../engine/route-key.js";
import { packageFileUrl } from "../../shared/package-file.js";

/** One kernel feature mfcd can use, probed at startup. */
export interface KernelCapabilityInfo {
  /** Stable identifier: "ipv4", "tables", "ipv6", "ipv6-tables", "nft", "mfc-dump". */
  name: string;
  /** The kernel option (or package) it needs, e.g. "CONFIG_IP_MROUTE". */
  option: string;
  /** What mfcd does with it, in a few words. */
  what: string;
  available: boolean;
  /** How it was found out or why it is missing. */
  detail: string;
}

/** The running kernel: its release (uname -r) and which of mfcd's features it offers. */
export interface KernelInfo {
  release: string;
  capabilities: readonly KernelCapabilityInfo[];
}

/** One kernel multicast routing table mfcd holds an MRT_INIT socket for. */
export interface OwnedTableInfo {
  family: AddressFamily;
  table: number;
}

export interface DaemonInfoSource {
  /** mfcd's version (package.json). */
  version: string;
  kernel: KernelInfo;
  /** Asked at every call: tables are opened on demand. */
  ownedTables(): readonly OwnedTableInfo[];
  startedAt: Date;
  /** undefined: no state file (--state-file none). */
  stateFile?: string | undefined;
}

let version: string | undefined;

/** mfcd's version from its package.json ("unknown" if that cannot be read). */
export function mfcdVersion(): string {
  if (version === undefined) {
    try {
      const parsed = JSON.parse(fs.readFileSync(packageFileUrl("package.json", import.meta.url), "utf8")) as { version?: unknown };
      version = typeof parsed.version === "string" ? parsed.version : "unknown";
    } catch {
      version = "unknown";
    }
  }
  return version;
}

/**
 * The daemon's DaemonInfoSource: owned tables are read from `sockets` (one MRT_INIT socket per
 * (family, table), the list mfcd closes at shutdown), the start time is the process's.
 */
export function daemonInfoSource(parts: {
  kernel: KernelInfo;
  sockets: readonly { family: AddressFamily; table: number }[];
  stateFile: string | undefined;
}): DaemonInfoSource {
  return {
    version: mfcdVersion(),
    kernel: parts.kernel,
    ownedTables: () => parts.sockets.map(({ family, table }) => ({ family, table })),
    startedAt: new Date(Math.round(performance.timeOrigin)),
    stateFile: parts.stateFile,
  };
}

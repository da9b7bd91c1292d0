// GetInfo's reply, built from a DaemonInfoSource: pure, so it is tested without a daemon.

import type { GetInfoResponse } from "../../gen/mfc.js";
import type { DaemonInfoSource } from "../config/index.js";

const FAMILY_ORDER: Record<string, number> = { ipv4: 0, ipv6: 1 };

export function getInfoReply(source: DaemonInfoSource): GetInfoResponse {
  const seen = new Set<string>();
  const tables = source
    .ownedTables()
    .filter(({ family, table }) => {
      const key = `${family}/${table}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => (FAMILY_ORDER[a.family] ?? 2) - (FAMILY_ORDER[b.family] ?? 2) || a.table - b.table);
  const ms = source.startedAt.getTime();
  return {
    version: source.version,
    kernelRelease: source.kernel.release,
    kernelCapabilities: source.kernel.capabilities.map((c) => ({
      name: c.name,
      option: c.option,
      description: c.what,
      available: c.available,
      detail: c.detail,
    })),
    ownedTables: tables.map(({ family, table }) => ({ family, table })),
    startTime: { seconds: BigInt(Math.floor(ms / 1000)), nanos: (((ms % 1000) + 1000) % 1000) * 1_000_000 },
    stateFile: source.stateFile ?? "",
  };
}

// nftables at start: once the detection started first thing in main() answers, mfcd's rescue
// table (whose rules are those of the routes restored by then) or the reason rescue options and
// Trace are refused; and the Trace starter built on that answer.

import type { RouteEngine } from "../../engine/route-engine.js";
import { type NftAvailability, type NftStartupProbe, NftRescueTable, NftTrace } from "../../kernel/index.js";
import type { Logger } from "../config/index.js";
import { RescueSync } from "./rescue-sync.js";
import type { TraceStarter } from "../diagnostics/index.js";

export interface NftStartup {
  nft: NftAvailability;
  nftTable: NftRescueTable | undefined;
  rescue: RescueSync;
  ipFamily: NftStartupProbe["ipFamily"];
}

/** Never rejects: nft failures here are logged and leave mfcd serving. */
export async function startNft(detecting: Promise<NftStartupProbe>, engine: RouteEngine, logger: Logger): Promise<NftStartup> {
  const { availability, ipTablesJson, ipFamily } = await detecting;
  // nft runs, but the kernel has no nf_tables `ip` family (CONFIG_NF_TABLES_IPV4): as unusable.
  const nft: NftAvailability = availability.available && !ipFamily.available ? { available: false, why: ipFamily.detail } : availability;
  if (!nft.available) {
    logger.warn({ why: nft.why }, "nftables unavailable: rescue options and Trace are disabled");
    return { nft, nftTable: undefined, rescue: new RescueSync(engine, undefined, nft.why, logger), ipFamily };
  }
  const nftTable = new NftRescueTable();
  const rescue = new RescueSync(engine, nftTable, "", logger);
  try {
    const { tableExists } = await nftTable.cleanUpAtStart(ipTablesJson);
    if (!tableExists) rescue.noTable();
  } catch (err) {
    logger.warn({ err }, "could not remove stale nft tables");
  }
  // Rules of restored routes: a table a previous mfcd left (kill -9, or an exit that kept
  // forwarding) is adopted untouched when it holds exactly them, replaced in one transaction when
  // it differs, removed when no restored route has rescue options. Applying the config later syncs
  // again when its routes have or had rescue options.
  await rescue.sync().catch((err: unknown) => logger.error({ err }, "nftables rescue rules not restored"));
  return { nft, nftTable, rescue, ipFamily };
}

export function nftTrace(nft: NftAvailability): TraceStarter {
  return (flow, onEvent) => {
    if (!nft.available) return nft.why;
    return NftTrace.start(flow, (e) =>
      onEvent({ id: e.id, table: e.table, chain: e.chain, hook: e.hook, rule: e.rule, verdict: e.verdict, raw: e.raw }),
    );
  };
}

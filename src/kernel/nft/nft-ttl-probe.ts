// Which TTLs a flow arrives with, for Diagnose: "the sender uses TTL 1" is the most common reason
// a correct MFC entry forwards nothing, and the kernel counts such packets as forwarded-to-nobody
// without saying why. A temporary table counts the flow's packets on its iif by TTL in a dynamic
// set with per-element counters, is read back after the window and deleted. Stateless: no conntrack.
// The totals are sums over that one histogram, not separate rule counters: one nft dump reads
// rules and set elements at different instants, so packets arriving meanwhile made the totals and
// the histogram disagree (seen in a slow user-mode guest). 256 elements hold every possible TTL.

import { setTimeout as sleep } from "node:timers/promises";
import { nftIdentifier, nftIfname, nftIpv4 } from "./nft-literals.js";
import { runNft } from "./nft-run.js";
import { type NftJsonDoc, nftJsonObjects, nftResetTable } from "./nft-transaction.js";

export interface TtlProbeFlow {
  iif: string;
  source: string;
  group: string;
}

export interface TtlProbeResult {
  /** Packets that arrived with TTL 0 or 1: the kernel never forwards these. */
  ttlLe1: bigint;
  /** Packets that arrived with TTL ≥ 2. */
  ttlGt1: bigint;
  /** The lowest TTL seen; undefined when no packet arrived. */
  minTtlSeen?: number;
  /** Packets per arrival TTL. */
  byTtl: Map<number, bigint>;
}

export interface TtlProbeOptions {
  /** Name of the temporary table; unique per concurrent probe. */
  tableName: string;
  netns?: string;
  signal?: AbortSignal;
}

/** Before mfcd's rescue chain (raw, -300), so a setTtl rule does not hide the sender's TTL. */
export const TTL_PROBE_PRIORITY = -350;
const SET = "ttls";

/** The nft file that creates the probe table. Pure. */
export function renderTtlProbe(tableName: string, flow: TtlProbeFlow): string {
  nftIdentifier(tableName);
  const match =
    `iifname ${nftIfname(flow.iif)} ip saddr ${nftIpv4(flow.source, "source")} ` +
    `ip daddr ${nftIpv4(flow.group, "group")} meta l4proto != igmp`;
  return (
    nftResetTable(tableName) +
    `table ip ${tableName} {\n` +
    `\tset ${SET} {\n\t\ttypeof ip ttl\n\t\tsize 256\n\t\tflags dynamic\n\t\tcounter\n\t}\n` +
    `\tchain probe {\n` +
    `\t\ttype filter hook prerouting priority ${TTL_PROBE_PRIORITY}; policy accept;\n` +
    `\t\t${match} add @${SET} { ip ttl }\n` +
    `\t}\n}\n`
  );
}

interface JsonCounter {
  packets: number;
  bytes: number;
}
interface JsonSet {
  name: string;
  elem?: ({ elem: { val: number; counter?: JsonCounter } } | number)[];
}

/** Reads a probe table's counters from `nft -j list table` output. Pure. */
export function parseTtlProbe(doc: NftJsonDoc): TtlProbeResult {
  const result: TtlProbeResult = { ttlLe1: 0n, ttlGt1: 0n, byTtl: new Map() };
  const set = nftJsonObjects<JsonSet>(doc, "set").find((s) => s.name === SET);
  for (const e of set?.elem ?? []) {
    if (typeof e === "number") continue; // an element without counter: cannot count it
    const packets = BigInt(e.elem.counter?.packets ?? 0);
    result.byTtl.set(e.elem.val, packets);
    if (e.elem.val <= 1) result.ttlLe1 += packets;
    else result.ttlGt1 += packets;
  }
  const ttls = [...result.byTtl.keys()];
  if (ttls.length > 0) result.minTtlSeen = Math.min(...ttls);
  return result;
}

/**
 * Installs the probe, waits `windowMs`, reads the counters and removes the probe. The window
 * starts once the table is in the kernel. Rejects with `signal.reason` when aborted.
 */
export async function probeTtl(flow: TtlProbeFlow, windowMs: number, opts: TtlProbeOptions): Promise<TtlProbeResult> {
  const { tableName, netns, signal } = opts;
  const text = renderTtlProbe(tableName, flow);
  if (!Number.isFinite(windowMs) || windowMs < 0) throw new RangeError(`probeTtl: bad window ${windowMs}`);
  signal?.throwIfAborted();
  try {
    await runNft(["-f", "-"], { input: text, netns });
    await sleep(windowMs, undefined, { signal });
    const out = await runNft(["-j", "list", "table", "ip", tableName], { netns });
    return parseTtlProbe(JSON.parse(out) as NftJsonDoc);
  } catch (err) {
    // timers/promises rejects with its own AbortError; callers expect the signal's reason.
    if (signal?.aborted) throw signal.reason;
    throw err;
  } finally {
    await runNft(["-f", "-"], { input: nftResetTable(tableName), netns }).catch(() => undefined);
  }
}

// Reading mfcd's rescue table back from `nft -j list table ip NAME`, so a restarted mfcd can adopt
// the table a previous mfcd left (crash, or an exit that keeps forwarding) instead of replacing it:
// its rules keep their handles and counters. Only a table of exactly the shape renderRescueTable()
// writes is decoded into rules; anything else in it (another chain, a set, a rule with one more or
// one fewer expression, a comment, a dormant table) is reported as not mfcd's, and the caller
// replaces the whole table. Pure: the caller runs nft.

import { isDeepStrictEqual } from "node:util";
import type { RescueRule } from "./nft-rescue-table.js";
import { type NftJsonDoc } from "./nft-transaction.js";

/** One rule of the table as the kernel holds it. */
export interface InstalledRescueRule extends RescueRule {
  /** nft's rule handle (stable for the rule's lifetime; a replaced table numbers its rules anew). */
  handle: number;
  packets: bigint;
  bytes: bigint;
}

export type InstalledRescueTable =
  /** Exactly what renderRescueTable() writes, with these rules in this order. */
  | { tableHandle: number; chainHandle: number; rules: InstalledRescueRule[] }
  /** The table exists but holds something mfcd never writes. */
  | { tableHandle: number; notMfcds: string };

/** The chain mfcd writes: `type filter hook prerouting priority raw; policy accept;`. */
const CHAIN_SHAPE = { type: "filter", hook: "prerouting", prio: -300, policy: "accept" } as const;

const ip = (field: string) => ({ payload: { protocol: "ip", field } });
/** The two fixed matches after the flow's own: never link-local groups, never IGMP. */
const NOT_LINK_LOCAL = { match: { op: "!=", left: ip("daddr"), right: { prefix: { addr: "224.0.0.0", len: 24 } } } };
const NOT_IGMP = { match: { op: "!=", left: { meta: { key: "l4proto" } }, right: "igmp" } };

/** `right` of `{match: {op: "==", left, right}}` when `e` is exactly that with a string right. */
function equalsMatch(e: unknown, left: unknown): string | undefined {
  const right = (e as { match?: { right?: unknown } } | undefined)?.match?.right;
  if (typeof right !== "string") return undefined;
  return isDeepStrictEqual(e, { match: { op: "==", left, right } }) ? right : undefined;
}

/** `value` of `{mangle: {key, value}}` when `e` is exactly that, with a value of `type`. */
function mangleValue<T extends "string" | "number">(e: unknown, key: unknown, type: T): (T extends "string" ? string : number) | undefined {
  const value = (e as { mangle?: { value?: unknown } } | undefined)?.mangle?.value;
  if (typeof value !== type) return undefined;
  return isDeepStrictEqual(e, { mangle: { key, value } }) ? (value as T extends "string" ? string : number) : undefined;
}

/** The rule renderRescueTable() writes for one flow, or why `expr` is not one. */
function decodeRule(expr: readonly unknown[]): Omit<InstalledRescueRule, "handle"> | string {
  const iif = equalsMatch(expr[0], { meta: { key: "iifname" } });
  const source = equalsMatch(expr[1], ip("saddr"));
  const group = equalsMatch(expr[2], ip("daddr"));
  if (iif === undefined || source === undefined || group === undefined) return "does not match one flow on iifname, saddr and daddr";
  if (!isDeepStrictEqual(expr[3], NOT_LINK_LOCAL) || !isDeepStrictEqual(expr[4], NOT_IGMP)) {
    return "lacks the link-local and IGMP exclusions";
  }
  const rule: Omit<InstalledRescueRule, "handle"> = { iif, source, group, packets: 0n, bytes: 0n };
  let i = 5;
  const ttl = mangleValue(expr[i], ip("ttl"), "number");
  if (ttl !== undefined) {
    rule.setTtl = ttl;
    i += 1;
  }
  const rewrite = mangleValue(expr[i], ip("saddr"), "string");
  if (rewrite !== undefined) {
    rule.rewriteSource = rewrite;
    i += 1;
  }
  const counter = (expr[i] as { counter?: { packets?: unknown; bytes?: unknown } } | undefined)?.counter;
  if (
    counter === undefined ||
    typeof counter.packets !== "number" ||
    typeof counter.bytes !== "number" ||
    Object.keys(expr[i] as object).length !== 1 ||
    Object.keys(counter).length !== 2
  ) {
    return "has no counter where mfcd puts one";
  }
  rule.packets = BigInt(counter.packets);
  rule.bytes = BigInt(counter.bytes);
  if (i + 1 !== expr.length) return "has statements mfcd does not write";
  return rule;
}

/** Whether a table's or chain's `flags` (absent, a word or a list) are set, e.g. "dormant". */
const hasFlags = (o: { flags?: unknown }): boolean => o.flags !== undefined && !(Array.isArray(o.flags) && o.flags.length === 0);

/**
 * Decodes `nft -j list table ip <tableName>` output. undefined: the listing holds no such table.
 * Otherwise its handle and either mfcd's rules in table order, or why it is not mfcd's table.
 */
export function parseRescueTable(doc: NftJsonDoc, tableName: string, chainName: string): InstalledRescueTable | undefined {
  let table: { handle: number; flags?: unknown } | undefined;
  const chains: { name: string; handle: number; flags?: unknown; [k: string]: unknown }[] = [];
  const rules: { chain: string; handle: number; expr?: unknown[]; comment?: unknown }[] = [];
  const others: string[] = [];
  for (const o of doc.nftables ?? []) {
    const [kind, value] = Object.entries(o)[0] ?? ["", undefined];
    const v = value as { family?: string; table?: string; name?: string };
    if (kind === "metainfo") continue;
    if (kind === "table") {
      if (v.family === "ip" && v.name === tableName) table = value as typeof table;
      continue;
    }
    if (v.family !== "ip" || v.table !== tableName) continue;
    if (kind === "chain") chains.push(value as (typeof chains)[number]);
    else if (kind === "rule") rules.push(value as (typeof rules)[number]);
    else others.push(kind);
  }
  if (table === undefined) return undefined;
  const tableHandle = table.handle;
  const notMfcds = (why: string): InstalledRescueTable => ({ tableHandle, notMfcds: why });
  if (hasFlags(table)) return notMfcds(`the table has flags ${JSON.stringify(table.flags)}`);
  if (others.length > 0) return notMfcds(`it holds a ${others[0]!}`);
  const chain = chains[0];
  if (chains.length !== 1 || chain?.name !== chainName) {
    return notMfcds(`its chains are ${JSON.stringify(chains.map((c) => c.name))}, not just "${chainName}"`);
  }
  const shape = Object.fromEntries(Object.keys(CHAIN_SHAPE).map((k) => [k, chain[k]]));
  if (!isDeepStrictEqual(shape, CHAIN_SHAPE) || hasFlags(chain) || "comment" in chain) {
    return notMfcds(`chain "${chainName}" is not a filter chain at prerouting priority raw, policy accept`);
  }
  const decoded: InstalledRescueRule[] = [];
  for (const r of rules) {
    const rule = r.comment === undefined ? decodeRule(r.expr ?? []) : "has a comment";
    if (typeof rule === "string") return notMfcds(`rule handle ${r.handle} ${rule}`);
    decoded.push({ ...rule, handle: r.handle });
  }
  return { tableHandle, chainHandle: chain.handle, rules: decoded };
}

// mfcd's own nftables table (`table ip mfcd`): stateless per-flow packet fixes applied before
// routing, so RPF and the MFC lookup see the fixed packet (see kernel-facts.md, Netfilter):
//  - rewriteSource: `ip saddr set` for a source that fails RPF (no route back via the iif). nft
//    marks the write with NFT_PAYLOAD_L4CSUM_PSEUDOHDR, so UDP/TCP checksums stay valid;
//  - setTtl: `ip ttl set` for senders whose TTL (often 1) stops the kernel from forwarding.
// The chain hooks prerouting at priority raw (-300): before conntrack (-200), which mfcd never
// needs, and snat is not possible there anyway. Every rule matches one flow on its iif, skips IGMP
// and link-local groups (224.0.0.0/24: reports and queries must keep TTL 1 and their source), and
// counts what it touched. The table is only ever written whole, in one transaction; installed()
// reads it back, so that a restarted mfcd can keep (adopt) a table that already holds its rules.

import { NftError } from "./nft-error.js";
import { detectNft, detectNftAsync, type NftAvailability, type NftDetectOptions, type NftStartupProbe } from "./nft-detect.js";
import { nftIdentifier, nftIfname, nftInt, nftIpv4 } from "./nft-literals.js";
import { type InstalledRescueTable, parseRescueTable } from "./nft-rescue-read.js";
import { runNft } from "./nft-run.js";
import { type NftJsonDoc, isNftNotFound, nftJsonObjects, nftResetTable } from "./nft-transaction.js";
import { type TtlProbeFlow, type TtlProbeResult, probeTtl } from "./nft-ttl-probe.js";

export interface RescueRule {
  /** Input interface name (matched by name, so the rule survives the interface being re-created). */
  iif: string;
  source: string;
  group: string;
  /** Replace the source address (an on-link, non-local address the MFC entry is keyed on). */
  rewriteSource?: string;
  /** Set the TTL (1..255) so the kernel forwards the packets. */
  setTtl?: number;
}

export interface RescueRuleStats {
  iif: string;
  source: string;
  group: string;
  /** Packets and bytes this rule has rewritten since the table was last applied. */
  packets: bigint;
  bytes: bigint;
}

export interface NftRescueTableOptions {
  /** Network namespace file to program (tests); default: the namespace mfcd runs in. */
  netns?: string;
  /** Table name (default "mfcd"); its TTL-probe tables are named `<name>_probe_<pid>_<n>`. */
  tableName?: string;
}

export const DEFAULT_NFT_TABLE = "mfcd";
export const RESCUE_CHAIN = "rescue";

/** The nft file that atomically replaces table `tableName` with exactly `rules`. Pure. */
export function renderRescueTable(tableName: string, rules: readonly RescueRule[]): string {
  const seen = new Set<string>();
  const lines = rules.map((r) => {
    const match = `iifname ${nftIfname(r.iif)} ip saddr ${nftIpv4(r.source, "source")} ip daddr ${nftIpv4(r.group, "group")}`;
    const key = `${r.iif} ${r.source} ${r.group}`;
    if (seen.has(key)) throw new TypeError(`nft: two rescue rules for ${key}`);
    seen.add(key);
    const stmts: string[] = [];
    if (r.setTtl !== undefined) stmts.push(`ip ttl set ${nftInt(r.setTtl, 1, 255, "TTL")}`);
    if (r.rewriteSource !== undefined) stmts.push(`ip saddr set ${nftIpv4(r.rewriteSource, "new source")}`);
    return `\t\t${match} ip daddr != 224.0.0.0/24 meta l4proto != igmp ${[...stmts, "counter"].join(" ")}\n`;
  });
  return (
    nftResetTable(tableName) +
    `table ip ${tableName} {\n` +
    `\tchain ${RESCUE_CHAIN} {\n` +
    `\t\ttype filter hook prerouting priority raw; policy accept;\n` +
    lines.join("") +
    `\t}\n}\n`
  );
}

interface JsonRule {
  chain: string;
  expr?: {
    match?: { op: string; left: { meta?: { key: string }; payload?: { field: string } }; right: unknown };
    counter?: { packets: number; bytes: number };
  }[];
}

export class NftRescueTable {
  readonly tableName: string;
  readonly netns: string | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #probes = 0;

  /** Whether nft is installed and usable; mfcd runs without it (no rescue, no trace). */
  static detect(opts: NftDetectOptions = {}): NftAvailability {
    return detectNft(opts);
  }

  /** detect() in one child process, without blocking the event loop; also lists the ip tables (startup). */
  static detectAsync(opts: NftDetectOptions = {}): Promise<NftStartupProbe> {
    return detectNftAsync(opts);
  }

  constructor(options: NftRescueTableOptions = {}) {
    this.tableName = nftIdentifier(options.tableName ?? DEFAULT_NFT_TABLE);
    this.netns = options.netns;
  }

  /** The ruleset text apply(rules) loads. Throws TypeError on anything but plain addresses/names. */
  render(rules: readonly RescueRule[]): string {
    return renderRescueTable(this.tableName, rules);
  }

  /**
   * Replaces the whole table with `rules` in one transaction (an empty list leaves an empty
   * chain). Calls are serialised, so the last call wins. Rejects with TypeError for a rule
   * that cannot be rendered, or NftError (nft's stderr); either way the previous table stays.
   */
  apply(rules: readonly RescueRule[]): Promise<void> {
    let text: string;
    try {
      text = this.render(rules); // render now: a bad rule must not wait behind queued calls
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.#serial(async () => {
      await runNft(["-f", "-"], { input: text, netns: this.netns });
    });
  }

  /** Deletes the table; a no-op when it does not exist. */
  remove(): Promise<void> {
    return this.#serial(async () => {
      await runNft(["-f", "-"], { input: nftResetTable(this.tableName), netns: this.netns });
    });
  }

  /**
   * What the kernel's table holds (left by a previous mfcd, or written by this one): its rules with
   * their handles and counters in table order, or why it is not a table mfcd writes; undefined
   * when it does not exist. Reads only, serialised with apply() and remove().
   */
  installed(): Promise<InstalledRescueTable | undefined> {
    return this.#serial(async () => {
      let out: string;
      try {
        out = await runNft(["-j", "list", "table", "ip", this.tableName], { netns: this.netns });
      } catch (err) {
        if (err instanceof NftError && isNftNotFound(err.stderr)) return undefined;
        throw err;
      }
      return parseRescueTable(JSON.parse(out) as NftJsonDoc, this.tableName, RESCUE_CHAIN);
    });
  }

  /** Per-rule counters, in rule order; empty when the table does not exist. */
  async stats(): Promise<RescueRuleStats[]> {
    let out: string;
    try {
      out = await runNft(["-j", "list", "table", "ip", this.tableName], { netns: this.netns });
    } catch (err) {
      if (err instanceof NftError && isNftNotFound(err.stderr)) return [];
      throw err;
    }
    return nftJsonObjects<JsonRule>(JSON.parse(out) as NftJsonDoc, "rule")
      .filter((r) => r.chain === RESCUE_CHAIN)
      .map((r) => {
        const stats: RescueRuleStats = { iif: "", source: "", group: "", packets: 0n, bytes: 0n };
        for (const e of r.expr ?? []) {
          if (e.counter) {
            stats.packets = BigInt(e.counter.packets);
            stats.bytes = BigInt(e.counter.bytes);
          }
          const m = e.match;
          if (m?.op !== "==" || typeof m.right !== "string") continue;
          if (m.left.meta?.key === "iifname") stats.iif = m.right;
          else if (m.left.payload?.field === "saddr" && stats.source === "") stats.source = m.right;
          else if (m.left.payload?.field === "daddr") stats.group = m.right;
        }
        return stats;
      });
  }

  /**
   * Counts one flow's packets on its iif by arrival TTL for `windowMs`, in a temporary table of
   * its own (hooked before this table, so it sees TTLs before any setTtl). Rejects with the
   * signal's reason when aborted; the temporary table is removed in every case.
   */
  probeTtl(flow: TtlProbeFlow, windowMs: number, signal?: AbortSignal): Promise<TtlProbeResult> {
    this.#probes += 1;
    return probeTtl(flow, windowMs, {
      tableName: `${this.tableName}_probe_${process.pid}_${this.#probes}`,
      netns: this.netns,
      signal,
    });
  }

  /**
   * Deletes probe and trace tables (`<name>_probe_<pid>_<n>`, `<name>_trace_<pid>_<n>`) left by an
   * earlier mfcd process that died mid-probe or mid-trace: one mfcd per namespace means any such
   * table with another pid is stale. Call at startup. Returns the names removed.
   */
  async removeLeftovers(): Promise<string[]> {
    return (await this.cleanUpAtStart()).removed;
  }

  /**
   * removeLeftovers(), and whether this table itself exists (a killed mfcd's rescue rules), from
   * the same listing: at startup a missing table with no rules to restore needs no `nft -f`.
   * `ipTablesJson`: the `nft -j list tables ip` output detectAsync() already read, if any.
   */
  async cleanUpAtStart(ipTablesJson?: string): Promise<{ removed: string[]; tableExists: boolean }> {
    const out = ipTablesJson ?? (await runNft(["-j", "list", "tables", "ip"], { netns: this.netns }));
    const re = new RegExp(`^${this.tableName}_(?:probe|trace)_(\\d+)_\\d+$`);
    const tables = nftJsonObjects<{ family: string; name: string }>(JSON.parse(out) as NftJsonDoc, "table").filter(
      (t) => t.family === "ip",
    );
    const stale = tables.filter((t) => Number(re.exec(t.name)?.[1] ?? process.pid) !== process.pid).map((t) => t.name);
    if (stale.length > 0) {
      await runNft(["-f", "-"], { input: stale.map(nftResetTable).join(""), netns: this.netns });
    }
    return { removed: stale, tableExists: tables.some((t) => t.name === this.tableName) };
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

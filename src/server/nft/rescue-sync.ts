// Keeps mfcd's nftables table equal to the rescue options (rewrite_source, set_ttl) of the
// routes: after every change the whole table is rewritten in one `nft -f` transaction (the
// kernel swaps it atomically), only when the rule set really changed. Without the nft binary,
// routes with rescue options are refused up front; everything else keeps working.
// Restarts: a table a previous mfcd left (kill -9, or an exit that kept forwarding) is adopted
// when it already holds exactly the restored routes' rules — no write, so the rescued flows see
// no gap and the rules keep their handles and counters — and otherwise replaced in that one
// transaction. An exit that keeps forwarding leaves the table for the next mfcd; a plain stop
// removes it with the routes.

import { DomainError } from "../../engine/domain-error.js";
import { nftUnavailable } from "./nft-unavailable.js";
import type { RouteEngine, RouteSpec } from "../../engine/route-engine.js";
import type { Logger } from "../config/index.js";

export interface RescueRuleData {
  iif: string;
  source: string;
  group: string;
  rewriteSource?: string;
  setTtl?: number;
}

/** What the kernel's table holds (src/kernel's InstalledRescueTable). */
export type InstalledRescueRules =
  | { tableHandle: number; rules: (RescueRuleData & { handle: number })[] }
  | { tableHandle: number; notMfcds: string };

/** The part of src/kernel's NftRescueTable this module uses. */
export interface RescueTablePort {
  apply(rules: readonly RescueRuleData[]): Promise<void>;
  remove(): Promise<void>;
  /** undefined: there is no table. */
  installed(): Promise<InstalledRescueRules | undefined>;
}

/** The rule's rescue fields in one key order, so that equal rules give equal JSON. */
function ruleData(r: RescueRuleData): RescueRuleData {
  const rule: RescueRuleData = { iif: r.iif, source: r.source, group: r.group };
  if (r.rewriteSource !== undefined) rule.rewriteSource = r.rewriteSource;
  if (r.setTtl !== undefined) rule.setTtl = r.setTtl;
  return rule;
}

export class RescueSync {
  /** JSON of the rules in the kernel; "?" until the first sync (a killed mfcd may have left some). */
  private applied = "?";
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly engine: RouteEngine,
    /** undefined: nft is not available, for the reason in `why`. */
    private readonly table: RescueTablePort | undefined,
    private readonly why: string,
    private readonly logger: Logger,
  ) {}

  /**
   * FAILED_PRECONDITION naming the Debian package (and the kernel option when the kernel is the
   * cause) when a spec needs nft and it cannot be used.
   */
  check(specs: readonly RouteSpec[], field = "route"): void {
    if (this.table) return;
    const needs = specs.find((s) => s.rewriteSource !== undefined || s.setTtl !== undefined);
    if (!needs) return;
    throw nftUnavailable(`${field}: rewrite_source and set_ttl are programmed with nftables`, this.why);
  }

  /**
   * The table is known not to exist (startup listing): until a route needs rules there is
   * nothing to replace or remove, so the first sync() without rules runs no nft at all.
   */
  noTable(): void {
    if (this.applied === "?") this.applied = "[]";
  }

  /** Whether a change to routes with (or formerly with) these specs can change the table. */
  relevant(specs: readonly RouteSpec[]): boolean {
    return (this.applied !== "[]" && this.applied !== "?") || specs.some((s) => s.rewriteSource !== undefined || s.setTtl !== undefined);
  }

  /** Rewrite the table if the routes' rescue rules changed; concurrent calls are serialized. */
  sync(): Promise<void> {
    const next = this.chain.then(() => this.syncNow());
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Drop the table (clean exit): the rules must not outlive the routes they serve. */
  async remove(): Promise<void> {
    await this.chain;
    if (this.table && this.applied !== "[]") await this.table.remove().catch(() => undefined);
    this.applied = "[]";
  }

  /**
   * At exit: a plain stop removes the table with the routes (remove()); an exit that keeps
   * forwarding (SIGUSR2, --keep-forwarding, Stop{keep_forwarding}) leaves it, like the kernel
   * routes, for the next mfcd to adopt.
   */
  async stop(keepForwarding: boolean): Promise<void> {
    if (!keepForwarding) return this.remove();
    await this.chain;
    if (this.table && this.applied !== "[]") this.logger.info("nftables rescue table kept for the next mfcd");
  }

  private async syncNow(): Promise<void> {
    if (!this.table) return;
    const rules = this.engine
      .records()
      .map((r) => r.spec)
      .filter((s) => s.rewriteSource !== undefined || s.setTtl !== undefined)
      .map(ruleData)
      .sort((a, b) => `${a.source}/${a.group}`.localeCompare(`${b.source}/${b.group}`));
    const text = JSON.stringify(rules);
    if (text === this.applied) return;
    // First sync with a table present (left by a previous mfcd): keep it if it is already right.
    if (this.applied === "?" && rules.length > 0 && (await this.adopt(this.table, text))) return;
    try {
      if (rules.length === 0) await this.table.remove();
      else await this.table.apply(rules);
      this.applied = text;
      this.logger.info({ rules: rules.length }, "nftables rescue table updated");
    } catch (err) {
      this.logger.error({ err }, "nftables rescue table update failed");
      throw new DomainError(
        "internal",
        `the route is in place but its nftables rescue rule could not be programmed: ${err instanceof Error ? err.message : String(err)}`,
        { reason: "NFT_APPLY_FAILED", cause: err },
      );
    }
  }

  /**
   * Takes the table as it is when it holds exactly the rules `text` (the same rules in the same
   * order, nothing else): true. False when it is missing, unreadable or different; then the
   * caller's apply() replaces it in one transaction, so the rules never go missing meanwhile.
   */
  private async adopt(table: RescueTablePort, text: string): Promise<boolean> {
    let found: InstalledRescueRules | undefined;
    try {
      found = await table.installed();
    } catch (err) {
      this.logger.warn({ err }, "could not read the nftables rescue table a previous mfcd left: replacing it");
      return false;
    }
    if (found === undefined) return false;
    if ("notMfcds" in found) {
      this.logger.warn({ why: found.notMfcds }, "the nftables rescue table holds what mfcd does not write: replacing it");
      return false;
    }
    if (JSON.stringify(found.rules.map(ruleData)) !== text) {
      this.logger.info({ found: found.rules.length }, "the nftables rescue table a previous mfcd left differs: replacing it");
      return false;
    }
    this.applied = text;
    this.logger.info(
      { rules: found.rules.length, tableHandle: found.tableHandle, handles: found.rules.map((r) => r.handle) },
      "nftables rescue table adopted",
    );
    return true;
  }
}

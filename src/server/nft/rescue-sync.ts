// Keeps mfcd's nftables table equal to the rescue options (rewrite_source, set_ttl) of the
// routes: after every change the whole table is rewritten in one `nft -f` transaction (the
// kernel swaps it atomically), only when the rule set really changed. Without the nft binary,
// routes with rescue options are refused up front; everything else keeps working.

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

/** The part of src/kernel's NftRescueTable this module uses. */
export interface RescueTablePort {
  apply(rules: readonly RescueRuleData[]): Promise<void>;
  remove(): Promise<void>;
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

  private async syncNow(): Promise<void> {
    if (!this.table) return;
    const rules = this.engine
      .records()
      .map((r) => r.spec)
      .filter((s) => s.rewriteSource !== undefined || s.setTtl !== undefined)
      .map((s): RescueRuleData => {
        const rule: RescueRuleData = { iif: s.iif, source: s.source, group: s.group };
        if (s.rewriteSource !== undefined) rule.rewriteSource = s.rewriteSource;
        if (s.setTtl !== undefined) rule.setTtl = s.setTtl;
        return rule;
      })
      .sort((a, b) => `${a.source}/${a.group}`.localeCompare(`${b.source}/${b.group}`));
    const text = JSON.stringify(rules);
    if (text === this.applied) return;
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
}

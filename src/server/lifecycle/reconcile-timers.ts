// The background work that keeps the engine and the kernel in step, and the one owner of its
// timers: the sweep that expires idle learned entries, the periodic full drift check, and the
// debounced drift check that rtnetlink MFC events ask for. stop() ends all three.

import type { RouteEngine } from "../../engine/route-engine.js";
import type { Logger } from "../config/index.js";

/**
 * The periodic full comparison is a backstop: rtnetlink MFC events (IPv4 and IPv6) already
 * report foreign adds and deletes at once, and a lost event is reported as an overrun, which
 * resynchronises. A full check grows with the table (README "Measured figures in the code"), so
 * it runs every `interval` ms but never spends more than DRIFT_CPU_BUDGET of a core: the next
 * check waits at least cost / budget (large tables: tens of seconds; small ones: `interval`).
 */
export const DRIFT_CPU_BUDGET = 0.002;

export interface ReconcileTimersOptions {
  engine: Pick<RouteEngine, "expireLearned" | "checkDrift" | "lastChangeAt">;
  logger: Logger;
  /** `--learned-idle`: learned entries and stop filters without traffic for this long go (0: the default). */
  learnedIdleMs: number;
  /** Period of the full kernel comparison that detects altered entries (default 2000; 0 = off). */
  driftCheckIntervalMs?: number;
  /** Delay that coalesces bursts of MFC events into one full drift check (default 100). */
  driftDebounceMs?: number;
}

export class ReconcileTimers {
  private expiryTimer: NodeJS.Timeout | undefined;
  private periodicTimer: NodeJS.Timeout | undefined;
  private eventTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: ReconcileTimersOptions) {}

  /** Starts the two periodic timers (once mfcd serves); event-driven checks work from construction. */
  start(): void {
    if (this.stopped || this.expiryTimer) return;
    const { engine, logger, learnedIdleMs } = this.options;
    // Learned entries and stop filters without traffic go after --learned-idle; the sweep also
    // notices a learned flow that moved to another iif (wrong_if rising, packets still).
    const sweepMs = Math.min(10_000, Math.max(1000, (learnedIdleMs || 10_000) / 4));
    this.expiryTimer = setInterval(() => {
      try {
        const removed = engine.expireLearned(learnedIdleMs);
        if (removed > 0) logger.info({ removed }, "idle learned entries removed");
      } catch (err) {
        logger.error({ err }, "learned-entry sweep failed");
      }
    }, sweepMs).unref();
    const interval = this.options.driftCheckIntervalMs ?? 2000;
    if (interval > 0) this.periodicTimer = setTimeout(() => this.periodicDriftCheck(interval), interval).unref();
  }

  /** An MFC event disagrees with a route: one full check after the burst settles. */
  queueDriftCheck(): void {
    if (this.stopped || this.eventTimer) return;
    this.eventTimer = setTimeout(() => {
      this.eventTimer = undefined;
      if (this.stopped) return;
      const drifted = this.checkDrift();
      if (drifted > 0) this.options.logger.warn({ drifted }, "kernel entries altered behind mfcd's back: repaired");
    }, this.options.driftDebounceMs ?? 100).unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.expiryTimer);
    clearTimeout(this.periodicTimer);
    clearTimeout(this.eventTimer);
  }

  private periodicDriftCheck(interval: number): void {
    if (this.stopped) return;
    // A bulk apply is still being persisted/answered: do not add a full dump on top of it.
    if (performance.now() - this.options.engine.lastChangeAt < interval) {
      this.periodicTimer = setTimeout(() => this.periodicDriftCheck(interval), interval).unref();
      return;
    }
    const t0 = performance.now();
    const drifted = this.checkDrift();
    if (drifted > 0) this.options.logger.warn({ drifted }, "kernel entries differ from installed routes");
    const cost = performance.now() - t0;
    if (!this.stopped) {
      this.periodicTimer = setTimeout(() => this.periodicDriftCheck(interval), Math.max(interval, cost / DRIFT_CPU_BUDGET)).unref();
    }
  }

  /** Entries repaired; a failing check is logged (and counts as none). */
  private checkDrift(): number {
    try {
      return this.options.engine.checkDrift();
    } catch (err) {
      this.options.logger.error({ err }, "drift check failed");
      return 0;
    }
  }
}

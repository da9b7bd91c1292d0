// WatchStats: a snapshot at once, then one every interval, with rates from counter deltas.

import { delay } from "abort-controller-x";
import type { RouteEngine } from "../../engine/route-engine.js";
import type { WatchStatsRequest } from "../../gen/mfc.js";
import { CounterRates } from "./counter-rates.js";
import { toTimestamp } from "./proto-views.js";
import { watchStatsReplies } from "./watch-stats-reply.js";
import type { WireReply } from "./wire-reply.js";
import { validateFilterAddress } from "../routes/index.js";
import { DomainError, type FieldViolation } from "../../engine/domain-error.js";

export const DEFAULT_INTERVAL_MS = 1000;
export const MIN_INTERVAL_MS = 100;
/**
 * Routes per message: a message of 10k RouteStats stays well under grpc-js's 4 MiB default
 * message limit (its size: README "Measured figures in the code").
 */
export const ROUTES_PER_MESSAGE = 10_000;

export function watchInterval(requested: number): number {
  return requested === 0 ? DEFAULT_INTERVAL_MS : Math.max(MIN_INTERVAL_MS, requested);
}

export async function* watchStats(
  engine: RouteEngine,
  request: WatchStatsRequest,
  signal: AbortSignal,
): AsyncGenerator<WireReply> {
  const violations: FieldViolation[] = [];
  const source = request.source && validateFilterAddress(request.source, "source", violations);
  const group = request.group && validateFilterAddress(request.group, "group", violations);
  if (violations.length > 0) throw DomainError.invalid(violations);

  const interval = watchInterval(request.intervalMs);
  const rates = new CounterRates();
  for (;;) {
    rates.begin(performance.now());
    yield* watchStatsReplies(engine, { source, group }, rates, toTimestamp(Date.now()), ROUTES_PER_MESSAGE);
    await delay(signal, interval);
  }
}

// WatchStats: a snapshot at once, then one every interval, with rates from counter deltas.

import { delay } from "abort-controller-x";
import type { RouteEngine } from "../engine/route-engine.js";
import { routeKeyString } from "../engine/route-key.js";
import type { RouteStats, WatchStatsRequest, WatchStatsResponse } from "../gen/mfc.js";
import { toCounters, toTimestamp, toVifStatus } from "./proto-views.js";
import { validateFilterAddress } from "./validate-route.js";
import { DomainError, type FieldViolation } from "../engine/domain-error.js";

export const DEFAULT_INTERVAL_MS = 1000;
export const MIN_INTERVAL_MS = 100;
/**
 * Routes per message. A RouteStats is at most ~110 bytes (3 strings ≤ 15 bytes, 3 varints,
 * 2 doubles, tags), so 10k routes stay near 1.1 MB — well under the 4 MiB default limit.
 */
export const ROUTES_PER_MESSAGE = 10_000;

interface Previous {
  packets: bigint;
  bytes: bigint;
  at: number;
}

export function watchInterval(requested: number): number {
  return requested === 0 ? DEFAULT_INTERVAL_MS : Math.max(MIN_INTERVAL_MS, requested);
}

export async function* watchStats(
  engine: RouteEngine,
  request: WatchStatsRequest,
  signal: AbortSignal,
): AsyncGenerator<WatchStatsResponse> {
  const violations: FieldViolation[] = [];
  const source = request.source && validateFilterAddress(request.source, "source", violations);
  const group = request.group && validateFilterAddress(request.group, "group", violations);
  if (violations.length > 0) throw DomainError.invalid(violations);

  const interval = watchInterval(request.intervalMs);
  let previous = new Map<string, Previous>();
  for (;;) {
    const at = performance.now();
    const time = toTimestamp(Date.now());
    const stats = engine.stats({ source, group });
    const next = new Map<string, Previous>();
    const routes: RouteStats[] = stats.routes.map(({ spec, counters }) => {
      const id = routeKeyString(spec);
      const c = toCounters(counters);
      const before = previous.get(id);
      next.set(id, { packets: c.packets, bytes: c.bytes, at });
      const seconds = before ? (at - before.at) / 1000 : 0;
      const rate = (now: bigint, then: bigint | undefined) =>
        seconds > 0 && then !== undefined && now >= then ? Number(now - then) / seconds : 0;
      return {
        source: spec.source,
        group: spec.group,
        iif: spec.iif,
        table: spec.table,
        counters: c,
        packetsPerSecond: rate(c.packets, before?.packets),
        bytesPerSecond: rate(c.bytes, before?.bytes),
      };
    });
    previous = next;

    const parts = Math.max(1, Math.ceil(routes.length / ROUTES_PER_MESSAGE));
    for (let part = 0; part < parts; part++) {
      yield {
        time,
        routes: routes.slice(part * ROUTES_PER_MESSAGE, (part + 1) * ROUTES_PER_MESSAGE),
        vifs: part === 0 ? stats.vifs.map(toVifStatus) : [],
        part,
        parts,
      };
    }
    await delay(signal, interval);
  }
}

// WatchStats: a snapshot at once, then one every interval, with rates from counter deltas.

import { delay } from "abort-controller-x";
import type { RouteEngine, RouteStatsView } from "../engine/route-engine.js";
import type { WatchStatsRequest } from "../gen/mfc.js";
import { toTimestamp } from "./proto-views.js";
import { routeWireId } from "./route-wire.js";
import { WatchStatsReply } from "./watch-stats-reply.js";
import { validateFilterAddress } from "./validate-route.js";
import { DomainError, type FieldViolation } from "../engine/domain-error.js";

export const DEFAULT_INTERVAL_MS = 1000;
export const MIN_INTERVAL_MS = 100;
/**
 * Routes per message. A RouteStats is at most ~110 bytes (3 strings ≤ 15 bytes, 3 varints,
 * 2 doubles, tags), so 10k routes stay near 1.1 MB — well under the 4 MiB default limit.
 */
export const ROUTES_PER_MESSAGE = 10_000;

/** A route's counters at the last update, updated in place (no garbage per route and tick). */
interface Previous {
  packets: number;
  bytes: number;
  /** The update that last saw the route: a rate needs the route in the one before. */
  tick: number;
}

export function watchInterval(requested: number): number {
  return requested === 0 ? DEFAULT_INTERVAL_MS : Math.max(MIN_INTERVAL_MS, requested);
}

export async function* watchStats(
  engine: RouteEngine,
  request: WatchStatsRequest,
  signal: AbortSignal,
): AsyncGenerator<WatchStatsReply> {
  const violations: FieldViolation[] = [];
  const source = request.source && validateFilterAddress(request.source, "source", violations);
  const group = request.group && validateFilterAddress(request.group, "group", violations);
  if (violations.length > 0) throw DomainError.invalid(violations);

  const interval = watchInterval(request.intervalMs);
  const previous = new Map<string, Previous>();
  let previousAt = 0;
  for (let tick = 1; ; tick++) {
    const at = performance.now();
    const time = toTimestamp(Date.now());
    const stats = engine.stats({ source, group });
    const { routes } = stats;
    const packetsPerSecond = new Float64Array(routes.length);
    const bytesPerSecond = new Float64Array(routes.length);
    const seconds = (at - previousAt) / 1000;
    for (let i = 0; i < routes.length; i++) {
      const { spec, counters } = routes[i] as RouteStatsView;
      // Counters stay below 2^53 in practice: Number arithmetic, no BigInt per route.
      const packets = counters ? Number(counters.packets) : 0;
      const bytes = counters ? Number(counters.bytes) : 0;
      const id = routeWireId(spec);
      const before = previous.get(id);
      if (before === undefined) {
        previous.set(id, { packets, bytes, tick });
        continue;
      }
      if (before.tick === tick - 1 && seconds > 0) {
        if (packets >= before.packets) packetsPerSecond[i] = (packets - before.packets) / seconds;
        if (bytes >= before.bytes) bytesPerSecond[i] = (bytes - before.bytes) / seconds;
      }
      before.packets = packets;
      before.bytes = bytes;
      before.tick = tick;
    }
    if (previous.size > routes.length) {
      for (const [id, p] of previous) if (p.tick !== tick) previous.delete(id);
    }
    previousAt = at;

    const parts = Math.max(1, Math.ceil(routes.length / ROUTES_PER_MESSAGE));
    for (let part = 0; part < parts; part++) {
      yield new WatchStatsReply({
        time,
        routes,
        packetsPerSecond,
        bytesPerSecond,
        from: part * ROUTES_PER_MESSAGE,
        to: Math.min(routes.length, (part + 1) * ROUTES_PER_MESSAGE),
        vifs: part === 0 ? stats.vifs : [],
        part,
        parts,
      });
    }
    await delay(signal, interval);
  }
}

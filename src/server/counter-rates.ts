// Per-route packet and byte rates of one WatchStats stream, from the counters of consecutive
// updates. The previous counters are kept as numbers and updated in place: no object per
// route and update once a route has been seen.

import type { RouteSpec } from "../engine/route-engine.js";
import { routeKeyString } from "../engine/route-key.js";

interface Previous {
  packets: number;
  bytes: number;
  /** The update that last saw the route: a rate needs the route in the one before. */
  tick: number;
}

/** Route ids by spec identity (specs are replaced, never mutated), shared by all streams. */
const ids = new WeakMap<RouteSpec, string>();

export class CounterRates {
  readonly #previous = new Map<string, Previous>();
  #tick = 0;
  #previousAt = 0;
  #seconds = 0;
  #seen = 0;
  /** Outputs of the last rate() call. */
  packetsPerSecond = 0;
  bytesPerSecond = 0;

  /** Starts an update taken at `at` (performance.now()). */
  begin(at: number): void {
    this.#tick++;
    this.#seconds = (at - this.#previousAt) / 1000;
    this.#previousAt = at;
    this.#seen = 0;
  }

  /**
   * Records a route's counters (undefined: no kernel entry, all zero) and sets
   * packetsPerSecond / bytesPerSecond: 0 for a route the last update did not have, or whose
   * counters went down (entry re-created).
   */
  rate(spec: RouteSpec, counters: { packets: bigint; bytes: bigint } | undefined): void {
    this.#seen++;
    // Counters stay below 2^53 in practice: Number arithmetic, no BigInt per route.
    const packets = counters ? Number(counters.packets) : 0;
    const bytes = counters ? Number(counters.bytes) : 0;
    let id = ids.get(spec);
    if (id === undefined) ids.set(spec, (id = routeKeyString(spec)));
    const before = this.#previous.get(id);
    this.packetsPerSecond = 0;
    this.bytesPerSecond = 0;
    if (before === undefined) {
      this.#previous.set(id, { packets, bytes, tick: this.#tick });
      return;
    }
    if (before.tick === this.#tick - 1 && this.#seconds > 0) {
      if (packets >= before.packets) this.packetsPerSecond = (packets - before.packets) / this.#seconds;
      if (bytes >= before.bytes) this.bytesPerSecond = (bytes - before.bytes) / this.#seconds;
    }
    before.packets = packets;
    before.bytes = bytes;
    before.tick = this.#tick;
  }

  /** Ends the update: forgets routes it did not have. */
  end(): void {
    if (this.#previous.size <= this.#seen) return;
    for (const [id, p] of this.#previous) if (p.tick !== this.#tick) this.#previous.delete(id);
  }
}

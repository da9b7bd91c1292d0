// Per-route packet and byte rates of one WatchStats stream, from the counters of consecutive
// updates. The previous counters are kept as numbers and updated in place: no object per
// route and update once a route has been seen.

import type { RouteSpec } from "../../engine/route-engine.js";
import { routeKeyString } from "../../engine/route-key.js";

interface Previous {
  packets: number;
  bytes: number;
  /** The update that last saw the route: a rate needs the route in the one before. */
  tick: number;
  id: string;
  /** The spec the route had when last seen (a replaced route has a new spec object). */
  spec: RouteSpec;
}

export class CounterRates {
  /**
   * Looked up by spec identity (the engine replaces a route's spec object when it changes,
   * never mutates it): one Map lookup per route and update. A spec not seen before is looked
   * up by the route's id, so a replaced route keeps its rate.
   */
  readonly #bySpec = new Map<RouteSpec, Previous>();
  readonly #byId = new Map<string, Previous>();
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
    this.packetsPerSecond = 0;
    this.bytesPerSecond = 0;
    let before = this.#bySpec.get(spec);
    if (before === undefined) {
      const id = routeKeyString(spec);
      before = this.#byId.get(id);
      if (before === undefined) {
        const fresh = { packets, bytes, tick: this.#tick, id, spec };
        this.#byId.set(id, fresh);
        this.#bySpec.set(spec, fresh);
        return;
      }
      this.#bySpec.set(spec, before);
      before.spec = spec;
    }
    if (before.tick === this.#tick - 1 && this.#seconds > 0) {
      if (packets >= before.packets) this.packetsPerSecond = (packets - before.packets) / this.#seconds;
      if (bytes >= before.bytes) this.bytesPerSecond = (bytes - before.bytes) / this.#seconds;
    }
    before.packets = packets;
    before.bytes = bytes;
    before.tick = this.#tick;
  }

  /** Ends the update: forgets routes it did not have, and replaced routes' old specs. */
  end(): void {
    if (this.#bySpec.size <= this.#seen) return;
    for (const [spec, p] of this.#bySpec) {
      if (p.tick === this.#tick && p.spec === spec) continue;
      this.#bySpec.delete(spec);
      if (p.tick !== this.#tick && this.#byId.get(p.id) === p) this.#byId.delete(p.id);
    }
  }
}

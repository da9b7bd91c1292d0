import { describe, expect, it } from "vitest";
import type { RouteSpec } from "../../src/engine/route-engine.js";
import { CounterRates } from "../../src/server/wire/counter-rates.js";

const spec = (source: string, oifs = ["eth1"]): RouteSpec => ({ family: "ipv4", table: 0, source, group: "239.1.1.1", iif: "eth0", oifs });
const c = (packets: number, bytes: number) => ({ packets: BigInt(packets), bytes: BigInt(bytes) });

function update(rates: CounterRates, at: number, routes: [RouteSpec, ReturnType<typeof c> | undefined][]): number[][] {
  rates.begin(at);
  const out = routes.map(([s, counters]) => {
    rates.rate(s, counters);
    return [rates.packetsPerSecond, rates.bytesPerSecond];
  });
  rates.end();
  return out;
}

describe("CounterRates", () => {
  it("rates from the previous update; a replaced route (new spec object, same key) keeps its rate", () => {
    const rates = new CounterRates();
    const a = spec("10.0.0.1");
    const b = spec("10.0.0.2");
    expect(update(rates, 1000, [[a, c(10, 1000)], [b, undefined]])).toEqual([[0, 0], [0, 0]]);
    expect(update(rates, 3000, [[a, c(30, 3000)], [b, c(4, 400)]])).toEqual([[10, 1000], [2, 200]]);
    const replaced = spec("10.0.0.1", ["eth2"]);
    expect(update(rates, 4000, [[replaced, c(40, 4000)], [b, c(2, 200)]])).toEqual([[10, 1000], [0, 0]]);
    expect(update(rates, 5000, [[replaced, c(45, 4500)], [b, c(3, 300)]])).toEqual([[5, 500], [1, 100]]);
  });

  it("a route missing from an update starts over when it comes back", () => {
    const rates = new CounterRates();
    const a = spec("10.0.0.1");
    const b = spec("10.0.0.2");
    update(rates, 1000, [[a, c(1, 1)], [b, c(1, 1)]]);
    update(rates, 2000, [[a, c(2, 2)]]);
    expect(update(rates, 3000, [[a, c(3, 3)], [b, c(9, 9)]])).toEqual([[1, 1], [0, 0]]);
    expect(update(rates, 4000, [[a, c(3, 3)], [b, c(10, 10)]])).toEqual([[0, 0], [1, 1]]);
  });
});

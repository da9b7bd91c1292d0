import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../src/server/config/index.js";
import { ReconcileTimers } from "../../src/server/lifecycle/index.js";

function fakeEngine() {
  return {
    drift: 0,
    expiries: [] as number[],
    lastChangeAt: Number.NEGATIVE_INFINITY,
    checkDrift() {
      this.drift++;
      return 0;
    },
    expireLearned(idleMs: number) {
      this.expiries.push(idleMs);
      return 0;
    },
  };
}

describe("ReconcileTimers", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("start(): learned entries expire every --learned-idle/4 (1 s…10 s) and drift is checked every interval", () => {
    const engine = fakeEngine();
    const r = new ReconcileTimers({ engine, logger: createLogger("silent"), learnedIdleMs: 8000, driftCheckIntervalMs: 500 });
    vi.advanceTimersByTime(5000);
    expect(engine.expiries).toEqual([]);
    expect(engine.drift).toBe(0);
    r.start();
    vi.advanceTimersByTime(4000);
    expect(engine.expiries).toEqual([8000, 8000]);
    expect(engine.drift).toBeGreaterThanOrEqual(7);
    r.stop();
  });

  it("event-driven checks work before start(), coalesce a burst into one, and stop() ends every timer", () => {
    const engine = fakeEngine();
    const r = new ReconcileTimers({ engine, logger: createLogger("silent"), learnedIdleMs: 0, driftDebounceMs: 100 });
    for (let i = 0; i < 5; i++) r.queueDriftCheck();
    vi.advanceTimersByTime(100);
    expect(engine.drift).toBe(1);
    r.start();
    r.queueDriftCheck();
    r.stop();
    r.queueDriftCheck();
    vi.advanceTimersByTime(60_000);
    expect(engine.drift).toBe(1);
    expect(engine.expiries).toEqual([]);
  });

  it("no periodic check while routes keep changing (a bulk apply is being answered)", () => {
    const engine = {
      ...fakeEngine(),
      get lastChangeAt() {
        return performance.now();
      },
    };
    const r = new ReconcileTimers({ engine, logger: createLogger("silent"), learnedIdleMs: 0, driftCheckIntervalMs: 100 });
    r.start();
    vi.advanceTimersByTime(1000);
    expect(engine.drift).toBe(0);
    r.stop();
  });

  it("a failing check or sweep is logged and the timers keep running", () => {
    let calls = 0;
    const engine = {
      lastChangeAt: Number.NEGATIVE_INFINITY,
      checkDrift(): number {
        calls++;
        throw new Error("dump failed");
      },
      expireLearned(): number {
        throw new Error("sweep failed");
      },
    };
    const r = new ReconcileTimers({ engine, logger: createLogger("silent"), learnedIdleMs: 4000, driftCheckIntervalMs: 100 });
    r.start();
    vi.advanceTimersByTime(2000);
    expect(calls).toBeGreaterThanOrEqual(10);
    r.stop();
  });
});

// Small numeric helpers: percentiles over latency samples, wall-clock timing, number formatting.

import { setTimeout as sleepMs } from "node:timers/promises";

export const sleep = (ms: number): Promise<void> => sleepMs(ms).then(() => undefined);

/** Monotonic time in nanoseconds (as a number: a bench run lasts far below 2^53 ns). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Summary of latency samples, in the samples' own unit. */
export function summarize(samples: readonly number[]): LatencySummary {
  const sum = samples.reduce((a, b) => a + b, 0);
  return {
    count: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: samples.length ? Math.max(...samples) : Number.NaN,
    mean: samples.length ? sum / samples.length : Number.NaN,
  };
}

/** 12345.6 → "12,346"; NaN/undefined → "n/a". */
export function fmtInt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "n/a";
  return Math.round(v).toLocaleString("en-US");
}

/** Fixed decimals, "n/a" for non-finite. */
export function fmt(v: number | undefined, decimals = 1): string {
  if (v === undefined || !Number.isFinite(v)) return "n/a";
  return v.toFixed(decimals);
}

/** A ratio as "0.012×" / "3.4×" / "250×" with about three significant digits. */
export function fmtRatio(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "n/a";
  if (v >= 100) return `${v.toFixed(0)}×`;
  if (v >= 10) return `${v.toFixed(1)}×`;
  if (v >= 0.1) return `${v.toFixed(2)}×`;
  return `${v.toPrecision(2)}×`;
}

/** Round for JSON output (keeps the file readable). */
export function round(v: number, decimals = 3): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

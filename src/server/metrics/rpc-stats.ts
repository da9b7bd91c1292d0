// RPC counts and latency histograms per method, kept in fixed arrays so recording a call costs
// a few additions (it runs on every AddRoute).

import type { PrometheusText } from "./prometheus-text.js";

/** Upper bounds in seconds: 100 µs (a fast unary call) to 30 s (a 100k-route ApplyRoutes). */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10, 30];

interface MethodStats {
  /** Calls by final gRPC status name (OK, INVALID_ARGUMENT, ...). */
  byCode: Map<string, number>;
  /** Cumulative-free bucket counts; the last slot is +Inf. */
  buckets: number[];
  sum: number;
  count: number;
}

export class RpcStats {
  private readonly methods = new Map<string, MethodStats>();

  /** One finished call: its full method path (/pkg.Service/Method), status name and duration. */
  record(method: string, code: string, seconds: number): void {
    let m = this.methods.get(method);
    if (!m) {
      m = { byCode: new Map(), buckets: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
      this.methods.set(method, m);
    }
    m.byCode.set(code, (m.byCode.get(code) ?? 0) + 1);
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[i] as number)) i++;
    m.buckets[i] = (m.buckets[i] as number) + 1;
    m.sum += seconds;
    m.count++;
  }

  /** Calls of `method` that ended with `code` so far. */
  count(method: string, code: string): number {
    return this.methods.get(method)?.byCode.get(code) ?? 0;
  }

  writeTo(out: PrometheusText): void {
    out.family("mfcd_rpc_requests_total", "counter", "gRPC calls handled, by method and final status code.");
    for (const [method, m] of this.methods) {
      for (const [code, n] of m.byCode) out.sample("mfcd_rpc_requests_total", { method, code }, n);
    }
    out.family("mfcd_rpc_duration_seconds", "histogram", "Time from a call's arrival to its final status.");
    for (const [method, m] of this.methods) {
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += m.buckets[i] as number;
        out.sample("mfcd_rpc_duration_seconds_bucket", { method, le }, cumulative);
      });
      out.sample("mfcd_rpc_duration_seconds_bucket", { method, le: "+Inf" }, m.count);
      out.sample("mfcd_rpc_duration_seconds_sum", { method }, m.sum);
      out.sample("mfcd_rpc_duration_seconds_count", { method }, m.count);
    }
  }
}

// Observability: the Prometheus text exposition computed on each scrape, its HTTP endpoint
// (--metrics-listen), and the per-method RPC counts and latency histograms.
export { renderMetrics, type UpcallCount } from "./metrics-exposition.js";
export { startMetricsServer } from "./metrics-server.js";
export { RpcStats } from "./rpc-stats.js";

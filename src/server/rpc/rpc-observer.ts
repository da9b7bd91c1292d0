// One log line and one metrics sample per RPC (method, final status, duration, peer). It sits
// outside the error mapper, so it sees the status the client receives, and outside the
// terminator, so calls refused during shutdown are counted too.

import { performance } from "node:perf_hooks";
import { ServerError, Status } from "nice-grpc";
import type { ServerMiddleware } from "nice-grpc-common";
import { isAbortError } from "abort-controller-x";
import type { Logger } from "../config/index.js";
import type { RpcStats } from "../metrics/index.js";

export function createRpcObserver(logger: Logger, stats: RpcStats): ServerMiddleware {
  return async function* rpcObserver(call, context) {
    const started = performance.now();
    let code = "OK";
    let message: string | undefined;
    try {
      return yield* call.next(call.request, context);
    } catch (err) {
      if (err instanceof ServerError) {
        code = Status[err.code] ?? String(err.code);
        message = err.details;
      } else if (isAbortError(err)) {
        code = "CANCELLED";
      } else {
        code = "UNKNOWN";
        message = err instanceof Error ? err.message : String(err);
      }
      throw err;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      stats.record(call.method.path, code, seconds);
      // Health probes arrive every few seconds from kubelets: debug, not info.
      const level = call.method.path.startsWith("/grpc.health.") || call.method.path.startsWith("/grpc.reflection.")
        ? "debug"
        : code === "OK" || code === "CANCELLED"
          ? "info"
          : "warn";
      if (logger.isLevelEnabled(level)) {
        logger[level](
          { rpc: call.method.path, code, durationMs: Math.round(seconds * 1e6) / 1e3, peer: context.peer, ...(message ? { error: message } : {}) },
          "rpc",
        );
      }
    }
  };
}

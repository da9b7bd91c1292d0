// Trace: a temporary `meta nftrace set 1` rule for one flow on its iif, streamed as decoded
// nft trace events until the duration ends or the client goes away — the rule is removed in
// every case (finally), so an abandoned trace leaves nothing behind.

import { abortable, delay, isAbortError } from "abort-controller-x";
import { DomainError, type FieldViolation } from "../../engine/domain-error.js";
import type { RouteEngine } from "../../engine/route-engine.js";
import type { TraceRequest, TraceResponse } from "../../gen/mfc.js";
import { nftUnavailable } from "../nft/index.js";
import { toTimestamp } from "../wire/index.js";
import { validateGroup, validateInterfaceName, validateSource } from "../routes/index.js";

export interface TraceEventData {
  id: string;
  table: string;
  chain: string;
  hook?: string;
  rule?: string;
  verdict?: string;
  raw: string;
}

/** Starts tracing one flow; a string says why tracing is unavailable (e.g. nft missing). */
export type TraceStarter = (
  flow: { iif: string; source: string; group: string },
  onEvent: (e: TraceEventData) => void,
) => Promise<{ stop(): Promise<void> }> | string;

export const DEFAULT_TRACE_MS = 5000;
export const MAX_TRACE_MS = 60_000;

export async function* traceFlow(
  engine: RouteEngine,
  start: TraceStarter | undefined,
  request: TraceRequest,
  signal: AbortSignal,
): AsyncGenerator<TraceResponse> {
  const violations: FieldViolation[] = [];
  validateSource(request.source, "source", violations);
  validateGroup(request.group, "group", violations, { allowLinkLocal: true });
  if (request.iif) validateInterfaceName(request.iif, "iif", violations);
  const duration = request.durationMs === 0 ? DEFAULT_TRACE_MS : request.durationMs;
  if (duration > MAX_TRACE_MS) {
    violations.push({ field: "duration_ms", description: `${duration} ms: at most ${MAX_TRACE_MS} ms` });
  }
  if (violations.length > 0) throw DomainError.invalid(violations);
  // Trace follows IPv4 packets through the default table: without IPv4 multicast routing, say so.
  const noIpv4 = engine.unavailableTable("ipv4", 0);
  if (noIpv4) throw noIpv4;
  const route = engine.get({ family: "ipv4", table: 0, source: request.source, group: request.group });
  const iif = request.iif || route?.spec.iif;
  if (!iif) {
    throw DomainError.invalid([{ field: "iif", description: "no route for this flow: say which interface to trace on" }]);
  }
  if (!start) throw nftMissing("tracing is not available in this mfcd");
  const queue: TraceEventData[] = [];
  let wake: (() => void) | undefined;
  const started = start({ iif, source: request.source, group: request.group }, (e) => {
    queue.push(e);
    wake?.();
  });
  if (typeof started === "string") throw nftMissing(started || "nft not found");
  const tracer = await started;
  const done = new AbortController();
  const onAbort = () => done.abort();
  signal.addEventListener("abort", onAbort);
  const timer = delay(done.signal, duration).then(
    () => done.abort(),
    () => undefined,
  );
  try {
    while (!done.signal.aborted || queue.length > 0) {
      const e = queue.shift();
      if (e) {
        yield {
          time: toTimestamp(Date.now()),
          traceId: e.id,
          table: e.table,
          chain: e.chain,
          hook: e.hook ?? "",
          rule: e.rule ?? "",
          verdict: e.verdict ?? "",
          raw: e.raw,
        };
        continue;
      }
      try {
        await abortable(done.signal, new Promise<void>((resolve) => (wake = resolve)));
      } catch (err) {
        if (!isAbortError(err)) throw err;
      }
      wake = undefined;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    done.abort();
    await timer;
    await tracer.stop();
  }
}

function nftMissing(why: string): DomainError {
  return nftUnavailable("Trace needs nftables", why);
}

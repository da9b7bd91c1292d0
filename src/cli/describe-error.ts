// How mfcctl reports a failure: the gRPC status name and message on one line, then every
// google.rpc detail mfcd attached (field violations, the ErrorInfo reason and metadata,
// precondition failures, ...) in readable lines; or, with --json, one JSON object in the shape
// of google.rpc.Status. An unreachable mfcd is said plainly, naming the address.

import { RichClientError } from "nice-grpc-error-details";
import { MfcError, Status } from "../sdk/index.js";
import { ConfigFileError } from "../shared/route-file.js";

type Detail = RichClientError["extra"][number];

export interface ErrorReport {
  /** Human lines, without the "mfcctl: " prefix of the first. */
  lines: string[];
  json: Record<string, unknown>;
}

function detailsOf(err: MfcError): Detail[] {
  return err.cause instanceof RichClientError ? err.cause.extra : [];
}

function detailLines(d: Detail, message: string): string[] {
  switch (d.$type) {
    case "google.rpc.BadRequest":
      // A single violation is usually the message itself; print it only when it adds something.
      return d.fieldViolations
        .filter((v) => !(d.fieldViolations.length === 1 && message === `${v.field}: ${v.description}`))
        .map((v) => `  field ${v.field}: ${v.description}`);
    case "google.rpc.ErrorInfo": {
      const meta = Object.entries(d.metadata).map(([k, v]) => `${k}=${v}`);
      return [`  reason: ${d.reason}${d.domain ? ` (${d.domain})` : ""}${meta.length > 0 ? ` ${meta.join(" ")}` : ""}`];
    }
    case "google.rpc.PreconditionFailure":
      return d.violations.map((v) => `  precondition ${[v.type, v.subject].filter(Boolean).join(" ")}: ${v.description}`);
    case "google.rpc.QuotaFailure":
      return d.violations.map((v) => `  quota ${v.subject}: ${v.description}`);
    case "google.rpc.ResourceInfo":
      return [`  resource ${d.resourceType} ${d.resourceName}${d.owner ? ` (owner ${d.owner})` : ""}: ${d.description}`];
    case "google.rpc.RetryInfo":
      return d.retryDelay ? [`  retry after ${Number(d.retryDelay.seconds) + d.retryDelay.nanos / 1e9} s`] : [];
    case "google.rpc.Help":
      return d.links.map((l) => `  see ${l.description ? `${l.description}: ` : ""}${l.url}`);
    case "google.rpc.LocalizedMessage":
      return d.message && d.message !== message ? [`  ${d.message}`] : [];
    case "google.rpc.DebugInfo":
      return [`  debug: ${d.detail}`, ...d.stackEntries.map((s) => `    ${s}`)];
    case "google.rpc.RequestInfo":
      return [`  request ${d.requestId}${d.servingData ? `: ${d.servingData}` : ""}`];
    default:
      return [];
  }
}

function detailJson(d: Detail): Record<string, unknown> {
  const { $type, ...rest } = d;
  return { "@type": `type.googleapis.com/${$type}`, ...JSON.parse(JSON.stringify(rest, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))) };
}

/** UNAVAILABLE because nothing answers at the address (not because mfcd is shutting down). */
function isUnreachable(err: MfcError): boolean {
  return err.code === Status.UNAVAILABLE && /No connection established|ENOENT|ECONNREFUSED|EACCES|ENOTSOCK|connect /i.test(err.details);
}

/** grpc-js's "No connection established. Last error: Error: connect ENOENT /p. Resolution note: " → "connect ENOENT /p". */
function connectError(details: string): string {
  const m = /Last error: (?:Error: )?(.*?)\.?\s*(?:Resolution note:.*)?$/s.exec(details);
  return m?.[1] || details;
}

export function describeError(err: unknown, addr: string): ErrorReport {
  if (err instanceof MfcError) {
    const lines = [`${err.codeName}: ${err.details}`];
    if (isUnreachable(err)) {
      lines[0] = `cannot reach mfcd at ${addr}: ${connectError(err.details)}`;
      lines.push(
        /EACCES/.test(err.details)
          ? `  permission denied on the socket: run as root or as a member of the socket's group`
          : /SSL|certificate|TLS/i.test(err.details)
            ? `  the TLS handshake failed: check --tls-ca (the CA of mfcd's certificate) and, when mfcd ` +
              `requires client certificates (--tls-client-ca), --tls-cert/--tls-key`
            : `  is mfcd running (in this network namespace)? Point mfcctl at it with --addr unix:/path/to/mfcd.sock`,
      );
    } else if (err.code === Status.DEADLINE_EXCEEDED) {
      lines.push(`  mfcd at ${addr} did not answer in time`);
    }
    const details = detailsOf(err);
    for (const d of details) lines.push(...detailLines(d, err.details));
    if (err.reason === "ROUTE_EXISTS") lines.push(`  hint: "mfcctl add ... replace" switches the existing route in place`);
    return {
      lines,
      json: {
        error: {
          code: err.code,
          status: err.codeName,
          message: err.details,
          address: addr,
          details: details.map(detailJson),
        },
      },
    };
  }
  if (err instanceof ConfigFileError) {
    return {
      lines: [`${err.path}: not applied, the route file has ${err.problems.length} problem(s):`, ...err.message.split("\n").map((l) => `  ${l}`)],
      json: { error: { message: `invalid route file ${err.path}`, file: err.path, problems: err.problems } },
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { lines: message.split("\n"), json: { error: { message } } };
}

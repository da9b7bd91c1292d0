// The one place where domain and kernel errors become gRPC statuses with google.rpc details.

import { ServerError, Status } from "nice-grpc";
import type { ServerMiddleware } from "nice-grpc-common";
import { isAbortError } from "abort-controller-x";
import { BadRequest, ErrorInfo, RichServerError } from "nice-grpc-error-details";
import { DomainError, type DomainErrorKind, type FieldViolation } from "../../engine/domain-error.js";
import { KernelError, neededLinuxCapability, optionForSyscall } from "../../kernel/index.js";

export const ERROR_DOMAIN = "mfcd.v1";

const STATUS_OF_KIND: Record<DomainErrorKind, Status> = {
  "invalid-argument": Status.INVALID_ARGUMENT,
  "not-found": Status.NOT_FOUND,
  "already-exists": Status.ALREADY_EXISTS,
  "failed-precondition": Status.FAILED_PRECONDITION,
  "resource-exhausted": Status.RESOURCE_EXHAUSTED,
  unavailable: Status.UNAVAILABLE,
  internal: Status.INTERNAL,
};

/** errnos whose meaning a client can act on; everything else is INTERNAL. */
const STATUS_OF_ERRNO: Record<string, Status> = {
  ENFILE: Status.RESOURCE_EXHAUSTED,
  ENOBUFS: Status.RESOURCE_EXHAUSTED,
  ENOMEM: Status.RESOURCE_EXHAUSTED,
  EPERM: Status.PERMISSION_DENIED,
  EACCES: Status.PERMISSION_DENIED,
  // The kernel lacks the option (CONFIG_IP_MROUTE, …_MULTIPLE_TABLES, CONFIG_IPV6_MROUTE).
  ENOPROTOOPT: Status.FAILED_PRECONDITION,
  // Another multicast router (smcroute, pimd, another mfcd) owns the table, or a VIF slot.
  EADDRINUSE: Status.FAILED_PRECONDITION,
};

/** What the errno means for the client, added to the kernel's message ("" when nothing to add). */
export function explainKernelError(err: KernelError): string {
  switch (err.code) {
    case "ENOPROTOOPT": {
      const option = optionForSyscall(err.syscall);
      return option ? `this kernel was built without ${option}` : "this kernel lacks the option this needs";
    }
    case "EADDRINUSE":
      if (/MRT6?_INIT|MRT6?_TABLE/.test(err.syscall)) {
        return `another multicast router owns table ${err.table ?? 0} (smcroute, pimd, igmpproxy or another mfcd)`;
      }
      return "the kernel slot is taken (another multicast router's VIF or entry?)";
    case "EPERM":
    case "EACCES":
      return `mfcd lacks ${neededLinuxCapability(err.syscall)}: run it as root or grant the capability`;
    default:
      return "";
  }
}

/** ErrorInfo metadata of a kernel error: syscall, errno, and the option/table/capability when known. */
function kernelMetadata(err: KernelError): Record<string, string> {
  const metadata: Record<string, string> = { syscall: err.syscall, errno: String(err.errno) };
  if (err.table !== undefined) metadata.table = String(err.table);
  const option = err.code === "ENOPROTOOPT" ? optionForSyscall(err.syscall) : undefined;
  if (option) metadata.option = option;
  if (err.code === "EPERM" || err.code === "EACCES") metadata.capability = neededLinuxCapability(err.syscall);
  return metadata;
}

/**
 * Errors quote what the client sent ("\"1111…\" is not a dotted-quad"), and the status travels in
 * HTTP/2 trailers, which clients refuse above 64 KiB: the client would never see the error and
 * wait for its deadline. Long texts keep their start (the value) and end (the reason); the
 * violations stop at a byte budget (the message says how many more there were).
 */
const MAX_MESSAGE_CHARS = 1024;
const MAX_FIELD_CHARS = 128;
const MAX_DESCRIPTION_CHARS = 320;
const MAX_VIOLATION_BYTES = 16 * 1024;

/** `text` at most about `max` UTF-16 units, never splitting a surrogate pair. */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  const isLow = (i: number) => text.charCodeAt(i) >= 0xdc00 && text.charCodeAt(i) <= 0xdfff;
  let head = Math.floor(max / 3);
  if (isLow(head)) head--;
  let tail = text.length - (max - head);
  if (isLow(tail)) tail++;
  return `${text.slice(0, head)}…[${tail - head} characters left out]…${text.slice(tail)}`;
}

function boundedViolations(violations: FieldViolation[]): { kept: FieldViolation[]; left: number } {
  const kept: FieldViolation[] = [];
  let bytes = 0;
  for (const v of violations) {
    const clipped = { field: clipText(v.field, MAX_FIELD_CHARS), description: clipText(v.description, MAX_DESCRIPTION_CHARS) };
    bytes += Buffer.byteLength(clipped.field) + Buffer.byteLength(clipped.description);
    if (bytes > MAX_VIOLATION_BYTES && kept.length > 0) break;
    kept.push(clipped);
  }
  return { kept, left: violations.length - kept.length };
}

function domainServerError(err: DomainError): ServerError {
  const details = [];
  const { kept, left } = boundedViolations(err.violations);
  if (kept.length > 0) details.push(BadRequest.fromPartial({ fieldViolations: kept }));
  if (err.reason) {
    details.push(ErrorInfo.fromPartial({ reason: err.reason, domain: ERROR_DOMAIN, metadata: err.metadata }));
  }
  const more = left > 0 ? ` (and ${left} more problems not listed)` : "";
  return new RichServerError(STATUS_OF_KIND[err.kind], clipText(err.message, MAX_MESSAGE_CHARS) + more, details);
}

export function toServerError(err: unknown): ServerError {
  if (err instanceof ServerError) return err;
  if (err instanceof DomainError) return domainServerError(err);
  if (err instanceof KernelError) {
    const why = explainKernelError(err);
    return new RichServerError(
      STATUS_OF_ERRNO[err.code] ?? Status.INTERNAL,
      `kernel refused: ${err.message}${why ? `: ${why}` : ""}`,
      [ErrorInfo.fromPartial({ reason: `KERNEL_${err.code}`, domain: ERROR_DOMAIN, metadata: kernelMetadata(err) })],
    );
  }
  return new ServerError(Status.INTERNAL, `internal error: ${err instanceof Error ? err.message : String(err)}`);
}

/** Maps whatever a handler throws; client cancellation (AbortError) passes through untouched. */
export const errorMapperMiddleware: ServerMiddleware = async function* (call, context) {
  try {
    return yield* call.next(call.request, context);
  } catch (err) {
    if (isAbortError(err)) throw err;
    throw toServerError(err);
  }
};

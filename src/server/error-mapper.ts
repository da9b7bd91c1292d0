// The one place where domain and kernel errors become gRPC statuses with google.rpc details.

import { ServerError, Status } from "nice-grpc";
import type { ServerMiddleware } from "nice-grpc-common";
import { isAbortError } from "abort-controller-x";
import { BadRequest, ErrorInfo, RichServerError } from "nice-grpc-error-details";
import { DomainError, type DomainErrorKind } from "../engine/domain-error.js";
import { KernelError } from "../kernel/kernel-error.js";

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
};

export function toServerError(err: unknown): ServerError {
  if (err instanceof ServerError) return err;
  if (err instanceof DomainError) {
    const details = [];
    if (err.violations.length > 0) {
      details.push(BadRequest.fromPartial({ fieldViolations: err.violations }));
    }
    if (err.reason) {
      details.push(ErrorInfo.fromPartial({ reason: err.reason, domain: ERROR_DOMAIN, metadata: err.metadata }));
    }
    return new RichServerError(STATUS_OF_KIND[err.kind], err.message, details);
  }
  if (err instanceof KernelError) {
    return new RichServerError(STATUS_OF_ERRNO[err.code] ?? Status.INTERNAL, `kernel refused: ${err.message}`, [
      ErrorInfo.fromPartial({
        reason: `KERNEL_${err.code}`,
        domain: ERROR_DOMAIN,
        metadata: { syscall: err.syscall, errno: String(err.errno) },
      }),
    ]);
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

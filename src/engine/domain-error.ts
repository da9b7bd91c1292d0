// Errors the engine (and validation) raise for conditions a client can act on. The server maps
// each kind to one gRPC status in exactly one place (src/server/rpc/error-mapper.ts).

import type { FieldViolation } from "../shared/field-violation.js";

export type { FieldViolation };

export type DomainErrorKind =
  | "invalid-argument"
  | "not-found"
  | "already-exists"
  | "failed-precondition"
  | "resource-exhausted"
  | "unavailable"
  | "internal";

export interface DomainErrorOptions {
  violations?: FieldViolation[];
  /** Stable machine-readable reason (google.rpc.ErrorInfo.reason), e.g. "VIF_TABLE_FULL". */
  reason?: string;
  metadata?: Record<string, string>;
  cause?: unknown;
}

/** The reason of every field-validation error (the fields name what is wrong). */
export const INVALID_FIELD = "INVALID_FIELD";

export class DomainError extends Error {
  override readonly name = "DomainError";
  readonly violations: FieldViolation[];
  readonly reason: string | undefined;
  readonly metadata: Record<string, string>;

  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    options: DomainErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.violations = options.violations ?? [];
    this.reason = options.reason;
    this.metadata = options.metadata ?? {};
  }

  static invalid(violations: FieldViolation[]): DomainError {
    const message = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
    return new DomainError("invalid-argument", message, { violations, reason: INVALID_FIELD });
  }
}

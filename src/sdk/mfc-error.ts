// The one error type SDK users catch: gRPC status plus the decoded google.rpc details.

import { ClientError, Status } from "nice-grpc-common";
import { BadRequest, ErrorInfo, RichClientError } from "nice-grpc-error-details";

export { Status };

export interface MfcFieldViolation {
  field: string;
  description: string;
}

export class MfcError extends Error {
  override readonly name = "MfcError";
  /** Numeric gRPC status. */
  readonly code: Status;
  /** Status name, e.g. "INVALID_ARGUMENT". */
  readonly codeName: string;
  /** The server's message. */
  readonly details: string;
  /** Full method path, e.g. "/mfc.v1.MfcService/AddRoute". */
  readonly path: string;
  /** google.rpc.BadRequest field violations (empty unless INVALID_ARGUMENT). */
  readonly fieldViolations: MfcFieldViolation[];
  /** google.rpc.ErrorInfo reason, e.g. "VIF_TABLE_FULL". */
  readonly reason: string | undefined;
  readonly metadata: Record<string, string>;

  constructor(error: ClientError) {
    super(`${Status[error.code]}: ${error.details}`, { cause: error });
    this.code = error.code;
    this.codeName = Status[error.code] ?? String(error.code);
    this.details = error.details;
    this.path = error.path;
    const extra = error instanceof RichClientError ? error.extra : [];
    this.fieldViolations = extra
      .filter((d): d is BadRequest => d.$type === BadRequest.$type)
      .flatMap((d) => d.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
    const info = extra.find((d): d is ErrorInfo => d.$type === ErrorInfo.$type);
    this.reason = info?.reason;
    this.metadata = info?.metadata ?? {};
  }
}

// The unit every validator reports in: one bad field, named by its proto path, so the daemon's
// gRPC errors, the config file's line-numbered problems and mfcctl's messages all say the same.

/** One bad request field, reported as a google.rpc.BadRequest field violation. */
export interface FieldViolation {
  /** Proto field path, e.g. "route.oifs[2]". */
  field: string;
  description: string;
}

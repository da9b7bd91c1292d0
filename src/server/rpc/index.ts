// The gRPC side, which main.ts imports dynamically (nothing it imports statically may load
// @grpc/grpc-js): the servers (health, reflection, TLS credentials, graceful shutdown, the
// per-RPC log and metrics observer, the one error mapper) and the MfcService handlers.
export { MfcdServer, type MfcdServerOptions } from "./mfcd-server.js";
export { applyAndStore, createMfcService, type Diagnostics } from "./mfc-service.js";

// Public SDK surface. Only generated types (and the response messages' codecs, for proto JSON) and
// nice-grpc status codes — nothing from the kernel.
export { createMfcClient, normalizeTarget, type MfcClient, type MfcClientOptions, type MfcCallOptions } from "./create-mfc-client.js";
export { MfcError, Status, type MfcFieldViolation } from "./mfc-error.js";
export {
  RouteState,
  AddRouteResponse,
  ApplyRoutesResponse,
  DiagnoseResponse,
  GetInfoResponse,
  ListRoutesResponse,
  TraceResponse,
  WatchStatsResponse,
  type Route,
  type RouteStatus,
  type Counters,
  type VifStatus,
  type RouteStats,
  type KernelCapability,
  type OwnedTable,
} from "../gen/mfc.js";

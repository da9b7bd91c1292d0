// Public SDK surface. Only generated types and nice-grpc status codes — nothing from the kernel.
export { createMfcClient, normalizeTarget, type MfcClient, type MfcClientOptions, type MfcCallOptions } from "./create-mfc-client.js";
export { MfcError, Status, type MfcFieldViolation } from "./mfc-error.js";
export {
  RouteState,
  type Route,
  type RouteStatus,
  type Counters,
  type VifStatus,
  type RouteStats,
  type WatchStatsResponse,
  type ListRoutesResponse,
  type GetInfoResponse,
  type KernelCapability,
  type OwnedTable,
} from "../gen/mfc.js";

// Engine views → proto messages, and the large replies (ListRoutes, WatchStats) written field by
// field in one pass over the engine's routes, with WatchStats' stream and rates.
export { toRoute, toRouteStatus, toTimestamp } from "./proto-views.js";
export { WireReply } from "./wire-reply.js";
export { listRoutesReply } from "./list-routes-reply.js";
export { watchStats } from "./watch-stats.js";

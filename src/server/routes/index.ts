// Routes at the edge: request validation (the shared validator behind the RPCs, one
// INVALID_ARGUMENT) and engine routes ↔ state-file routes.
export {
  CONFIG_OWNER,
  validateFilterAddress,
  validateGroup,
  validateInterfaceName,
  validateOwner,
  validateRoute,
  validateRouteKey,
  validateRoutes,
  validateSource,
} from "./validate-route.js";
export { fromStoredRoute, toStoredRoute } from "./stored-routes.js";

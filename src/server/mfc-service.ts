// MfcService handlers: validate, call the engine, convert. Errors are mapped by middleware.

import type { CallContext } from "nice-grpc-common";
import type { RouteEngine } from "../engine/route-engine.js";
import type { MfcServiceImplementation } from "../gen/mfc.js";
import { toRouteStatus, toVifStatus } from "./proto-views.js";
import { validateRoute, validateRouteKey } from "./validate-route.js";
import { watchStats } from "./watch-stats.js";

export function createMfcService(engine: RouteEngine): MfcServiceImplementation {
  return {
    async addRoute(request) {
      const spec = validateRoute(request.route);
      return { route: toRouteStatus(engine.add(spec, { replace: request.replace })) };
    },
    async delRoute(request) {
      engine.delete(validateRouteKey(request.source, request.group));
      return {};
    },
    async listRoutes() {
      const { routes, vifs } = engine.list();
      return { routes: routes.map(toRouteStatus), vifs: vifs.map(toVifStatus) };
    },
    watchStats(request, context: CallContext) {
      return watchStats(engine, request, context.signal);
    },
  };
}

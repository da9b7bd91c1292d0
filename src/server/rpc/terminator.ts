// Graceful shutdown for live calls. grpc-js's tryShutdown waits for every call to finish, and a
// WatchStats stream never finishes by itself; nice-grpc's terminator middleware is not on the
// registry, so this is ours: on terminate(), every running handler's signal aborts and the call
// ends with UNAVAILABLE (clients then retry against the next instance).

import { ServerError, Status } from "nice-grpc";
import type { CallContext, ServerMiddleware } from "nice-grpc-common";

export interface Terminator {
  middleware: ServerMiddleware;
  terminate(): void;
  readonly activeCalls: number;
}

export function createTerminator(): Terminator {
  const controllers = new Set<AbortController>();
  let terminating = false;

  const middleware: ServerMiddleware = async function* (call, context) {
    if (terminating) throw new ServerError(Status.UNAVAILABLE, "mfcd is shutting down");
    // Unary calls end by themselves (grpc-js shutdown waits for them); only streams need an
    // abort handle, and skipping it keeps an AbortController off every AddRoute.
    if (!call.method.responseStream) return yield* call.next(call.request, context);
    const controller = new AbortController();
    const forward = () => controller.abort();
    context.signal.addEventListener("abort", forward);
    controllers.add(controller);
    const inner: CallContext = { ...context, signal: controller.signal };
    try {
      return yield* call.next(call.request, inner);
    } catch (err) {
      if (terminating && controller.signal.aborted && !context.signal.aborted) {
        throw new ServerError(Status.UNAVAILABLE, "mfcd is shutting down");
      }
      throw err;
    } finally {
      controllers.delete(controller);
      context.signal.removeEventListener("abort", forward);
    }
  };

  return {
    middleware,
    terminate() {
      terminating = true;
      for (const controller of controllers) controller.abort();
    },
    get activeCalls() {
      return controllers.size;
    },
  };
}

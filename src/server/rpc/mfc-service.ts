// MfcService handlers: validate, call the engine, persist, convert. Errors are mapped by
// middleware. Every mutation is durable before its RPC answers OK.

import fs from "node:fs";
import type { CallContext } from "nice-grpc-common";
import { DomainError } from "../../engine/domain-error.js";
import type { RouteEngine, RouteSpec } from "../../engine/route-engine.js";
import { listRoutesReply, toRoute, toRouteStatus, watchStats } from "../wire/index.js";
import type { MfcWireServiceImplementation } from "./mfc-service-definition.js";
import type { RouteStore } from "../../state/route-store.js";
import { toStoredRoute, validateOwner, validateRoute, validateRouteKey, validateRoutes } from "../routes/index.js";
import { diagnose, type FlowProbes, traceFlow, type TraceStarter } from "../diagnostics/index.js";
import { type RescueSync, nftUnavailable } from "../nft/index.js";
import type { DaemonInfoSource } from "../config/index.js";
import { getInfoReply } from "./get-info.js";
import { crashPoint } from "./crash-point.js";

/** Kernel probes and tracing for Diagnose/Trace; absent in unit tests with a fake kernel. */
export interface Diagnostics {
  probes?: FlowProbes;
  trace?: TraceStarter;
  /** nftables programming of the routes' rescue options. */
  rescue?: RescueSync;
  /** Is this an address of this host (a rewrite to it would be dropped as martian)? */
  isLocalAddress?: (address: string) => boolean;
}

/** The state file is written before a mutation is acknowledged; a failed write says so. */
async function flushDurably(store: RouteStore): Promise<void> {
  try {
    await store.flush();
  } catch (err) {
    throw new DomainError(
      "unavailable",
      `the change is in effect but could not be saved to the state file (it will be retried): ` +
        `${err instanceof Error ? err.message : String(err)}`,
      { reason: "STATE_WRITE_FAILED", cause: err },
    );
  }
}

/** Rescue options need nft, and a rewrite to a local address would be dropped as martian. */
function checkRescueOptions(diagnostics: Diagnostics, specs: RouteSpec[], field: (i: number) => string): void {
  const { rescue } = diagnostics;
  rescue?.check(specs);
  if (!rescue && specs.some((s) => s.rewriteSource !== undefined || s.setTtl !== undefined)) {
    throw nftUnavailable("rescue options need nftables", "this mfcd does not manage nftables");
  }
  const local = diagnostics.isLocalAddress;
  if (!local) return;
  const violations = specs.flatMap((s, i) =>
    s.rewriteSource !== undefined && local(s.rewriteSource)
      ? [
          {
            field: `${field(i)}.rewrite_source`,
            description:
              `${s.rewriteSource} is an address of this host: the kernel drops packets arriving with a ` +
              `local source as martians; use an on-link address that no host here owns`,
          },
        ]
      : [],
  );
  if (violations.length > 0) throw DomainError.invalid(violations);
}

/** What a Stop request asks for (the daemon's lifecycle does it once the answer is sent). */
export type StopHandler = (how: { keepForwarding: boolean; upgrade: boolean }) => void;

function stopHandler(onStop: StopHandler | undefined) {
  return async (request: { keepForwarding: boolean; upgrade: boolean }): Promise<Record<string, never>> => {
    if (!onStop) throw new DomainError("unavailable", "Stop is not available in this mfcd");
    if (request.upgrade) checkEntryPoint();
    // Once this answer is on its way: the shutdown then stops the server it travels through.
    setImmediate(() => onStop({ keepForwarding: request.keepForwarding, upgrade: request.upgrade }));
    return {};
  };
}

/** An upgrade re-executes the entry point: refuse before stopping anything when it cannot be read. */
function checkEntryPoint(): void {
  const main = process.argv[1];
  try {
    if (main === undefined) throw new Error("no entry point");
    fs.accessSync(main, fs.constants.R_OK);
  } catch (err) {
    throw new DomainError("failed-precondition", `upgrade: mfcd's entry point ${main ?? "(none)"} cannot be read (${err instanceof Error ? err.message : String(err)}); nothing was stopped`);
  }
}

export function createMfcService(
  engine: RouteEngine,
  store: RouteStore,
  diagnostics: Diagnostics = {},
  info?: DaemonInfoSource,
  onStop?: StopHandler,
): MfcWireServiceImplementation {
  const { rescue } = diagnostics;
  const checkRescue = (specs: RouteSpec[], field: (i: number) => string) => checkRescueOptions(diagnostics, specs, field);
  // The nft table is rewritten only when rescue rules exist or are being added (O(routes)).
  const settle = async (specs: RouteSpec[]): Promise<void> => {
    await Promise.all([flushDurably(store), rescue?.relevant(specs) ? rescue.sync() : undefined]);
  };
  return {
    async addRoute(request) {
      const spec = validateRoute(request.route);
      const owner = validateOwner(request.owner);
      checkRescue([spec], () => "route");
      const view = engine.add(spec, {
        replace: request.replace,
        owner,
        requireInterfaces: request.requireInterfaces,
      });
      crashPoint("add-route:kernel-written");
      store.put(toStoredRoute(view.spec, view.owner));
      await settle([view.spec]);
      return { route: toRouteStatus(view) };
    },
    async delRoute(request) {
      const key = validateRouteKey(request.source, request.group, request.table, request.iif);
      const removed = engine.delete(key);
      crashPoint("del-route:kernel-written");
      // The removed route's own key: a template deleted without its iif is stored with it.
      store.delete(removed.spec);
      await settle([removed.spec]);
      return {};
    },
    async listRoutes() {
      return listRoutesReply(engine);
    },
    watchStats(request, context: CallContext) {
      return watchStats(engine, request, context.signal);
    },
    async diagnose(request, context: CallContext) {
      if (!diagnostics.probes) {
        throw new DomainError("unavailable", "Diagnose is not available in this mfcd (no kernel probes)");
      }
      return diagnose(engine, diagnostics.probes, request, context.signal);
    },
    trace(request, context: CallContext) {
      return traceFlow(engine, diagnostics.trace, request, context.signal);
    },
    stop: stopHandler(onStop),
    async getInfo() {
      if (!info) throw new DomainError("unavailable", "GetInfo is not available in this mfcd (no daemon information)");
      return getInfoReply(info);
    },
    async applyRoutes(request) {
      const owner = validateOwner(request.owner);
      const specs = validateRoutes(request.routes);
      checkRescue(specs, (i) => `routes[${i}]`);
      const result = applyAndStore(engine, store, owner, specs, {
        dryRun: request.dryRun,
        allowEmpty: request.allowEmpty,
        requireInterfaces: request.requireInterfaces,
      });
      if (!result.dryRun) await settle(specs);
      return {
        added: result.added.length,
        removed: result.removed.length,
        replaced: result.replaced.length,
        unchanged: result.unchanged.length,
        addedRoutes: result.added.map(toRoute),
        removedRoutes: result.removed.map(toRoute),
        replacedRoutes: result.replaced.map(toRoute),
        unchangedRoutes: request.listUnchanged ? result.unchanged.map(toRoute) : [],
        dryRun: result.dryRun,
      };
    },
  };
}

/** engine.apply + the matching state records (shared by ApplyRoutes and the config file). */
export function applyAndStore(
  engine: RouteEngine,
  store: RouteStore,
  owner: string,
  specs: RouteSpec[],
  options: { dryRun?: boolean; allowEmpty?: boolean; requireInterfaces?: boolean },
): ReturnType<RouteEngine["apply"]> {
  const result = engine.apply(owner, specs, options);
  if (!result.dryRun) {
    crashPoint("apply-routes:kernel-written");
    for (const spec of result.removed) store.delete(spec);
    for (const spec of [...result.added, ...result.replaced]) store.put(toStoredRoute(spec, owner));
  }
  return result;
}


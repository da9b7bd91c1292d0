// The route engine's vocabulary as its callers see it: what a client asks for (RouteSpec), what
// the engine reports (RouteView, VifView, ForeignView, stats) and the options of its operations.

import type { KernelPort, SgCounters, VifCounters } from "./kernel-port.js";
import type { RouteFields } from "../shared/route-fields.js";
import type { ValidRoute } from "../shared/route-validation.js";
import type { KernelSupport } from "./kernel-support.js";
import type { AddressFamily } from "./route-key.js";

/** A route as the client asked for it: what the one Route validator (src/shared) returns. */
export type RouteSpec = ValidRoute;

/** The source the kernel entry is keyed on (the rewritten one, if any). */
export function kernelSource(spec: RouteSpec): string {
  return spec.rewriteSource ?? spec.source;
}

export type RouteState = "installed" | "pending" | "drifted";

export const DEFAULT_OWNER = "api";
export const DEFAULT_MAX_ROUTES = 100_000;

export interface RouteView {
  /**
   * The route's own spec. The engine never mutates a spec once stored: a change replaces the
   * object (the server caches each route's encoding by this identity).
   */
  spec: RouteSpec;
  owner: string;
  state: RouteState;
  /** Why the route is not (fully) installed as asked; empty when it is. */
  reason: string;
  counters: SgCounters;
  /** Named interfaces that do not exist now. */
  missing: string[];
  /** Named interfaces that exist but are down or without carrier. */
  down: string[];
  driftRepairs: number;
  lastDrift: string;
  /** Kernel entry learned from a template (on a NOCACHE upcall); `template` names it. */
  learned?: boolean;
  /** Entry without oifs for traffic no template matches (the kernel stops asking; still counted). */
  stopFilter?: boolean;
  template?: string;
}

/** A NOCACHE / WRONGVIF upcall from the kernel. */
export interface UpcallEvent {
  family: AddressFamily;
  table: number;
  type: "nocache" | "wrongvif";
  vif: number;
  source: string;
  group: string;
}

export interface VifView {
  family: AddressFamily;
  table: number;
  vif: number;
  name: string;
  ifindex: number;
  refs: number;
  counters: VifCounters;
  up: boolean;
  running: boolean;
}

export interface RouteStatsView {
  spec: RouteSpec;
  /** undefined when the kernel has no entry for the route. */
  counters: SgCounters | undefined;
}

export interface StatsFilter {
  source?: string;
  group?: string;
}

/** Link state as rtnetlink reports it (structurally the kernel layer's LinkInfo). */
export interface LinkState {
  ifindex: number;
  name: string;
  up: boolean;
  running: boolean;
}

/** A kernel entry in one of our tables that no route of ours explains. */
export interface ForeignView extends RouteFields {
  counters: SgCounters;
}

export interface AddOptions {
  replace?: boolean;
  owner?: string;
  /** Refuse instead of accepting a PENDING route when an interface is missing. */
  requireInterfaces?: boolean;
}

export interface ApplyOptions {
  dryRun?: boolean;
  allowEmpty?: boolean;
  requireInterfaces?: boolean;
}

export interface ApplyResult {
  added: RouteSpec[];
  removed: RouteSpec[];
  replaced: RouteSpec[];
  unchanged: RouteSpec[];
  dryRun: boolean;
}

export interface StoredRouteRecord {
  spec: RouteSpec;
  owner: string;
}

export interface RouteEngineOptions {
  maxRoutes?: number;
  /** Wall clock for drift timestamps (tests pin it). */
  now?: () => Date;
  /**
   * Which (family, table)s this kernel cannot serve (e.g. IPv6 without CONFIG_IPV6_MROUTE):
   * clients' routes there are refused (FAILED_PRECONDITION naming the option), restored ones
   * stay PENDING with that reason. Default: every table can be opened.
   */
  kernelSupport?: KernelSupport;
  /**
   * Interface name → ifindex in mfcd's namespace, for checks and dry runs on a table mfcd has
   * not opened. Default: through any open table (names are namespace-wide), else by opening
   * the table the request names.
   */
  ifindex?: (name: string) => number | undefined;
  /** A learned entry (or stop filter) the kernel refused: the caller logs it. */
  onLearnFailure?: (failure: LearnFailure) => void;
}

/** A learned entry or stop filter that could not be installed (onUpcall answered "failed"). */
export interface LearnFailure {
  family: AddressFamily;
  table: number;
  source: string;
  group: string;
  /** The template it was learned from, "(S, G) from IIF"; undefined for a stop filter. */
  template: string | undefined;
  error: string;
}

/** Opens (or returns the already open) kernel table for a family and table id. */
export type TableOpener = (family: AddressFamily, table: number) => KernelPort;

/** What RouteEngine.restore() did. */
export interface RestoreResult {
  /** Routes whose kernel entry (or a template's VIFs) is in place. */
  installed: number;
  /** Routes waiting (an interface missing, a table unavailable…). */
  pending: number;
  /** Entries a previous mfcd left exactly as needed: kept without a write, counters continuing. */
  adopted: number;
  /** Entries a previous mfcd left that no restored route claimed: removed. */
  removedLeftovers: number;
}

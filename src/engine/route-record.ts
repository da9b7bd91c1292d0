// A route as the engine stores it: the client's spec and owner, plus what was written to the
// kernel for it (or why nothing was), and the pure comparisons realize() decides with.

import { copyRouteFields } from "../shared/route-fields.js";
import { routeKeyString } from "./route-key.js";
import type { RouteSpec } from "./route-types.js";

export const NONE: string[] = [];
export const NO_VIFS: number[] = [];

/** Kernel semantics: forward on an oif when the packet's TTL > threshold; 1 = any TTL ≥ 2. */
export const DEFAULT_TTL_THRESHOLD = 1;

export interface KernelEntry {
  /** The source the entry was written with (a rescue rewrite changes it). */
  source: string;
  iifVif: number;
  oifVifs: number[];
  /** TTL threshold of each oif, aligned with oifVifs. */
  ttls: number[];
}

export interface Route {
  id: string;
  spec: RouteSpec;
  owner: string;
  /** The entry we wrote to the kernel; undefined: none (PENDING). */
  kernel: KernelEntry | undefined;
  /** Names that did not resolve at the last realize. */
  missing: string[];
  /** Why the last background realize or repair failed ("" = it did not). */
  error: string;
  driftRepairs: number;
  lastDrift: string;
  /** Templates only: the VIFs the template holds (iif first) so upcalls can arrive; undefined = pending. */
  templateVifs?: { iifVif: number; oifVifs: number[]; ttls: number[] };
}

export function newRoute(id: string, spec: RouteSpec, owner: string): Route {
  return {
    id,
    spec: copySpec(spec),
    owner,
    kernel: undefined,
    missing: [],
    error: "",
    driftRepairs: 0,
    lastDrift: "",
  };
}

export function pendingReason(route: Route): string {
  const { spec, missing } = route;
  if (missing.includes(spec.iif)) return `waiting for iif ${spec.iif}: it does not exist`;
  return `waiting for an oif: ${missing.join(", ")} ${missing.length === 1 ? "does" : "do"} not exist`;
}

export function usesVif(entry: { iifVif: number; oifVifs: number[] }, vif: number): boolean {
  return entry.iifVif === vif || entry.oifVifs.includes(vif);
}

export function sameEntry(a: KernelEntry, b: KernelEntry): boolean {
  if (a.source !== b.source || a.iifVif !== b.iifVif || a.oifVifs.length !== b.oifVifs.length) return false;
  const ttlOf = new Map(a.oifVifs.map((v, i) => [v, a.ttls[i]]));
  return b.oifVifs.every((v, i) => ttlOf.get(v) === b.ttls[i]);
}

export function ttlMap(entry: KernelEntry): Map<number, number> {
  return new Map(entry.oifVifs.map((vif, i) => [vif, entry.ttls[i] ?? DEFAULT_TTL_THRESHOLD]));
}

export function sameForwarding(a: RouteSpec, b: RouteSpec): boolean {
  if (a.iif !== b.iif || a.oifs.length !== b.oifs.length) return false;
  if (a.rewriteSource !== b.rewriteSource || a.setTtl !== b.setTtl) return false;
  if (!sameTtls(a.oifTtl, b.oifTtl)) return false;
  const oifs = new Set(a.oifs);
  return b.oifs.every((oif) => oifs.has(oif));
}

export function sameTtls(a: Record<string, number> | undefined, b: Record<string, number> | undefined): boolean {
  const ka = a ? Object.keys(a) : [];
  const kb = b ? Object.keys(b) : [];
  return ka.length === kb.length && ka.every((k) => b?.[k] === a?.[k]);
}

export function copySpec(spec: RouteSpec): RouteSpec {
  const copy: RouteSpec = copyRouteFields(spec);
  if (spec.rewriteSource !== undefined) copy.rewriteSource = spec.rewriteSource;
  if (spec.setTtl !== undefined) copy.setTtl = spec.setTtl;
  if (spec.oifTtl !== undefined && Object.keys(spec.oifTtl).length > 0) copy.oifTtl = { ...spec.oifTtl };
  return copy;
}

export function kernelKeyString(spec: RouteSpec): string {
  return spec.rewriteSource === undefined
    ? routeKeyString(spec)
    : routeKeyString({ family: spec.family, table: spec.table, source: spec.rewriteSource, group: spec.group });
}

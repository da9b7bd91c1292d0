// Kernel entries mfcd writes on its own: (S,G) entries learned from a template on a NOCACHE
// upcall, and stop filters (no oifs) for flows no template matches.

import { parsePattern, patternContains } from "../address/index.js";
import type { KernelTable } from "./kernel-table.js";
import type { Route } from "./route-record.js";
import type { RouteSpec } from "./route-types.js";

/** A kernel entry mfcd wrote for a template match (learned) or as a stop filter (no oifs). */
export interface Learned {
  key: string;
  table: KernelTable;
  source: string;
  group: string;
  template: Route | undefined;
  iifVif: number;
  oifVifs: number[];
  ttls: number[];
  /** Packets that arrived on the iif (kernel pkt_cnt minus wrong_if) at the last sweep. */
  lastPackets: bigint;
  lastWrongIf: bigint;
  idleSince: number;
  /** The entry as a spec, built once (WatchStats caches encodings and rates per spec object). */
  spec?: RouteSpec;
}

/** Does an installed template route allow (S,G) arriving on `vif`? */
export function templateMatches(route: Route, vif: number, source: string, group: string): boolean {
  if (route.templateVifs?.iifVif !== vif) return false;
  const { family } = route.spec;
  const sp = parsePattern(family, route.spec.source);
  const gp = parsePattern(family, route.spec.group);
  return !!sp && !!gp && patternContains(family, sp, source) && patternContains(family, gp, group);
}

/** "(S, G) from IIF" of the template an entry was learned from; undefined for a stop filter. */
export function templateTextOf(l: Learned): string | undefined {
  return l.template && templateText(l.template.spec);
}

export function templateText(t: RouteSpec): string {
  return `(${t.source || "*"}, ${t.group}) from ${t.iif}`;
}

// Diagnose: gather kernel evidence about one flow over a window (counters before/after, upcalls,
// rp_filter, the route back to the source, link flags, an nft TTL probe) and judge it with the
// pure diagnoseFlow(). The probes are injected so the server stays free of kernel details.

import { delay } from "abort-controller-x";
import { diagnoseFlow, renderFindings, type Finding, type FlowEvidence, type LinkEvidence } from "../../engine/diagnose-flow.js";
import { DomainError, type FieldViolation } from "../../engine/domain-error.js";
import { isTemplateKey, parsePattern, patternContains } from "../../address/index.js";
import type { RouteKey } from "../../engine/route-key.js";
import type { RouteEngine, RouteView, VifView } from "../../engine/route-engine.js";
import { MAX_VIFS } from "../../engine/vif-table.js";
import type { DiagnoseRequest, DiagnoseResponse } from "../../gen/mfc.js";
import { Severity } from "../../gen/mfc.js";
import { RT_TABLE_DEFAULT } from "../../kernel/index.js";
import { toTimestamp } from "../wire/index.js";
import { validateGroup, validateInterfaceName, validateSource } from "../routes/index.js";

export interface FlowProbes {
  /** Links of mfcd's namespace. */
  links(): { name: string; ifindex: number; up: boolean; running: boolean; multicast: boolean }[];
  /** rp_filter of an interface: conf.all, conf.<iif>, effective = max. */
  rpFilter(iif: string): { all: number; iface: number; effective: number } | undefined;
  /** The kernel's route lookup back to `source`, judged for arrival on `iif`. */
  reversePath(source: string, iif: string): { strictOk: boolean; looseOk: boolean; detail: string } | undefined;
  /** TcpExtIPReversePathFilter now. */
  rpFilterDrops(): number;
  /** Upcalls for (S,G) in IPv4 table `table` since `sinceMs` (Date.now() clock), by VIF index of that table. */
  upcalls(
    source: string,
    group: string,
    sinceMs: number,
    table: number,
  ): { nocache: { vif: number; count: number }[]; wrongvif: { vif: number; count: number }[] };
  /** nft counters on the iif for this flow split by TTL; a string says why it cannot run. */
  ttlProbe(
    flow: { iif: string; source: string; group: string },
    windowMs: number,
    signal: AbortSignal,
  ): Promise<{ le1: number; gt1: number }> | string;
  /**
   * Whether another process holds MRT_INIT on IPv4 table `table` (mfcd does not): the kernel's
   * answer as text, or undefined when nobody owns it. Must not keep the table.
   */
  tableOwner(table: number): string | undefined;
}

export const DEFAULT_WINDOW_MS = 2000;

/**
 * The kernel sends ONE NOCACHE upcall per unresolved (S,G), then queues silently until that
 * unresolved entry expires (ipmr: 10 s): a stream already running when the window opened had its
 * upcall before it. Without a route, NOCACHE upcalls are therefore looked for this far back.
 */
export const UNRESOLVED_LIFETIME_MS = 10_000;

const SEVERITY: Record<Finding["severity"], Severity> = {
  info: Severity.SEVERITY_INFO,
  warning: Severity.SEVERITY_WARNING,
  error: Severity.SEVERITY_ERROR,
};

export async function diagnose(
  engine: RouteEngine,
  probes: FlowProbes,
  request: DiagnoseRequest,
  signal: AbortSignal,
): Promise<DiagnoseResponse> {
  const windowMs = validateDiagnose(request);

  const key = { family: "ipv4" as const, table: request.table, source: request.source, group: request.group };
  // A query never claims a table (issue 11): for one mfcd does not hold, only ask whether
  // another router does.
  const missing = engine.unavailableTable("ipv4", request.table);
  if (missing) throw missing; // a kernel option: refused before probing anything
  // mfcd holds the IPv4 default table from its start on (table-sockets.ts), others once used.
  const own = request.table === 0 || request.table === RT_TABLE_DEFAULT || engine.holdsTable("ipv4", request.table);
  const owner = own ? undefined : probes.tableOwner(request.table);
  if (owner !== undefined) return response(request, windowMs, "", diagnoseFlow(ownedByOther(request, windowMs, owner)));
  const before = engine.flowSnapshot(key);
  const beforeServed = before.route ? { route: before.route } : templateServing(engine, key, request.iif);
  const iif = request.iif || beforeServed.route?.spec.iif || beforeServed.stopFilter?.spec.iif;
  const sinceMs = Date.now();
  const dropsBefore = probes.rpFilterDrops();
  const probe = iif
    ? probes.ttlProbe({ iif, source: before.route?.spec.source ?? request.source, group: request.group }, windowMs, signal)
    : "no iif known for the flow";
  const ttlPromise = typeof probe === "string" ? undefined : probe.catch((err: unknown) => String(err));
  await delay(signal, windowMs);
  const ttlResult: { le1: number; gt1: number } | string = ttlPromise ? await ttlPromise : (probe as string);
  const after = engine.flowSnapshot(key);
  const drops = probes.rpFilterDrops() - dropsBefore;
  // Without an explicit route, the flow may still be served by a template (learned entry), or
  // be counted by mfcd's own stop filter: neither is "no route", nor another router's entry.
  const served = after.route ? { route: after.route } : templateServing(engine, key, iif ?? "");
  const route = served.route;
  const upcalls = probes.upcalls(request.source, request.group, sinceMs, request.table);
  const nocache = route
    ? upcalls.nocache
    : probes.upcalls(request.source, request.group, sinceMs - UNRESOLVED_LIFETIME_MS, request.table).nocache;
  const vifName = (vif: number) => after.vifs.find((v) => v.vif === vif)?.name ?? `vif ${vif}`;
  const names = route ? [route.spec.iif, ...route.spec.oifs] : iif ? [iif] : [];
  if (iif && !names.includes(iif)) names.unshift(iif);
  const links = linkEvidence(probes, names);
  const outDelta = (name: string) => {
    const a = findVif(after.vifs, name);
    const b = findVif(before.vifs, name);
    return a && b ? Number(a.counters.outPackets - b.counters.outPackets) : 0;
  };

  const evidence: FlowEvidence = {
    source: request.source,
    group: request.group,
    iif,
    windowMs,
    route: route && {
      state: route.state,
      reason: route.reason,
      iif: route.spec.iif,
      oifs: route.spec.oifs,
      missing: route.missing,
      ...(served.template === undefined ? {} : { template: served.template }),
    },
    ...(served.stopFilter ? { stopFilter: { iif: served.stopFilter.spec.iif } } : {}),
    links,
    rpFilter: iif ? probes.rpFilter(iif) : undefined,
    reversePath: iif ? probes.reversePath(request.source, iif) : undefined,
    rpFilterDrops: drops,
    mfc: {
      present: after.mfc !== undefined,
      packets: after.mfc && before.mfc ? Number(after.mfc.packets - before.mfc.packets) : Number(after.mfc?.packets ?? 0n),
      wrongIf: after.mfc && before.mfc ? Number(after.mfc.wrongIf - before.mfc.wrongIf) : 0,
    },
    oifOut: (route?.spec.oifs ?? []).map((name) => ({ name, packets: outDelta(name) })),
    upcalls: {
      nocache: nocache.map((u) => ({ iif: vifName(u.vif), count: u.count })),
      wrongvif: upcalls.wrongvif.map((u) => ({ iif: vifName(u.vif), count: u.count })),
    },
    ttl: typeof ttlResult === "string" ? undefined : ttlResult,
    ttlUnavailable: typeof ttlResult === "string" ? ttlResult : undefined,
    foreignEntry: after.foreign && !served.learned && !served.stopFilter,
    vifs: { used: after.vifsUsed, limit: MAX_VIFS },
  };
  return response(request, windowMs, iif ?? "", diagnoseFlow(evidence));
}

function response(request: DiagnoseRequest, windowMs: number, iif: string, findings: Finding[]): DiagnoseResponse {
  return {
    source: request.source,
    group: request.group,
    iif,
    windowMs,
    time: toTimestamp(Date.now()),
    findings: findings.map((f) => ({
      code: f.code,
      severity: SEVERITY[f.severity],
      explanation: f.explanation,
      evidence: f.evidence.map(([name, value]) => ({ name, value })),
      fix: f.fix,
    })),
    text: renderFindings({ source: request.source, group: request.group, iif: iif || undefined }, findings),
  };
}

/** The request's field violations as one INVALID_ARGUMENT; the window to use. */
function validateDiagnose(request: DiagnoseRequest): number {
  const violations: FieldViolation[] = [];
  validateSource(request.source, "source", violations);
  validateGroup(request.group, "group", violations, { allowLinkLocal: true });
  if (request.iif) validateInterfaceName(request.iif, "iif", violations);
  const windowMs = request.windowMs === 0 ? DEFAULT_WINDOW_MS : request.windowMs;
  if (windowMs < 100 || windowMs > 30_000) {
    violations.push({ field: "window_ms", description: `${windowMs} ms: the window must be 100..30000 ms` });
  }
  if (violations.length > 0) throw DomainError.invalid(violations);
  return windowMs;
}

/** The flags of the flow's interfaces; a missing one is reported as such. */
function linkEvidence(probes: FlowProbes, names: string[]): LinkEvidence[] {
  const linkList = probes.links();
  return names.map((name) => {
    const l = linkList.find((x) => x.name === name);
    return l
      ? { name, exists: true, up: l.up, running: l.running, multicast: l.multicast }
      : { name, exists: false, up: false, running: false, multicast: false };
  });
}

function ownedByOther(request: DiagnoseRequest, windowMs: number, detail: string): FlowEvidence {
  return {
    tableOwnedByOther: { table: request.table, detail },
    source: request.source,
    group: request.group,
    iif: request.iif || undefined,
    windowMs,
    route: undefined,
    links: [],
    rpFilter: undefined,
    reversePath: undefined,
    rpFilterDrops: 0,
    mfc: { present: false, packets: 0, wrongIf: 0 },
    oifOut: [],
    upcalls: { nocache: [], wrongvif: [] },
    ttl: undefined,
    foreignEntry: false,
    vifs: { used: 0, limit: MAX_VIFS },
  };
}

/**
 * What serves (S,G) when no explicit route does: the entry learned from a template, or, with
 * nothing learned yet, the most specific installed-or-waiting template matching S and G (on
 * `iif`, when known) — or mfcd's stop filter for a flow no template matched. One pass over the
 * routes; only taken when there is no explicit route.
 */
function templateServing(
  engine: RouteEngine,
  key: RouteKey,
  iif: string,
): { route?: RouteView; template?: string; learned?: boolean; stopFilter?: RouteView } {
  let learned: RouteView | undefined;
  let stopFilter: RouteView | undefined;
  let best: RouteView | undefined;
  let bestLen = -1;
  engine.forEachView((v) => {
    const s = v.spec;
    if (s.family !== key.family || s.table !== key.table) return;
    if (v.learned || v.stopFilter) {
      if (s.source === key.source && s.group === key.group) {
        if (v.learned) learned = v;
        else stopFilter = v;
      }
      return;
    }
    if (!isTemplateKey(s) || (iif !== "" && s.iif !== iif)) return;
    const sp = parsePattern(s.family, s.source);
    const gp = parsePattern(s.family, s.group);
    if (!sp || !gp || !patternContains(s.family, sp, key.source) || !patternContains(s.family, gp, key.group)) return;
    if (sp.length + gp.length > bestLen) {
      best = v;
      bestLen = sp.length + gp.length;
    }
  });
  if (learned) return { route: learned, template: learned.template, learned: true };
  if (stopFilter) return { stopFilter };
  if (best) return { route: best, template: `(${best.spec.source || "*"}, ${best.spec.group}) from ${best.spec.iif}` };
  return {};
}

function findVif(vifs: VifView[], name: string): VifView | undefined {
  return vifs.find((v) => v.name === name);
}

// The one validator of a Route, whoever wrote it: an AddRoute/ApplyRoutes request, a line of the
// --config file or an `mfcctl apply` file. Every problem becomes a field violation naming the
// proto field (under `field`, e.g. "route" or "routes[3]"); nothing is valid unless all of it is.

import { formatPattern, isTemplateKey, parsePattern } from "../address/index.js";
import { isIpv4LinkLocalMulticast, isIpv4Multicast, isIpv4UnicastSource, parseIpv4 } from "../address/index.js";
import type { AddressFamily } from "../address/index.js";
import { MAX_VIFS } from "../engine/vif-table.js";
import type { Route } from "../gen/mfc.js";
import {
  DEFAULT_TABLE_ID,
  normalizePattern,
  plainIfname,
  validateGroup,
  validateInterfaceName,
  validateIpv6Group,
  validateIpv6Source,
  validateSource,
  validateTemplatePatterns,
} from "./address-validation.js";
import type { FieldViolation } from "./field-violation.js";
import type { RouteFields } from "./route-fields.js";

/** The kernel has MAX_VIFS VIFs per table and the iif takes one. */
export const MAX_OIFS = MAX_VIFS - 1;

/** A valid route, addresses canonical (the engine calls it RouteSpec). */
export interface ValidRoute extends RouteFields {
  /** Rescue: packets' source is rewritten to this before routing; the kernel entry uses it. */
  rewriteSource?: string;
  /** Rescue: packets' TTL is set to this on the iif before routing. */
  setTtl?: number;
  /** TTL threshold per oif name where it is not the default 1 (IPv4 only). */
  oifTtl?: Record<string, number>;
}

/** Pushes the violations of one route onto `sink`; returns the valid route when there were none. */
export function checkRoute(route: Route | undefined, field: string, sink: FieldViolation[]): ValidRoute | undefined {
  if (!route) {
    sink.push({ field, description: "route is required" });
    return undefined;
  }
  const out: FieldViolation[] = [];
  const key = checkKey(route, field, out);
  const table = route.table ?? 0;
  if (table === DEFAULT_TABLE_ID[key.family]) {
    out.push({
      field: `${field}.table`,
      description: `${table} is the kernel's id of the default ${key.family} table: use 0 for it`,
    });
  }
  checkOifTtl(route, key.family, field, out);
  checkInterfaces(route, field, out);
  checkRescue(route, key.family, field, out);
  sink.push(...out);
  if (out.length > 0) return undefined;
  const valid: ValidRoute = { ...key, table, iif: route.iif, oifs: [...route.oifs] };
  const nonDefault = Object.entries(route.oifTtl ?? {}).filter(([, ttl]) => ttl !== 1);
  if (nonDefault.length > 0) valid.oifTtl = Object.fromEntries(nonDefault);
  if (route.rewriteSource !== undefined) valid.rewriteSource = route.rewriteSource;
  if (route.setTtl !== undefined) valid.setTtl = route.setTtl;
  return valid;
}

/**
 * The common route of a bulk apply, a concrete IPv4 (S,G) with plain interface names and no
 * options, recognised without building the field paths of checkRoute (six strings per route).
 * Undefined for anything else, valid or not: that takes checkRoute, which returns the same
 * route for a valid one and names every problem of an invalid one.
 */
export function plainIpv4Route(route: Route): ValidRoute | undefined {
  const { source, group, iif, oifs } = route;
  const table = route.table ?? 0;
  if (route.rewriteSource !== undefined || route.setTtl !== undefined || table === DEFAULT_TABLE_ID.ipv4) return undefined;
  if (route.oifTtl !== undefined && hasKeys(route.oifTtl)) return undefined;
  const s = parseIpv4(source);
  if (s === undefined || !isIpv4UnicastSource(s)) return undefined;
  const g = parseIpv4(group);
  if (g === undefined || !isIpv4Multicast(g) || isIpv4LinkLocalMulticast(g)) return undefined;
  if (!plainIfname(iif) || oifs.length === 0 || oifs.length > MAX_OIFS) return undefined;
  for (let i = 0; i < oifs.length; i++) {
    const oif = oifs[i] as string;
    if (oif === iif || !plainIfname(oif)) return undefined;
    for (let j = 0; j < i; j++) if (oifs[j] === oif) return undefined;
  }
  return { family: "ipv4", table, source, group, iif, oifs: [...oifs] };
}

/** A route's identity as DelRoute names it (the engine's RouteKey, plus a template's iif). */
export interface ValidRouteKey {
  family: AddressFamily;
  table: number;
  source: string;
  group: string;
  iif?: string;
}

/**
 * Pushes the violations of a DelRoute key onto `out`; returns the key (template patterns
 * normalized, IPv6 canonical) when there were none. Unlike checkKey it checks neither an IPv6
 * template group's scope nor mixed families; the table check fails alone and at once.
 */
export function checkRouteKey(source: string, group: string, table: number, iif: string, out: FieldViolation[]): ValidRouteKey | undefined {
  const family: AddressFamily = source.includes(":") || group.includes(":") ? "ipv6" : "ipv4";
  if (table === DEFAULT_TABLE_ID[family]) {
    out.push({ field: "table", description: `${table} is the kernel's id of the default ${family} table: use 0 for it` });
    return undefined;
  }
  if (isTemplateKey({ source, group }) && family === "ipv6") {
    const sp = parsePattern("ipv6", source);
    const gp = parsePattern("ipv6", group);
    if (!sp) out.push({ field: "source", description: `"${source}" is not "", an IPv6 address or prefix` });
    if (!gp) out.push({ field: "group", description: `"${group}" is not an IPv6 group or prefix` });
    // Without an iif the engine deletes the one template with this (source, group), or asks.
    if (out.length > 0 || !sp || !gp) return undefined;
    return { family, table, source: source === "" ? "" : formatPattern("ipv6", sp), group: formatPattern("ipv6", gp), iif };
  }
  if (isTemplateKey({ source, group })) {
    validateTemplatePatterns(source, group, "", out);
    for (const v of out) v.field = v.field.replace(/^\./, "");
    // Without an iif the engine deletes the one template with this (source, group), or asks.
    if (iif !== "") validateInterfaceName(iif, "iif", out);
    if (out.length > 0) return undefined;
    return { family: "ipv4", table, source: normalizePattern(source), group: normalizePattern(group), iif };
  }
  if (family === "ipv6") {
    const s = validateIpv6Source(source, "source", out);
    const g = validateIpv6Group(group, "group", out);
    if (out.length > 0 || !s || !g) return undefined;
    return { family: "ipv6", table, source: s, group: g };
  }
  validateSource(source, "source", out);
  validateGroup(group, "group", out);
  if (out.length > 0) return undefined;
  return { family: "ipv4", table, source, group };
}

function hasKeys(record: Record<string, number>): boolean {
  for (const _ in record) return true;
  return false;
}

/** Family, source and group; a template's patterns come back normalized, IPv6 canonical. */
function checkKey(
  route: Route,
  field: string,
  out: FieldViolation[],
): { family: AddressFamily; source: string; group: string } {
  const family: AddressFamily = route.source.includes(":") || route.group.includes(":") ? "ipv6" : "ipv4";
  let { source, group } = route;
  if (family === "ipv4") {
    if (isTemplateKey(route)) {
      validateTemplatePatterns(route.source, route.group, field, out);
      return { family, source: normalizePattern(route.source), group: normalizePattern(route.group) };
    }
    validateSource(route.source, `${field}.source`, out);
    validateGroup(route.group, `${field}.group`, out);
    return { family, source, group };
  }
  // An empty source is an any-source template: it never reaches the concrete branch below.
  if (isTemplateKey(route) && (route.source === "" || route.source.includes(":"))) {
    const sp = parsePattern("ipv6", route.source);
    const gp = parsePattern("ipv6", route.group);
    if (!sp) out.push({ field: `${field}.source`, description: `"${route.source}" is not "", an IPv6 address or prefix` });
    else if (route.source !== "") source = formatPattern("ipv6", sp);
    if (!gp || gp.length < 8 || gp.bytes[0] !== 0xff) {
      out.push({ field: `${field}.group`, description: `"${route.group}" is not an IPv6 group or prefix inside ff00::/8` });
    } else {
      if (gp.length >= 16 && ((gp.bytes[1] as number) & 0x0f) <= 2) {
        out.push({
          field: `${field}.group`,
          description: `"${route.group}" has interface- or link-local scope: the kernel never routes it between interfaces`,
        });
      }
      group = formatPattern("ipv6", gp);
    }
    return { family, source, group };
  }
  if (!route.source.includes(":")) {
    out.push({ field: `${field}.source`, description: `"${route.source}" is IPv4 but the group is IPv6: both must be of one family` });
  } else {
    source = validateIpv6Source(route.source, `${field}.source`, out) ?? source;
  }
  if (!route.group.includes(":")) {
    out.push({ field: `${field}.group`, description: `"${route.group}" is IPv4 but the source is IPv6: both must be of one family` });
  } else {
    group = validateIpv6Group(route.group, `${field}.group`, out) ?? group;
  }
  return { family, source, group };
}

function checkOifTtl(route: Route, family: AddressFamily, field: string, out: FieldViolation[]): void {
  for (const [name, ttl] of Object.entries(route.oifTtl ?? {})) {
    const path = `${field}.oif_ttl[${name}]`;
    if (!route.oifs.includes(name)) out.push({ field: path, description: `"${name}" is not one of the oifs` });
    else if (family === "ipv6" && ttl !== 1) {
      out.push({
        field: path,
        description: "IPv6 multicast routes have no TTL thresholds in the kernel (mf6cctl carries only an interface set): leave it at 1",
      });
    } else if (!Number.isInteger(ttl) || ttl < 1 || ttl > 254) {
      out.push({ field: path, description: `${ttl}: a TTL threshold is 1..254 (forward only packets with TTL > threshold)` });
    }
  }
}

function checkInterfaces(route: Route, field: string, out: FieldViolation[]): void {
  const iifValid = validateInterfaceName(route.iif, `${field}.iif`, out);
  if (route.oifs.length === 0) {
    out.push({ field: `${field}.oifs`, description: "at least one output interface is required" });
  } else if (route.oifs.length > MAX_OIFS) {
    out.push({
      field: `${field}.oifs`,
      description: `${route.oifs.length} output interfaces; at most ${MAX_OIFS} (the kernel has ${MAX_VIFS} VIFs and the iif takes one)`,
    });
  }
  const seen = new Map<string, number>();
  route.oifs.forEach((oif, i) => {
    const path = `${field}.oifs[${i}]`;
    if (!validateInterfaceName(oif, path, out)) return;
    const first = seen.get(oif);
    if (first !== undefined) out.push({ field: path, description: `"${oif}" is listed twice (also oifs[${first}])` });
    else if (iifValid && oif === route.iif) {
      out.push({
        field: path,
        description: `"${oif}" is the input interface; forwarding back out of the iif is not allowed`,
      });
    }
    if (first === undefined) seen.set(oif, i);
  });
}

/** rewrite_source and set_ttl: IPv4 concrete routes only (nftables acts on one known flow). */
function checkRescue(route: Route, family: AddressFamily, field: string, out: FieldViolation[]): void {
  if (route.rewriteSource === undefined && route.setTtl === undefined) return;
  // Named after the option the route has, so the problem points at what was written.
  const option = route.rewriteSource !== undefined ? `${field}.rewrite_source` : `${field}.set_ttl`;
  if (family === "ipv6") {
    out.push({ field: option, description: "rescue options (rewrite_source, set_ttl) are IPv4-only" });
  } else if (isTemplateKey(route)) {
    out.push({
      field: option,
      description: "rescue options need a concrete (source, group); this is a template (any-source or prefix)",
    });
  }
  if (route.rewriteSource !== undefined) {
    const addr = parseIpv4(route.rewriteSource);
    if (addr === undefined || !isIpv4UnicastSource(addr)) {
      out.push({
        field: `${field}.rewrite_source`,
        description: `"${route.rewriteSource}" is not a unicast dotted-quad IPv4 address (the new source of the flow)`,
      });
    } else if (route.rewriteSource === route.source) {
      out.push({ field: `${field}.rewrite_source`, description: "rewrite_source equals source: nothing to rewrite" });
    }
  }
  if (route.setTtl !== undefined && (route.setTtl < 2 || route.setTtl > 255)) {
    out.push({
      field: `${field}.set_ttl`,
      description: `${route.setTtl} is not a useful TTL: 2..255 (the kernel forwards only packets arriving with TTL ≥ 2)`,
    });
  }
}

// Request validation: every problem becomes a field violation naming the proto field, so a
// client (or a person with grpcurl) sees exactly what to fix. Nothing reaches the engine unless
// the whole request is valid.

import { DomainError, type FieldViolation } from "../engine/domain-error.js";
import {
  isIpv4LinkLocalMulticast,
  isIpv4Multicast,
  isIpv4UnicastSource,
  parseIpv4,
} from "../engine/ipv4.js";
import type { RouteSpec } from "../engine/route-engine.js";
import type { AddressFamily, RouteKey } from "../engine/route-key.js";
import { MAX_VIFS } from "../engine/vif-table.js";
import type { Route } from "../gen/mfc.js";
import { canonicalIpv6, ipv6MulticastScope, isIpv6Multicast } from "../kernel/ipv6-address.js";
import { RT6_TABLE_DFLT, RT_TABLE_DEFAULT } from "../kernel/mroute-constants.js";
import { formatPattern, isTemplateKey, parsePattern } from "../engine/address-pattern.js";

/** "10.0.0.5/8" → "10.0.0.0/8": one key per template, however it was spelled. */
function normalizePattern(text: string): string {
  if (!text.includes("/")) return text;
  const p = parsePattern("ipv4", text);
  return p ? formatPattern("ipv4", p) : text;
}

/**
 * Template patterns: source "" (any) or "a.b.c.d/len"; group "a.b.c.d" or "a.b.c.d/len" inside
 * 224.0.0.0/4. The kernel learns concrete (S,G) entries from them on NOCACHE upcalls.
 */
function validateTemplatePatterns(source: string, group: string, field: string, out: FieldViolation[]): void {
  const sp = parsePattern("ipv4", source);
  if (!sp) {
    out.push({
      field: `${field}.source`,
      description: `"${source}" is not "" (any source), a dotted quad or a prefix like 10.0.0.0/8`,
    });
  } else if (source !== "" && sp.length > 0 && ((sp.bytes[0] ?? 0) >= 224 || sp.bytes[0] === 127)) {
    out.push({ field: `${field}.source`, description: `"${source}" is not a unicast source prefix` });
  }
  const gp = parsePattern("ipv4", group);
  if (!gp || group === "") {
    out.push({ field: `${field}.group`, description: `"${group}" is not a group or group prefix like 239.1.0.0/16` });
  } else if (gp.length < 4 || ((gp.bytes[0] ?? 0) & 0xf0) !== 0xe0) {
    out.push({ field: `${field}.group`, description: `"${group}" is not inside 224.0.0.0/4` });
  } else if (gp.length >= 24 && gp.bytes[0] === 224 && gp.bytes[1] === 0 && gp.bytes[2] === 0) {
    out.push({
      field: `${field}.group`,
      description: `"${group}" is in 224.0.0.0/24, the link-local control block: the kernel never routes it`,
    });
  }
}

/** The kernel's own id of the default table, which MRT_TABLE must not be asked for. */
const DEFAULT_TABLE_ID: Record<AddressFamily, number> = { ipv4: RT_TABLE_DEFAULT, ipv6: RT6_TABLE_DFLT };

function validateIpv6Source(value: string, field: string, out: FieldViolation[]): string | undefined {
  const canonical = canonicalIpv6(value);
  if (canonical === undefined) {
    out.push({ field, description: `"${value}" is not an IPv6 address` });
    return undefined;
  }
  if (isIpv6Multicast(canonical) || canonical === "::" || canonical === "::1" || /^fe[89ab]/.test(canonical)) {
    out.push({
      field,
      description: `"${value}" is not a routable unicast source (multicast, unspecified, loopback and link-local fe80::/10 cannot be routed)`,
    });
    return undefined;
  }
  return canonical;
}

/** A WatchStats filter address of either family; IPv6 returned canonical, so any spelling matches. */
export function validateFilterAddress(value: string, field: "source" | "group", out: FieldViolation[]): string {
  if (value.includes(":")) {
    return (field === "source" ? validateIpv6Source : validateIpv6Group)(value, field, out) ?? value;
  }
  (field === "source" ? validateSource : validateGroup)(value, field, out);
  return value;
}

function validateIpv6Group(value: string, field: string, out: FieldViolation[]): string | undefined {
  const canonical = canonicalIpv6(value);
  if (canonical === undefined || !isIpv6Multicast(canonical)) {
    out.push({ field, description: `"${value}" is not an IPv6 multicast group (ff00::/8)` });
    return undefined;
  }
  const scope = ipv6MulticastScope(canonical) ?? 0;
  if (scope <= 2) {
    const what = scope === 1 ? "interface-local (ffx1::)" : scope === 2 ? "link-local (ffx2::)" : "reserved scope 0";
    out.push({
      field,
      description: `"${value}" has ${what} scope: the kernel never routes it between interfaces; use admin-local (ffx4::), site-local (ffx5::), organisation (ffx8::) or global (ffxe::) scope`,
    });
    return undefined;
  }
  return canonical;
}

/** IFNAMSIZ is 16 including the terminating NUL. */
const MAX_IFNAME_BYTES = 15;
const MAX_OIFS = MAX_VIFS - 1;

export function validateSource(value: string, field: string, out: FieldViolation[]): void {
  if (value === "") {
    out.push({
      field,
      description:
        "source is required: any-source (*,G) routes are not supported yet (a later version " +
        "adds them as templates); give the sender's unicast address, e.g. 10.0.0.1",
    });
    return;
  }
  const addr = parseIpv4(value);
  if (addr === undefined) {
    out.push({
      field,
      description: `"${value}" is not a dotted-quad IPv4 address (four decimal octets such as 10.0.0.1; shorthand like 10.1 is not accepted)`,
    });
  } else if (!isIpv4UnicastSource(addr)) {
    out.push({ field, description: `"${value}" is not a unicast host address and cannot be a multicast source` });
  }
}

export function validateGroup(
  value: string,
  field: string,
  out: FieldViolation[],
  options: { allowLinkLocal?: boolean } = {},
): void {
  if (value === "") {
    out.push({ field, description: "group is required, e.g. 239.1.1.1" });
    return;
  }
  const addr = parseIpv4(value);
  if (addr === undefined) {
    out.push({
      field,
      description: `"${value}" is not a dotted-quad IPv4 address (four decimal octets such as 239.1.1.1)`,
    });
  } else if (!isIpv4Multicast(addr)) {
    out.push({ field, description: `"${value}" is not a multicast group (must be in 224.0.0.0/4)` });
  } else if (isIpv4LinkLocalMulticast(addr) && !options.allowLinkLocal) {
    out.push({
      field,
      description: `"${value}" is in 224.0.0.0/24, the link-local control block: the kernel never routes it`,
    });
  }
}

export function validateInterfaceName(value: string, field: string, out: FieldViolation[]): boolean {
  const bytes = Buffer.byteLength(value);
  let problem: string | undefined;
  if (bytes === 0) problem = "interface name is required";
  else if (bytes > MAX_IFNAME_BYTES) problem = `"${value}" is ${bytes} bytes; Linux interface names are at most 15`;
  else if (/[/\s:]/.test(value) || value === "." || value === "..") {
    problem = `"${value}" is not a valid interface name (no "/", ":" or whitespace)`;
  }
  if (problem) out.push({ field, description: problem });
  return problem === undefined;
}

/** Validate an AddRoute route and return it as an engine RouteSpec. */
export function validateRoute(route: Route | undefined, field = "route"): RouteSpec {
  const out: FieldViolation[] = [];
  const spec = collectRouteViolations(route, field, out);
  if (out.length > 0 || !spec) throw DomainError.invalid(out);
  return spec;
}

/** Most violations one error reports (a 100k-route apply with a systematic mistake). */
const MAX_VIOLATIONS = 100;

/** Validate every route of an ApplyRoutes request, reporting all problems at once. */
export function validateRoutes(routes: Route[], field = "routes"): RouteSpec[] {
  const out: FieldViolation[] = [];
  const specs: RouteSpec[] = [];
  for (let i = 0; i < routes.length && out.length < MAX_VIOLATIONS; i++) {
    const route = routes[i];
    const spec = (route && plainIpv4Spec(route)) ?? collectRouteViolations(route, `${field}[${i}]`, out);
    if (spec) specs.push(spec);
  }
  if (out.length > 0) throw DomainError.invalid(out.slice(0, MAX_VIOLATIONS));
  return specs;
}

const OWNER_RE = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,63}$/;
/** Owner of routes from the --config file; API clients cannot use it. */
export const CONFIG_OWNER = "config";

/** "" → the default owner; otherwise 1–64 printable name characters, not the config owner. */
export function validateOwner(owner: string, field = "owner"): string {
  if (owner === "") return "api";
  if (!OWNER_RE.test(owner)) {
    throw DomainError.invalid([
      { field, description: `"${owner}" is not a valid owner: 1-64 characters of A-Z a-z 0-9 . _ : / @ -` },
    ]);
  }
  if (owner === CONFIG_OWNER) {
    throw DomainError.invalid([
      { field, description: `owner "${CONFIG_OWNER}" is reserved for routes from mfcd's --config file` },
    ]);
  }
  return owner;
}

/**
 * The common route of a bulk apply, a concrete IPv4 (S,G) with plain interface names and no
 * options, recognised without building the field paths of collectRouteViolations (six strings
 * per route). Undefined for anything else, valid or not: that takes the full check, which
 * returns the same spec for a valid route and names every problem of an invalid one.
 */
function plainIpv4Spec(route: Route): RouteSpec | undefined {
  const { source, group, iif, oifs } = route;
  const table = route.table ?? 0;
  if (route.rewriteSource !== undefined || route.setTtl !== undefined || table === RT_TABLE_DEFAULT) return undefined;
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

function hasKeys(record: Record<string, number>): boolean {
  for (const _ in record) return true;
  return false;
}

/** 1..15 printable ASCII characters without "/" or ":", not "." or "..": valid by every rule of validateInterfaceName. */
function plainIfname(name: string): boolean {
  const n = name.length;
  if (n === 0 || n > MAX_IFNAME_BYTES || name === "." || name === "..") return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x2f || c === 0x3a) return false;
  }
  return true;
}

/** Pushes the violations of one route; returns the spec when this route is valid. */
function collectRouteViolations(route: Route | undefined, field: string, sink: FieldViolation[]): RouteSpec | undefined {
  const out: FieldViolation[] = [];
  if (!route) {
    sink.push({ field, description: "route is required" });
    return undefined;
  }
  const family: AddressFamily = route.source.includes(":") || route.group.includes(":") ? "ipv6" : "ipv4";
  let source = route.source;
  let group = route.group;
  if (family === "ipv6" && isTemplateKey(route) && (route.source === "" || route.source.includes(":"))) {
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
  } else if (family === "ipv6") {
    if (route.source !== "" && !route.source.includes(":")) {
      out.push({ field: `${field}.source`, description: `"${route.source}" is IPv4 but the group is IPv6: both must be of one family` });
    } else if (route.source === "") {
      validateSource("", `${field}.source`, out);
    } else {
      source = validateIpv6Source(route.source, `${field}.source`, out) ?? source;
    }
    if (!route.group.includes(":")) {
      out.push({ field: `${field}.group`, description: `"${route.group}" is IPv4 but the source is IPv6: both must be of one family` });
    } else {
      group = validateIpv6Group(route.group, `${field}.group`, out) ?? group;
    }
  } else if (isTemplateKey(route)) {
    validateTemplatePatterns(route.source, route.group, field, out);
    source = normalizePattern(route.source);
    group = normalizePattern(route.group);
    if (route.rewriteSource !== undefined || route.setTtl !== undefined) {
      out.push({
        field: `${field}.rewrite_source`,
        description: "rescue options need a concrete (source, group); this is a template (any-source or prefix)",
      });
    }
  } else {
    validateSource(route.source, `${field}.source`, out);
    validateGroup(route.group, `${field}.group`, out);
  }
  const table = route.table ?? 0;
  if (table === DEFAULT_TABLE_ID[family]) {
    out.push({
      field: `${field}.table`,
      description: `${table} is the kernel's id of the default ${family} table: use 0 for it`,
    });
  }
  const oifTtl = route.oifTtl ?? {};
  for (const [name, ttl] of Object.entries(oifTtl)) {
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
  if (family === "ipv6" && (route.rewriteSource !== undefined || route.setTtl !== undefined)) {
    out.push({ field: `${field}.rewrite_source`, description: "rescue options (rewrite_source, set_ttl) are IPv4-only" });
  }
  const iifValid = validateInterfaceName(route.iif, `${field}.iif`, out);

  if (route.oifs.length === 0) {
    out.push({ field: `${field}.oifs`, description: "at least one output interface is required" });
  } else if (route.oifs.length > MAX_OIFS) {
    out.push({
      field: `${field}.oifs`,
      description: `${route.oifs.length} output interfaces; at most ${MAX_OIFS} (the kernel has ${MAX_VIFS} VIFs and the iif takes one)`,
    });
  }
  const seen = new Set<string>();
  route.oifs.forEach((oif, i) => {
    const path = `${field}.oifs[${i}]`;
    if (!validateInterfaceName(oif, path, out)) return;
    if (seen.has(oif)) out.push({ field: path, description: `"${oif}" is listed twice` });
    else if (iifValid && oif === route.iif) {
      out.push({
        field: path,
        description: `"${oif}" is the input interface; forwarding back out of the iif is not allowed`,
      });
    }
    seen.add(oif);
  });
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
  sink.push(...out);
  if (out.length > 0) return undefined;
  const spec: RouteSpec = {
    family,
    table,
    source,
    group,
    iif: route.iif,
    oifs: [...route.oifs],
  };
  const nonDefault = Object.entries(oifTtl).filter(([, ttl]) => ttl !== 1);
  if (nonDefault.length > 0) spec.oifTtl = Object.fromEntries(nonDefault);
  if (route.rewriteSource !== undefined) spec.rewriteSource = route.rewriteSource;
  if (route.setTtl !== undefined) spec.setTtl = route.setTtl;
  return spec;
}

/** Validate the (source, group) of a DelRoute request. */
export function validateRouteKey(source: string, group: string, table = 0, iif = ""): RouteKey & { iif?: string } {
  const out: FieldViolation[] = [];
  const family: AddressFamily = source.includes(":") || group.includes(":") ? "ipv6" : "ipv4";
  if (table === DEFAULT_TABLE_ID[family]) {
    throw DomainError.invalid([
      { field: "table", description: `${table} is the kernel's id of the default ${family} table: use 0 for it` },
    ]);
  }
  if (isTemplateKey({ source, group }) && family === "ipv6") {
    const sp = parsePattern("ipv6", source);
    const gp = parsePattern("ipv6", group);
    if (!sp) out.push({ field: "source", description: `"${source}" is not "", an IPv6 address or prefix` });
    if (!gp) out.push({ field: "group", description: `"${group}" is not an IPv6 group or prefix` });
    // Without an iif the engine deletes the one template with this (source, group), or asks.
    if (out.length > 0 || !sp || !gp) throw DomainError.invalid(out);
    return { family, table, source: source === "" ? "" : formatPattern("ipv6", sp), group: formatPattern("ipv6", gp), iif };
  }
  if (isTemplateKey({ source, group }) && !source.includes(":") && !group.includes(":")) {
    validateTemplatePatterns(source, group, "", out);
    for (const v of out) v.field = v.field.replace(/^\./, "");
    // Without an iif the engine deletes the one template with this (source, group), or asks.
    if (iif !== "") validateInterfaceName(iif, "iif", out);
    if (out.length > 0) throw DomainError.invalid(out);
    return { family: "ipv4", table, source: normalizePattern(source), group: normalizePattern(group), iif };
  }
  if (source.includes(":") || group.includes(":")) {
    const s = validateIpv6Source(source, "source", out);
    const g = validateIpv6Group(group, "group", out);
    if (out.length > 0 || !s || !g) throw DomainError.invalid(out);
    return { family: "ipv6", table, source: s, group: g };
  }
  validateSource(source, "source", out);
  validateGroup(group, "group", out);
  if (out.length > 0) throw DomainError.invalid(out);
  return { family: "ipv4", table, source, group };
}

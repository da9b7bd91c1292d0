// Request validation: the shared route validator (src/shared/route-validation.ts) behind the
// RPCs, raising its field violations as one INVALID_ARGUMENT. Nothing reaches the engine unless
// the whole request is valid.

import { formatPattern, isTemplateKey, parsePattern } from "../../address/index.js";
import { DomainError, type FieldViolation } from "../../engine/domain-error.js";
import type { RouteSpec } from "../../engine/route-engine.js";
import type { AddressFamily, RouteKey } from "../../engine/route-key.js";
import type { Route } from "../../gen/mfc.js";
import {
  DEFAULT_TABLE_ID,
  normalizePattern,
  validateGroup,
  validateInterfaceName,
  validateIpv6Group,
  validateIpv6Source,
  validateSource,
  validateTemplatePatterns,
} from "../../shared/address-validation.js";
import { checkRoute, plainIpv4Route } from "../../shared/route-validation.js";

export { validateFilterAddress, validateGroup, validateInterfaceName, validateSource } from "../../shared/address-validation.js";

/** Validate an AddRoute route and return it as an engine RouteSpec. */
export function validateRoute(route: Route | undefined, field = "route"): RouteSpec {
  const out: FieldViolation[] = [];
  const spec = checkRoute(route, field, out);
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
    const spec = (route && plainIpv4Route(route)) ?? checkRoute(route, `${field}[${i}]`, out);
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
  if (isTemplateKey({ source, group })) {
    validateTemplatePatterns(source, group, "", out);
    for (const v of out) v.field = v.field.replace(/^\./, "");
    // Without an iif the engine deletes the one template with this (source, group), or asks.
    if (iif !== "") validateInterfaceName(iif, "iif", out);
    if (out.length > 0) throw DomainError.invalid(out);
    return { family: "ipv4", table, source: normalizePattern(source), group: normalizePattern(group), iif };
  }
  if (family === "ipv6") {
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

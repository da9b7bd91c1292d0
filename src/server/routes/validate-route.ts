// Request validation: the shared route validator (src/shared/route-validation.ts) behind the
// RPCs, raising its field violations as one INVALID_ARGUMENT. Nothing reaches the engine unless
// the whole request is valid.

import { DomainError, type FieldViolation } from "../../engine/domain-error.js";
import type { RouteSpec } from "../../engine/route-engine.js";
import type { RouteKey } from "../../engine/route-key.js";
import type { Route } from "../../gen/mfc.js";
import { checkRoute, checkRouteKey, plainIpv4Route } from "../../shared/route-validation.js";

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
  const key = checkRouteKey(source, group, table, iif, out);
  if (out.length > 0 || !key) throw DomainError.invalid(out);
  return key;
}

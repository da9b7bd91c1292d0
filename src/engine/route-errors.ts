// The errors the route engine raises for conditions a client can act on: one builder each, and
// the stable reasons (google.rpc.ErrorInfo.reason) as named constants clients may match on.

import { DomainError } from "./domain-error.js";
import type { RouteKey } from "./route-key.js";
import { MAX_VIFS } from "./vif-table.js";

export const SG_ON_TWO_IIFS = "SG_ON_TWO_IIFS";
export const ROUTE_EXISTS = "ROUTE_EXISTS";
export const ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND";
export const EMPTY_APPLY = "EMPTY_APPLY";
export const ROUTE_OWNED_BY_OTHER = "ROUTE_OWNED_BY_OTHER";
export const INTERFACE_NOT_FOUND = "INTERFACE_NOT_FOUND";
export const KERNEL_ENTRY_TAKEN = "KERNEL_ENTRY_TAKEN";
export const ROUTE_LIMIT = "ROUTE_LIMIT";
export const VIF_TABLE_FULL = "VIF_TABLE_FULL";
export const TEMPLATE_IIF_AMBIGUOUS = "TEMPLATE_IIF_AMBIGUOUS";

/** What the builders need to know of a stored route. */
interface RouteRef {
  spec: { source: string; group: string; iif: string; oifs: string[] };
  owner: string;
}

export function sgOnTwoIifs(spec: { source: string; group: string; iif: string }, existingIif: string): DomainError {
  return new DomainError(
    "failed-precondition",
    `(${spec.source}, ${spec.group}) is already routed from ${existingIif}; a kernel table holds one ` +
      `entry per (source, group), so it cannot also come from ${spec.iif}. Set replace=true to move it, ` +
      `or put the second route in another table (Route.table) and steer ${spec.iif}'s traffic there with ip mrule`,
    { reason: SG_ON_TWO_IIFS, metadata: { source: spec.source, group: spec.group, iif: existingIif } },
  );
}

export function routeExists(existing: RouteRef): DomainError {
  const { spec } = existing;
  return new DomainError(
    "already-exists",
    `route (${spec.source}, ${spec.group}) already exists from ${spec.iif} to ` +
      `${spec.oifs.join(",")}; set replace=true to switch it`,
    { reason: ROUTE_EXISTS, metadata: { source: spec.source, group: spec.group } },
  );
}

export function routeNotFound(key: { source: string; group: string }): DomainError {
  return new DomainError("not-found", `no route for (${key.source}, ${key.group})`, {
    reason: ROUTE_NOT_FOUND,
    metadata: { source: key.source, group: key.group },
  });
}

export function emptyApply(owner: string): DomainError {
  return new DomainError(
    "invalid-argument",
    `routes is empty: that would remove every route of owner "${owner}"; set allow_empty to really do that`,
    {
      reason: EMPTY_APPLY,
      violations: [{ field: "routes", description: "empty without allow_empty" }],
    },
  );
}

/** An apply would take routes of other owners (`conflicts`: one line per route, a few at most). */
export function routesOwnedByOthers(owner: string, conflicts: string[]): DomainError {
  return new DomainError(
    "failed-precondition",
    `owner "${owner}" cannot take routes of other owners: ${conflicts.join("; ")}`,
    { reason: ROUTE_OWNED_BY_OTHER, metadata: { owner } },
  );
}

export function ownedByOther(route: RouteRef, owner: string): DomainError {
  return new DomainError(
    "failed-precondition",
    `route (${route.spec.source}, ${route.spec.group}) is owned by "${route.owner}", not "${owner}"`,
    { reason: ROUTE_OWNED_BY_OTHER, metadata: { owner: route.owner } },
  );
}

export function interfaceNotFound(names: string[]): DomainError {
  return new DomainError(
    "failed-precondition",
    `interface ${names.map((n) => `"${n}"`).join(", ")} does not exist in mfcd's network namespace ` +
      `(require_interfaces is set; without it the route would wait as PENDING)`,
    { reason: INTERFACE_NOT_FOUND, metadata: { interfaces: names.join(",") } },
  );
}

/** Another route's kernel entry is (kernelSource, group) already. */
export function kernelKeyTaken(kernelSource: string, group: string, other: RouteRef): DomainError {
  return new DomainError(
    "failed-precondition",
    `the kernel entry (${kernelSource}, ${group}) is already used by route ` +
      `(${other.spec.source}, ${other.spec.group}) of "${other.owner}": the kernel holds one entry per (source, group)`,
    { reason: KERNEL_ENTRY_TAKEN, metadata: { source: other.spec.source, group: other.spec.group } },
  );
}

export function templateIifAmbiguous(key: RouteKey, iifs: string[]): DomainError {
  return new DomainError(
    "failed-precondition",
    `${iifs.length} templates have (${key.source || "*"}, ${key.group}), from ${iifs.join(", ")}: name the iif of the one to delete`,
    { reason: TEMPLATE_IIF_AMBIGUOUS, metadata: { source: key.source, group: key.group, iifs: iifs.join(",") } },
  );
}

export function routeLimit(max: number, adding: number): DomainError {
  return new DomainError(
    "resource-exhausted",
    `route limit reached: mfcd holds at most ${max} routes (--max-routes); cannot add ${adding} more`,
    { reason: ROUTE_LIMIT, metadata: { limit: String(max) } },
  );
}

export function vifTableFull(needed: string[], free: number): DomainError {
  return new DomainError(
    "resource-exhausted",
    `VIF table full: the kernel allows ${MAX_VIFS} VIFs per table; this route needs ` +
      `${needed.length} new (${needed.join(", ")}) but only ${free} are free. Another table has its own ` +
      `${MAX_VIFS}: put the route there (Route.table) and steer its iif with --mrule / ip mrule`,
    { reason: VIF_TABLE_FULL, metadata: { limit: String(MAX_VIFS), needed: needed.join(",") } },
  );
}

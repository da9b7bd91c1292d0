// The fields every form of a route has, whoever holds it: a valid request (ValidRoute, the
// engine's RouteSpec), a state-file record (StoredRoute) and a kernel entry no route explains
// (the engine's ForeignView). One declaration and one copy, so a form cannot drift from the rest.

import type { AddressFamily } from "../address/index.js";

export interface RouteFields {
  family: AddressFamily;
  /** Multicast routing table id (0 = the family's default table). */
  table: number;
  /** Source address or pattern text; "" is any source. */
  source: string;
  group: string;
  iif: string;
  oifs: string[];
}

/** The route fields of `route` (and only those), with a copy of its oif list, in this order. */
export function copyRouteFields(route: RouteFields): RouteFields {
  const { family, table, source, group, iif, oifs } = route;
  return { family, table, source, group, iif, oifs: [...oifs] };
}

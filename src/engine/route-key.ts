// Routes are keyed by (family, table, source, group) from the start: IPv6, several kernel
// tables and any-source templates only add values to these fields, never new model shapes.

import type { AddressFamily } from "../address/address-family.js";
export type { AddressFamily };

export interface RouteKey {
  family: AddressFamily;
  /** Kernel multicast routing table id (0 = default). */
  table: number;
  /** Source address text; "" will mean any source. */
  source: string;
  group: string;
}

/**
 * The identity of a route: (family, table, source, group) — plus the iif for templates
 * (any-source or prefix routes), since the same (*,G) may be allowed on several interfaces.
 */
export function routeKeyString(key: RouteKey & { iif?: string }): string {
  const base = `${key.family}/${key.table}/${key.source}/${key.group}`;
  const template = key.source === "" || key.source.includes("/") || key.group.includes("/");
  return template ? `${base}@${key.iif ?? ""}` : base;
}

/** Key of a kernel table: one MRT_INIT socket and one VIF space per (family, table). */
export function tableKeyString(family: AddressFamily, table: number): string {
  return `${family}/${table}`;
}

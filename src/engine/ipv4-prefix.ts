// Source and group patterns of template routes: "" (any), "a.b.c.d" (exact) or "a.b.c.d/len".

import { parseIpv4 } from "./ipv4.js";

export interface Ipv4Prefix {
  network: number;
  length: number;
}

/** The pattern as a prefix ("" = 0.0.0.0/0), or undefined when it is not one. */
export function parseIpv4Prefix(text: string): Ipv4Prefix | undefined {
  if (text === "") return { network: 0, length: 0 };
  const slash = text.indexOf("/");
  const addr = parseIpv4(slash < 0 ? text : text.slice(0, slash));
  if (addr === undefined) return undefined;
  let length = 32;
  if (slash >= 0) {
    const len = text.slice(slash + 1);
    if (!/^(0|[1-9]\d?)$/.test(len) || Number(len) > 32) return undefined;
    length = Number(len);
  }
  return { network: (addr & mask(length)) >>> 0, length };
}

export function mask(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

export function prefixContains(prefix: Ipv4Prefix, address: number): boolean {
  return ((address & mask(prefix.length)) >>> 0) === prefix.network;
}

/** Is this route key a template (any-source or a prefix), rather than one concrete (S,G)? */
export function isTemplateKey(key: { source: string; group: string }): boolean {
  return key.source === "" || key.source.includes("/") || key.group.includes("/");
}

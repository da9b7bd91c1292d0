// Template patterns of either family: "" (any), an address, or "address/len". Matching works
// on address bytes, so IPv4 and IPv6 share one rule (the v4 parser stays strict dotted-quad).

import type { AddressFamily } from "./address-family.js";
import { formatIpv4, parseIpv4 } from "./ipv4.js";
import { bufferToIpv6, parseIpv6 } from "./ipv6.js";

export interface AddressPattern {
  bytes: Buffer;
  length: number;
}

function addressBytes(family: AddressFamily, text: string): Buffer | undefined {
  if (family === "ipv6") return parseIpv6(text);
  const v = parseIpv4(text);
  if (v === undefined) return undefined;
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

/** The pattern ("" = any), or undefined when it is not one of this family. */
export function parsePattern(family: AddressFamily, text: string): AddressPattern | undefined {
  const bits = family === "ipv6" ? 128 : 32;
  if (text === "") return { bytes: Buffer.alloc(bits / 8), length: 0 };
  const slash = text.indexOf("/");
  const bytes = addressBytes(family, slash < 0 ? text : text.slice(0, slash));
  if (!bytes) return undefined;
  let length = bits;
  if (slash >= 0) {
    const len = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(len) || Number(len) > bits) return undefined;
    length = Number(len);
  }
  // Keep only the network part, so one template has one spelling.
  for (let bit = length; bit < bits; bit++) bytes[bit >> 3] = (bytes[bit >> 3] as number) & ~(0x80 >> (bit & 7));
  return { bytes, length };
}

export function patternContains(family: AddressFamily, pattern: AddressPattern, address: string): boolean {
  const bytes = addressBytes(family, address);
  if (!bytes) return false;
  const full = pattern.length >> 3;
  for (let i = 0; i < full; i++) if (bytes[i] !== pattern.bytes[i]) return false;
  const rest = pattern.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((bytes[full] as number) & mask) === ((pattern.bytes[full] as number) & mask);
}

/** Canonical text: the bare address for a full-length pattern, else "network/len". */
export function formatPattern(family: AddressFamily, p: AddressPattern): string {
  const text = family === "ipv6" ? bufferToIpv6(p.bytes) : formatIpv4(p.bytes.readUInt32BE(0));
  return p.length === (family === "ipv6" ? 128 : 32) ? text : `${text}/${p.length}`;
}

/** Is this route key a template (any-source or a prefix), rather than one concrete (S,G)? */
export function isTemplateKey(key: { source: string; group: string }): boolean {
  return key.source === "" || key.source.includes("/") || key.group.includes("/");
}

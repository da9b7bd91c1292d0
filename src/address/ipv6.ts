// IPv6 address text <-> the 16 network-order bytes the kernel uses. Pure, no koffi.
//
// Input: any RFC 4291 text form ("FF3E:0:0::1", "ff3e::1", "::ffff:192.0.2.1"), validated with
// node:net's isIPv6; zone ids ("fe80::1%eth0") are rejected: an MFC entry has no scope, and a
// router config must not guess one. Output: the RFC 5952 canonical form (lower case, no leading
// zeros, the longest run of two or more zero groups as "::" — the first of equal runs —, IPv4
// dotted form only for IPv4-mapped ::ffff:0:0/96). Two texts name the same address exactly when
// their canonical forms are equal, so canonical text is what keys (S,G) maps.

import { isIPv6 } from "node:net";
import { parseIpv4 } from "./ipv4.js";

export const IPV6_SIZE = 16;

/**
 * Writes the 16 bytes of `text` into `out` at `offset` (a new Buffer by default); undefined if
 * `text` is not an IPv6 address (or carries a zone id). Nothing is written then.
 */
export function parseIpv6(text: string, out?: Buffer, offset = 0): Buffer | undefined {
  if (text.length < 2 || text.length > 45 || text.includes("%") || !isIPv6(text)) return undefined;
  // isIPv6 has validated the syntax; one pass over the characters collects the groups (this is
  // on the counters path: a few hundred ns rather than split/regex microseconds).
  const w = scratch;
  const len = text.length;
  let n = 0;
  let gapAt = -1;
  let i = 0;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return undefined;
    gapAt = 0;
    i = 2;
  }
  while (i < len) {
    const start = i;
    let v = 0;
    for (; i < len; i++) {
      const d = hexDigit(text.charCodeAt(i));
      if (d < 0) break;
      v = v * 16 + d;
    }
    if (i < len && text.charCodeAt(i) === DOT) {
      // Dotted IPv4 as the last 32 bits: re-read this group as the first decimal octet.
      const v4 = parseIpv4(text, start);
      if (v4 === undefined || n > 6) return undefined;
      w[n++] = v4 >>> 16;
      w[n++] = v4 & 0xffff;
      break;
    }
    const digits = i - start;
    if (digits === 0 || digits > 4 || n >= 8) return undefined;
    w[n++] = v;
    if (i === len) break;
    if (text.charCodeAt(i) !== COLON) return undefined;
    i++;
    if (i < len && text.charCodeAt(i) === COLON) {
      if (gapAt >= 0) return undefined;
      gapAt = n;
      i++;
    } else if (i === len) {
      return undefined;
    }
  }
  if (gapAt < 0 ? n !== 8 : n > 7) return undefined;
  const buf = out ?? Buffer.alloc(IPV6_SIZE);
  const tail = gapAt < 0 ? 0 : n - gapAt;
  const head = n - tail;
  buf.fill(0, offset, offset + IPV6_SIZE);
  for (let k = 0; k < n; k++) {
    const pos = offset + 2 * (k < head ? k : 8 - tail + (k - head));
    const g = w[k] ?? 0;
    buf[pos] = g >> 8;
    buf[pos + 1] = g & 0xff;
  }
  return buf;
}

const COLON = 0x3a;
const DOT = 0x2e;
const scratch = [0, 0, 0, 0, 0, 0, 0, 0];

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Like parseIpv6, but throws RangeError for anything that is not an IPv6 address. */
export function ipv6ToBuffer(text: string, out?: Buffer, offset = 0): Buffer {
  const buf = parseIpv6(text, out, offset);
  if (buf === undefined) throw new RangeError(`not an IPv6 address: ${JSON.stringify(text)}`);
  return buf;
}

/** RFC 5952 text of the 16 network-order bytes at `offset`. */
export function bufferToIpv6(buf: Uint8Array, offset = 0): string {
  const w = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 8; i++) w[i] = ((buf[offset + 2 * i] ?? 0) << 8) | (buf[offset + 2 * i + 1] ?? 0);
  // IPv4-mapped ::ffff:a.b.c.d
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${buf[offset + 12]}.${buf[offset + 13]}.${buf[offset + 14]}.${buf[offset + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let s = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += "::";
      i += bestLen - 1;
      continue;
    }
    if (s !== "" && !s.endsWith(":")) s += ":";
    s += (w[i] ?? 0).toString(16);
  }
  return s;
}

/** The RFC 5952 form of `text`, or undefined if it is not an IPv6 address (or has a zone id). */
export function canonicalIpv6(text: string): string | undefined {
  const buf = parseIpv6(text);
  return buf === undefined ? undefined : bufferToIpv6(buf);
}

/** True if `text` is an IPv6 address already in RFC 5952 form. */
export function isCanonicalIpv6(text: string): boolean {
  return canonicalIpv6(text) === text;
}

/** ff00::/8 */
export function isIpv6Multicast(addr: string | Uint8Array, offset = 0): boolean {
  const buf = typeof addr === "string" ? parseIpv6(addr) : addr;
  return buf !== undefined && buf[typeof addr === "string" ? 0 : offset] === 0xff;
}

/**
 * The scope nibble of a multicast address (1 interface-local, 2 link-local, 3 realm-local,
 * 4 admin-local, 5 site-local, 8 organisation-local, 14 global), undefined for anything else.
 * The kernel never forwards scopes 1 and 2, whatever the MFC says.
 */
export function ipv6MulticastScope(addr: string): number | undefined {
  const buf = parseIpv6(addr);
  if (buf === undefined || buf[0] !== 0xff) return undefined;
  return (buf[1] ?? 0) & 0x0f;
}

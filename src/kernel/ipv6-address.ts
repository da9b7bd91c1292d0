// IPv6 address text <-> the 16 network-order bytes the kernel uses. Pure, no koffi.
//
// Input: any RFC 4291 text form ("FF3E:0:0::1", "ff3e::1", "::ffff:192.0.2.1"), validated with
// node:net's isIPv6; zone ids ("fe80::1%eth0") are rejected: an MFC entry has no scope, and a
// router config must not guess one. Output: the RFC 5952 canonical form (lower case, no leading
// zeros, the longest run of two or more zero groups as "::" — the first of equal runs —, IPv4
// dotted form only for IPv4-mapped ::ffff:0:0/96). Two texts name the same address exactly when
// their canonical forms are equal, so canonical text is what keys (S,G) maps.

import { isIPv6 } from "node:net";

export const IPV6_SIZE = 16;

/** The unspecified address "::": the source of a (*,G) entry. */
export const IPV6_ANY = "::";

/**
 * Writes the 16 bytes of `text` into `out` at `offset` (a new Buffer by default); undefined if
 * `text` is not an IPv6 address (or carries a zone id). Nothing is written then.
 */
export function parseIpv6(text: string, out?: Buffer, offset = 0): Buffer | undefined {
  if (text.length < 2 || text.length > 45 || text.includes("%") || !isIPv6(text)) return undefined;
  const groups = new Array<number>(8).fill(0);
  const gap = text.indexOf("::");
  const head = gap < 0 ? text : text.slice(0, gap);
  const tail = gap < 0 ? "" : text.slice(gap + 2);
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const words: number[] = [];
  const pushAll = (parts: string[], into: number[]): boolean => {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? "";
      if (part.includes(".")) {
        // Dotted IPv4 is only allowed as the last 32 bits (isIPv6 guarantees the place).
        const octets = part.split(".").map(Number);
        if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return false;
        into.push(((octets[0] ?? 0) << 8) | (octets[1] ?? 0), ((octets[2] ?? 0) << 8) | (octets[3] ?? 0));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return false;
        into.push(parseInt(part, 16));
      }
    }
    return true;
  };
  const tailWords: number[] = [];
  if (!pushAll(headGroups, words) || !pushAll(tailGroups, tailWords)) return undefined;
  if (gap < 0 ? words.length !== 8 : words.length + tailWords.length > 7) return undefined;
  for (let i = 0; i < words.length; i++) groups[i] = words[i] ?? 0;
  for (let i = 0; i < tailWords.length; i++) groups[8 - tailWords.length + i] = tailWords[i] ?? 0;
  const buf = out ?? Buffer.alloc(IPV6_SIZE);
  for (let i = 0; i < 8; i++) {
    const g = groups[i] ?? 0;
    buf[offset + 2 * i] = g >> 8;
    buf[offset + 2 * i + 1] = g & 0xff;
  }
  return buf;
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

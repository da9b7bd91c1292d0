// Checks of the address and interface fields of a route, a flow or a filter. Each problem becomes
// a field violation naming the proto field, so whoever typed the value sees exactly what to fix.

import { formatPattern, parsePattern, isIpv4LinkLocalMulticast, isIpv4Multicast, isIpv4UnicastSource, parseIpv4, canonicalIpv6, ipv6MulticastScope, isIpv6Multicast } from "../address/index.js";
import type { AddressFamily } from "../address/index.js";
import { RT6_TABLE_DFLT, RT_TABLE_DEFAULT } from "../kernel/abi/index.js";
import type { FieldViolation } from "./field-violation.js";

/** The kernel's own id of the default table, which MRT_TABLE must not be asked for. */
export const DEFAULT_TABLE_ID: Record<AddressFamily, number> = { ipv4: RT_TABLE_DEFAULT, ipv6: RT6_TABLE_DFLT };

/** IFNAMSIZ is 16 including the terminating NUL. */
export const MAX_IFNAME_BYTES = 15;

/** "10.0.0.5/8" → "10.0.0.0/8": one key per template, however it was spelled. */
export function normalizePattern(text: string): string {
  if (!text.includes("/")) return text;
  const p = parsePattern("ipv4", text);
  return p ? formatPattern("ipv4", p) : text;
}

/**
 * Template patterns: source "" (any) or "a.b.c.d/len"; group "a.b.c.d" or "a.b.c.d/len" inside
 * 224.0.0.0/4. The kernel learns concrete (S,G) entries from them on NOCACHE upcalls.
 */
export function validateTemplatePatterns(source: string, group: string, field: string, out: FieldViolation[]): void {
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

export function validateIpv6Source(value: string, field: string, out: FieldViolation[]): string | undefined {
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

export function validateIpv6Group(value: string, field: string, out: FieldViolation[]): string | undefined {
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

/** A WatchStats filter address of either family; IPv6 returned canonical, so any spelling matches. */
export function validateFilterAddress(value: string, field: "source" | "group", out: FieldViolation[]): string {
  if (value.includes(":")) {
    return (field === "source" ? validateIpv6Source : validateIpv6Group)(value, field, out) ?? value;
  }
  (field === "source" ? validateSource : validateGroup)(value, field, out);
  return value;
}

/**
 * The concrete IPv4 sender of a route or of a flow (Diagnose, Trace). Any-source routes never get
 * here: an empty or prefix source makes a route a template, checked by validateTemplatePatterns.
 */
export function validateSource(value: string, field: string, out: FieldViolation[]): void {
  if (value === "") {
    out.push({ field, description: "source is required: give the sender's unicast address, e.g. 10.0.0.1" });
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

/** 1..15 printable ASCII characters without "/" or ":", not "." or "..": valid by every rule of validateInterfaceName. */
export function plainIfname(name: string): boolean {
  const n = name.length;
  if (n === 0 || n > MAX_IFNAME_BYTES || name === "." || name === "..") return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x2f || c === 0x3a) return false;
  }
  return true;
}

// Strict IPv4 text handling. inet_aton() accepts shorthand such as "10.1" (= 10.0.0.1) or
// octal "010.0.0.1"; a router config must never guess, so only canonical dotted quads pass.

const OCTET = /^(0|[1-9]\d{0,2})$/;

/** The address as an unsigned 32-bit number, or undefined unless `text` is a canonical dotted quad. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/** 224.0.0.0/4 */
export function isIpv4Multicast(value: number): boolean {
  return value >>> 28 === 0xe;
}

/** 224.0.0.0/24: local network control block, never forwarded by the kernel. */
export function isIpv4LinkLocalMulticast(value: number): boolean {
  return value >>> 8 === 0xe00000;
}

/** A host address usable as a multicast source: not 0/8, loopback, multicast, reserved or broadcast. */
export function isIpv4UnicastSource(value: number): boolean {
  const first = value >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}

// Strict IPv4 text handling. inet_aton() accepts shorthand such as "10.1" (= 10.0.0.1) or
// octal "010.0.0.1"; a router config must never guess, so only canonical dotted quads pass.

/**
 * The address as an unsigned 32-bit number, or undefined unless `text` (from index `start` to
 * its end) is a canonical dotted quad (four decimal octets 0..255, no leading zeros). One pass
 * over the characters, no split or regex: a 100k-route apply parses 200k addresses. The only
 * dotted-quad parser: IPv6's embedded IPv4 tail ("::ffff:192.0.2.1") uses it too.
 */
export function parseIpv4(text: string, start = 0): number | undefined {
  const n = text.length;
  if (n - start < 7 || n - start > 15) return undefined;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || ++dots > 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && octet === 0) return undefined; // a leading zero ("01" could be octal)
      octet = octet * 10 + (c - 0x30);
      if (octet > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + octet;
}

/**
 * Writes a canonical dotted quad in network order into `out` at `offset` (a new 4-byte Buffer
 * by default). Throws RangeError on anything else: inet_aton-style guessing ("10.1",
 * "010.0.0.1") has no place in router config.
 */
export function ipv4ToBuffer(text: string, out: Buffer = Buffer.alloc(4), offset = 0): Buffer {
  const value = parseIpv4(text);
  if (value === undefined) throw new RangeError(`not a canonical IPv4 dotted quad: ${JSON.stringify(text)}`);
  out.writeUInt32BE(value, offset);
  return out;
}

/** Dotted quad of the network-order address at `offset`. */
export function bufferToIpv4(buf: Uint8Array, offset = 0): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
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

// The scanner under the /proc/net multicast routing parsers of both families (proc-mroute.ts,
// proc-mroute6.ts). Hand-rolled rather than split/regex: a 10k-entry dump must parse in a few
// milliseconds.

import os from "node:os";
import type { ProcMfcEntry, ProcVif } from "./proc-mroute.js";

const LE = os.endianness() === "LE";

/** Cursor over the bytes of one file; tokens are separated by spaces, rows by newlines. */
export class Scanner {
  pos = 0;
  readonly end: number;
  constructor(readonly b: Buffer) {
    this.end = b.length;
  }

  /** Skips spaces; true if a token follows on this row. */
  more(): boolean {
    const b = this.b;
    let p = this.pos;
    while (p < this.end && b[p] === 0x20) p++;
    this.pos = p;
    return p < this.end && b[p] !== 0x0a;
  }

  /** Moves past the end of this row. */
  nextRow(): void {
    const eol = this.b.indexOf(0x0a, this.pos);
    this.pos = eol < 0 ? this.end : eol + 1;
  }

  /** Next token as text. */
  word(): string {
    this.more();
    const b = this.b;
    const start = this.pos;
    let p = start;
    while (p < this.end && b[p] !== 0x20 && b[p] !== 0x0a) p++;
    this.pos = p;
    return b.toString("latin1", start, p);
  }

  /** Next token as a (possibly negative) decimal; NaN if it is not one. Stops at ':'. */
  int(): number {
    this.more();
    const b = this.b;
    const end = this.end;
    let p = this.pos;
    const neg = p < end && b[p] === 0x2d;
    if (neg) p++;
    const start = p;
    let v = 0;
    while (p < end) {
      const d = (b[p] as number) - 0x30;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      p++;
    }
    const ok = p > start && (p === end || b[p] === 0x20 || b[p] === 0x0a || b[p] === 0x3a);
    this.pos = p;
    return ok ? (neg ? -v : v) : NaN;
  }

  /** Next token as an unsigned decimal counter (exact beyond 2^53). */
  counter(): bigint {
    this.more();
    const start = this.pos;
    const v = this.int();
    if (Number.isNaN(v) || v < 0) throw this.error("counter");
    if (v === 0) return 0n; // shared: idle counters are common and a BigInt is a heap object
    return this.pos - start > 15 ? BigInt(this.b.toString("latin1", start, this.pos)) : BigInt(v);
  }

  /** Next token as hex; NaN if it is not 1..8 hex digits. */
  hex(): number {
    this.more();
    const b = this.b;
    const end = this.end;
    let p = this.pos;
    const start = p;
    let v = 0;
    while (p < end) {
      const ch = b[p] as number;
      let d: number;
      if (ch >= 0x30 && ch <= 0x39) d = ch - 0x30;
      else if (ch >= 0x41 && ch <= 0x46) d = ch - 0x37;
      else if (ch >= 0x61 && ch <= 0x66) d = ch - 0x57;
      else break;
      v = v * 16 + d;
      p++;
    }
    this.pos = p;
    return p > start && p - start <= 8 ? v : NaN;
  }

  /** Next token as a raw __be32 printed with %08X. */
  be32(): string {
    const v = this.hex();
    if (Number.isNaN(v)) throw this.error("address");
    return LE
      ? `${v & 255}.${(v >>> 8) & 255}.${(v >>> 16) & 255}.${v >>> 24}`
      : `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }

  error(what: string): Error {
    const row = this.pos === 0 ? 0 : this.b.lastIndexOf(0x0a, this.pos - 1) + 1;
    const eol = this.b.indexOf(0x0a, this.pos);
    const line = this.b.toString("latin1", row, eol < 0 ? this.end : eol);
    return new Error(`bad ${what} in /proc row ${JSON.stringify(line)}`);
  }
}

export function bytesOf(input: string | Uint8Array): Buffer {
  if (typeof input === "string") return Buffer.from(input, "latin1");
  return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

/** True when the row is a column header ("Group ...", "Interface ..."): data rows start with a hex digit or '-'. */
export function isHeader(s: Scanner): boolean {
  const ch = (s.b[s.pos] ?? 0) | 0x20; // ASCII lower case
  return !((ch >= 0x30 && ch <= 0x39) || (ch >= 0x61 && ch <= 0x66) || ch === 0x2d);
}

/**
 * Scans an ip_mr_cache or ip6_mr_cache file ("GROUP ORIGIN IIF PKTS BYTES WRONG [VIF:TTL ...]";
 * the families differ only in how addresses are printed, read by `address`), calling
 * `onEntry` per row in kernel order.
 */
export function scanMrCache(
  input: string | Uint8Array,
  address: (s: Scanner) => string,
  onEntry: (e: ProcMfcEntry) => void,
): void {
  const s = new Scanner(bytesOf(input));
  while (s.pos < s.end) {
    if (!s.more() || isHeader(s)) {
      s.nextRow();
      continue;
    }
    const group = address(s);
    const source = address(s);
    const parent = s.int();
    if (Number.isNaN(parent)) throw s.error("iif");
    const packets = s.counter();
    const bytes = s.counter();
    const wrongIf = s.counter();
    const oifs = new Map<number, number>();
    while (s.more()) {
      const vif = s.int();
      if (Number.isNaN(vif) || s.b[s.pos] !== 0x3a) throw s.error("oif");
      s.pos++;
      const ttl = s.int();
      if (Number.isNaN(ttl)) throw s.error("oif ttl");
      oifs.set(vif, ttl);
    }
    onEntry({ source, group, parent, oifs, counters: { packets, bytes, wrongIf }, unresolved: parent < 0 });
    s.nextRow();
  }
}


/**
 * Parses an ip_mr_vif or ip6_mr_vif file ("VIF NAME BYTESIN PKTSIN BYTESOUT PKTSOUT FLAGS ...";
 * the families differ only in the columns after FLAGS, read by `ifindex`, and in what they call
 * the index: `what`, for errors).
 */
export function parseVifRows(input: string | Uint8Array, what: string, ifindex: (s: Scanner, flags: number) => number): ProcVif[] {
  const out: ProcVif[] = [];
  const s = new Scanner(bytesOf(input));
  while (s.pos < s.end) {
    if (!s.more() || isHeader(s)) {
      s.nextRow();
      continue;
    }
    const vif = s.int();
    if (Number.isNaN(vif)) throw s.error(what);
    const name = s.word();
    const inBytes = s.counter();
    const inPackets = s.counter();
    const outBytes = s.counter();
    const outPackets = s.counter();
    const flags = s.hex();
    if (Number.isNaN(flags)) throw s.error("flags");
    out.push({ vif, name, ifindex: ifindex(s, flags), flags, counters: { inPackets, inBytes, outPackets, outBytes } });
    s.nextRow();
  }
  return out;
}

// The counters of every resolved (S,G) entry of one IPv4 multicast table, filled from one
// rtnetlink dump and looked up by (source, group) text. ListRoutes and WatchStats read the
// counters of every route: one dump costs less per entry than a SIOCGETSGCNT ioctl through koffi
// (README "Measured figures in the code"), and this table keeps the dump's bytes as they come (two
// u32 keys and the six u32 words of rta_mfc_stats per entry in typed arrays: no string or object per
// entry until one is looked up).

import type { SgCounters, SgCountersLookup } from "../../engine/kernel-port.js";
import os from "node:os";

/** struct rta_mfc_stats (u64 packets, bytes, wrong_if) as host-order u32 words. */
const WORDS = 6;
const LE = os.endianness() === "LE";
/** Word index of a u64's low and high half. */
const LO = LE ? 0 : 1;
const HI = LE ? 1 : 0;

export class Ipv4SgCounters implements SgCountersLookup {
  #mask: number;
  /** Open addressing: slot i holds (source, group) at keys[2i], keys[2i+1] when used[i]. */
  #keys: Int32Array;
  #used: Uint8Array;
  #stats: Uint32Array;
  #size = 0;

  constructor(expected = 0) {
    let capacity = 64;
    // Load factor ≤ 3/4: 10k entries fit 16384 slots of 33 bytes (keys 8, used 1, stats 4 × WORDS).
    while (capacity * 3 < expected * 4) capacity *= 2;
    this.#mask = capacity - 1;
    this.#keys = new Int32Array(capacity * 2);
    this.#used = new Uint8Array(capacity);
    this.#stats = new Uint32Array(capacity * WORDS);
  }

  get size(): number {
    return this.#size;
  }

  /** Empties the table, keeping its arrays (a reader refilled every second allocates nothing). */
  clear(): void {
    this.#used.fill(0);
    this.#size = 0;
  }

  /**
   * Adds an entry from bytes of a dump message: source and group (network order, 4 bytes) at
   * `sourceAt` / `groupAt` (-1: absent, i.e. 0.0.0.0), its rta_mfc_stats at `statsAt` (-1:
   * absent, all zero).
   */
  addFrom(buf: Buffer, sourceAt: number, groupAt: number, statsAt: number): void {
    if ((this.#size + 1) * 4 > this.#used.length * 3) this.#grow();
    // Keys as int32 (the same 32 bits): small integers for V8, no heap numbers.
    const source = sourceAt < 0 ? 0 : int32BE(buf, sourceAt);
    const group = groupAt < 0 ? 0 : int32BE(buf, groupAt);
    const slot = this.#slot(source, group);
    if (this.#used[slot] === 0) {
      this.#used[slot] = 1;
      this.#keys[slot * 2] = source;
      this.#keys[slot * 2 + 1] = group;
      this.#size++;
    }
    const stats = this.#stats;
    const at = slot * WORDS;
    for (let w = 0; w < WORDS; w++) stats[at + w] = statsAt < 0 ? 0 : hostU32(buf, statsAt + 4 * w);
  }

  /** The entry's counters; undefined when the table has no resolved entry (source, group). */
  get(source: string, group: string): SgCounters | undefined {
    const s = ipv4Number(source);
    const g = ipv4Number(group);
    if (s === undefined || g === undefined) return undefined;
    const slot = this.#slot(s, g);
    if (this.#used[slot] === 0) return undefined;
    const at = slot * WORDS;
    const w = this.#stats;
    // Idle entries (all zero) share one result shape with the busy ones; zero is the shared 0n.
    return {
      packets: u64(w[at + LO] as number, w[at + HI] as number),
      bytes: u64(w[at + 2 + LO] as number, w[at + 2 + HI] as number),
      wrongIf: u64(w[at + 4 + LO] as number, w[at + 4 + HI] as number),
    };
  }

  /** The slot holding (source, group), or the free slot where it would go. */
  #slot(source: number, group: number): number {
    let h = Math.imul(source ^ Math.imul(group, 0x9e3779b1 | 0), 0x85ebca6b | 0);
    h ^= h >>> 15;
    let slot = h & this.#mask;
    const keys = this.#keys;
    while (this.#used[slot] !== 0 && (keys[slot * 2] !== source || keys[slot * 2 + 1] !== group)) {
      slot = (slot + 1) & this.#mask;
    }
    return slot;
  }

  #grow(): void {
    const keys = this.#keys;
    const used = this.#used;
    const stats = this.#stats;
    const capacity = used.length * 2;
    this.#mask = capacity - 1;
    this.#keys = new Int32Array(capacity * 2);
    this.#used = new Uint8Array(capacity);
    this.#stats = new Uint32Array(capacity * WORDS);
    for (let i = 0; i < used.length; i++) {
      if (used[i] === 0) continue;
      const slot = this.#slot(keys[i * 2] as number, keys[i * 2 + 1] as number);
      this.#used[slot] = 1;
      this.#keys[slot * 2] = keys[i * 2] as number;
      this.#keys[slot * 2 + 1] = keys[i * 2 + 1] as number;
      this.#stats.set(stats.subarray(i * WORDS, (i + 1) * WORDS), slot * WORDS);
    }
  }
}

function u64(lo: number, hi: number): bigint {
  if (hi === 0) return lo === 0 ? 0n : BigInt(lo);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function int32BE(buf: Buffer, off: number): number {
  return ((buf[off] as number) << 24) | ((buf[off + 1] as number) << 16) | ((buf[off + 2] as number) << 8) | (buf[off + 3] as number);
}

/** A host-order u32 (as int32 bits: the Uint32Array store makes it unsigned again). */
function hostU32(buf: Buffer, off: number): number {
  const b0 = buf[off] as number;
  const b1 = buf[off + 1] as number;
  const b2 = buf[off + 2] as number;
  const b3 = buf[off + 3] as number;
  return LE ? b0 | (b1 << 8) | (b2 << 16) | (b3 << 24) : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;
}

/** Dotted-quad text → the network-order bytes read as an int32; undefined if not one. */
function ipv4Number(text: string): number | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      octet = octet * 10 + (c - 0x30);
      if (octet > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || dots !== 3) return undefined;
  return (value * 256 + octet) | 0;
}

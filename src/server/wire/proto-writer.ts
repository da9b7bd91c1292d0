// A minimal protobuf writer into one growing Buffer, for the large responses (ListRoutes,
// WatchStats) that are written field by field instead of through ts-proto's generic encoder
// (which builds a chunk list per nested message). It produces the same canonical bytes as
// ts-proto for the same fields: minimal varints, fields in the order the caller writes them.

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Strings shorter than this (in UTF-16 units) are copied by a JS loop when ASCII. */
const SHORT = 64;

export class ProtoWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(sizeHint = 4096) {
    this.#buf = Buffer.allocUnsafe(Math.max(64, sizeHint));
  }

  get length(): number {
    return this.#pos;
  }

  /** The bytes written (a view of the writer's buffer: the writer must not be used afterwards). */
  finish(): Buffer {
    return this.#buf.subarray(0, this.#pos);
  }

  /** A varint of 0..2^32-1 (tags, lengths, uint32 fields, enums ≥ 0). */
  uint32(v: number): this {
    this.#room(5);
    const buf = this.#buf;
    let pos = this.#pos;
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.#pos = pos;
    return this;
  }

  /** A uint64 varint; values up to 2^53 (all real counters) without BigInt arithmetic. */
  uint64(v: bigint): this {
    const n = Number(v);
    if (n <= MAX_SAFE) return this.#varintNumber(n);
    this.#room(10);
    const buf = this.#buf;
    let pos = this.#pos;
    let big = BigInt.asUintN(64, v);
    while (big > 0x7fn) {
      buf[pos++] = Number(big & 0x7fn) | 0x80;
      big >>= 7n;
    }
    buf[pos++] = Number(big);
    this.#pos = pos;
    return this;
  }

  double(v: number): this {
    this.#room(8);
    this.#buf.writeDoubleLE(v, this.#pos);
    this.#pos += 8;
    return this;
  }

  /** A length-delimited UTF-8 string (tag included). */
  string(tag: number, s: string): this {
    this.uint32(tag);
    const units = s.length;
    if (units < SHORT) {
      // Short ASCII (names, addresses, owners): copied in JS, cheaper than a Buffer.write call.
      this.#room(1 + units);
      const buf = this.#buf;
      const at = this.#pos + 1;
      let i = 0;
      while (i < units) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i++] = c;
      }
      if (i === units) {
        buf[at - 1] = units;
        this.#pos = at + units;
        return this;
      }
    }
    // A UTF-16 unit is at most 3 UTF-8 bytes: under 43 units the length is one varint byte.
    if (units * 3 < 0x80) {
      this.#room(1 + units * 3);
      const n = this.#buf.write(s, this.#pos + 1, "utf8");
      this.#buf[this.#pos] = n;
      this.#pos += 1 + n;
      return this;
    }
    const n = Buffer.byteLength(s, "utf8");
    this.uint32(n);
    this.#room(n);
    this.#pos += this.#buf.write(s, this.#pos, "utf8");
    return this;
  }

  /** A length-delimited field whose body is already encoded (tag included). */
  bytes(tag: number, body: Uint8Array): this {
    this.uint32(tag).uint32(body.length);
    this.#room(body.length);
    this.#buf.set(body, this.#pos);
    this.#pos += body.length;
    return this;
  }

  /** Bytes already encoded as fields of the current message, copied as they are. */
  raw(fields: Uint8Array, start = 0, end = fields.length): this {
    this.#room(end - start);
    this.#buf.set(fields.subarray(start, end), this.#pos);
    this.#pos += end - start;
    return this;
  }

  /**
   * Bytes kept as a latin1 string (one char per byte: a compact cache format), copied as
   * they are: the first `length` of them.
   */
  rawLatin1(bytes: string, length = bytes.length): this {
    this.#room(length);
    const buf = this.#buf;
    const at = this.#pos;
    if (length < SHORT * 2) for (let i = 0; i < length; i++) buf[at + i] = bytes.charCodeAt(i);
    else buf.write(bytes, at, length, "latin1");
    this.#pos += length;
    return this;
  }

  /** Starts a nested message field: write its fields, then join() with what this returned. */
  fork(tag: number): number {
    this.uint32(tag);
    this.#room(1);
    // One byte reserved for the length: nearly every nested message here is < 128 bytes.
    return this.#pos++;
  }

  /** Ends a nested message started at `at` by fork(), writing its length. */
  join(at: number): this {
    const len = this.#pos - at - 1;
    if (len < 0x80) {
      this.#buf[at] = len;
      return this;
    }
    const extra = varintSize(len) - 1;
    this.#room(extra);
    this.#buf.copyWithin(at + 1 + extra, at + 1, this.#pos);
    let pos = at;
    let v = len;
    while (v > 0x7f) {
      this.#buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.#buf[pos] = v;
    this.#pos += extra;
    return this;
  }

  #varintNumber(n: number): this {
    if (n <= 0xffffffff) return this.uint32(n);
    this.#room(10);
    const buf = this.#buf;
    let pos = this.#pos;
    while (n > 0x7f) {
      buf[pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[pos++] = n;
    this.#pos = pos;
    return this;
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }
}

function varintSize(v: number): number {
  let n = 1;
  while (v > 0x7f) {
    v >>>= 7;
    n++;
  }
  return n;
}

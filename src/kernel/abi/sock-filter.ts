// Classic BPF programs for SO_ATTACH_FILTER: struct sock_filter { u16 code; u8 jt, jf; u32 k; }
// in host order, 8 bytes per instruction.
import { writeU16, writeU32 } from "./struct-fields.js";

/** One instruction: [code, jt, jf, k]. */
export type SockFilterInsn = readonly [code: number, jt: number, jf: number, k: number];

/** `ret #k`: accept k bytes of the packet (0 drops it). */
export const BPF_RET_K = 0x06;

export function encodeSockFilter(prog: readonly SockFilterInsn[]): Buffer {
  const buf = Buffer.alloc(8 * prog.length);
  prog.forEach(([code, jt, jf, k], i) => {
    writeU16(buf, 8 * i, code);
    buf[8 * i + 2] = jt;
    buf[8 * i + 3] = jf;
    writeU32(buf, 8 * i + 4, k);
  });
  return buf;
}

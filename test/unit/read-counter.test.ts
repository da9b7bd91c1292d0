import { describe, expect, it } from "vitest";
import { readCounter } from "../../src/kernel/abi/read-counter.js";

describe("readCounter", () => {
  it("reads host-order u64 values exactly, on both sides of 2^32", () => {
    const buf = Buffer.alloc(16);
    for (const v of [0n, 1n, 0xffff_ffffn, 0x1_0000_0000n, 0x1_2345_6789n, 2n ** 53n + 1n, 2n ** 64n - 1n]) {
      buf.writeBigUInt64LE(v, 4);
      expect(readCounter(buf, 4)).toBe(v);
    }
  });
});

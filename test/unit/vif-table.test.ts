import { describe, expect, it } from "vitest";
import { MAX_VIFS, VifTable } from "../../src/engine/vif-table.js";

describe("VifTable", () => {
  it("hands out the lowest free indexes, skipping blocked ones", () => {
    const t = new VifTable();
    t.insert(0, "a", 10);
    t.insert(2, "b", 11);
    expect(t.freeIndexes(3)).toEqual([1, 3, 4]);
    expect(t.freeIndexes(2, new Set([1, 3]))).toEqual([4, 5]);
    expect(t.byIfindex(11)?.vif).toBe(2);
    t.remove(0);
    expect(t.freeIndexes(1)).toEqual([0]);
  });

  it("knows its 32-slot limit", () => {
    const t = new VifTable();
    for (let i = 0; i < MAX_VIFS; i++) t.insert(i, `e${i}`, 100 + i);
    expect(t.freeCount()).toBe(0);
    expect(t.freeIndexes(1)).toBeUndefined();
    expect(() => t.insert(32, "x", 1)).toThrow(RangeError);
    expect(() => t.insert(3, "x", 1)).toThrow(/already/);
  });
});

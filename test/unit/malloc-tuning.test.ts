import { describe, expect, it } from "vitest";
import { DAEMON_MALLOC_TUNING, tuneMalloc } from "../../src/kernel/system/malloc-tuning.js";

// mallopt() has no getter; what can be checked is which parameters mfcd sets and that an
// operator's environment wins. (Its effect on RSS is a bench figure: bench/list-watch.ts.)
describe("tuneMalloc", () => {
  it("sets the arena limit and the mmap/trim thresholds through glibc's mallopt", () => {
    expect(tuneMalloc(DAEMON_MALLOC_TUNING, {})).toEqual(["MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=65536", "MALLOC_TRIM_THRESHOLD_=65536"]);
  });

  it("leaves a parameter alone when the environment sets it", () => {
    expect(tuneMalloc(DAEMON_MALLOC_TUNING, { MALLOC_ARENA_MAX: "4", MALLOC_TRIM_THRESHOLD_: "0" })).toEqual(["MALLOC_MMAP_THRESHOLD_=65536"]);
  });
});

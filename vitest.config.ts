import { defineConfig } from "vitest/config";
import { bound } from "./test/helpers/time-bounds.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    // Kernel and namespace tests create real network namespaces; run files one at a time so
    // traffic assertions are not disturbed by CPU starvation on small CI machines.
    fileParallelism: false,
    // Bounds, not expectations: scaled in a user-mode Linux guest (test/helpers/time-bounds.ts).
    testTimeout: bound(60_000),
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ["default", "json"],
    outputFile: { json: ".vitest-report.json" },
    hookTimeout: bound(60_000),
  },
});

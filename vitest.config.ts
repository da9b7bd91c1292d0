import { defineConfig } from "vitest/config";

// A user-mode Linux guest is one slow CPU (Node starts in ~1 s): bounds there are 5× longer.
const slow = process.env.MFCD_IN_UML_GUEST === "1" ? 5 : 1;

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    // Kernel and namespace tests create real network namespaces; run files one at a time so
    // traffic assertions are not disturbed by CPU starvation on small CI machines.
    fileParallelism: false,
    testTimeout: 60_000 * slow,
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ["default", "json"],
    outputFile: { json: ".vitest-report.json" },
    hookTimeout: 60_000 * slow,
  },
});

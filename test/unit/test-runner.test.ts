// The test runner's decisions (scripts/test-runner): what a file needs, where it runs, how files
// are shared among guests — and that no kernel-touching test file forgets to say what it needs
// (it would run natively on a host that lacks it and fail, or be skipped silently).
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import {
  descendants,
  finishedFiles,
  finishedReport,
  GUEST_SILENCE_MS,
  guestSilenceMs,
  killDescendants,
  silenceTimer,
} from "../../scripts/test-runner/guest-watchdog.js";
import { declaresNeeds, listTestFiles, parseNeeds, type KernelNeed, type TestFile } from "../../scripts/test-runner/test-needs.js";
import { planTests, shard } from "../../scripts/test-runner/test-plan.js";
import { kernelRunner } from "../../scripts/uml/kernel-runner.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const file = (name: string, needs: KernelNeed[]): TestFile => ({ file: name, needs, size: 1000 });

describe("// kernel-needs:", () => {
  it("parses the needs, none, and refuses unknown words and empty lines", () => {
    expect(parseNeeds("// kernel-needs: ipv4 nft\nimport x", "a")).toEqual(["ipv4", "nft"]);
    expect(parseNeeds("// kernel-needs: none\n", "a")).toEqual([]);
    expect(parseNeeds("import x\n", "a")).toEqual([]);
    expect(() => parseNeeds("// kernel-needs: ipv4 ipv7\n", "a.test.ts")).toThrow(/a\.test\.ts: unknown kernel need "ipv7"/);
    expect(() => parseNeeds("// kernel-needs:\n", "a")).toThrow(/names nothing/);
  });

  it("is declared by every test file that builds a lab, starts mfcd or opens a kernel socket", () => {
    const kernelTouching = /helpers\/(lab|netns|mfcd-process|traffic6?|foreign-mroute|kernel-view|ns-client)\.js|src\/kernel\/(index|mroute\/(index|mroute6?-socket)|nft\/|poll\/(index|rtnetlink|upcall-reader)|netlink\/|system\/(sysctl|netstat))|experiments\/kit\.js|scripts\/demo/;
    const undeclared = listTestFiles(ROOT)
      .map((f) => ({ f, text: fs.readFileSync(path.join(ROOT, f.file), "utf8") }))
      .filter(({ text }) => kernelTouching.test(text) && !declaresNeeds(text))
      .map(({ f }) => f.file);
    expect(undeclared).toEqual([]);
  });
});

describe("planTests", () => {
  const files = [file("unit", []), file("v4", ["ipv4"]), file("v6", ["ipv6"]), file("partial", ["debian-uml"])];
  const host = new Set<KernelNeed>(["ipv4", "nft"]);

  it("auto: what the host has runs natively, the rest in the guest", () => {
    const p = planTests(files, host, "auto");
    expect(p.native.map((f) => f.file)).toEqual(["unit", "v4"]);
    expect(p.guest.map((f) => f.file)).toEqual(["v6"]);
    expect(p.debianGuest.map((f) => f.file)).toEqual(["partial"]);
    expect(p.unrunnable).toEqual([]);
  });

  it("uml: every kernel test in a guest, unit tests natively", () => {
    const p = planTests(files, host, "uml");
    expect(p.native.map((f) => f.file)).toEqual(["unit"]);
    expect(p.guest.map((f) => f.file)).toEqual(["v4", "v6"]);
  });

  it("host: what the host lacks runs nowhere, with what is missing", () => {
    const p = planTests(files, host, "host");
    expect(p.native.map((f) => f.file)).toEqual(["unit", "v4"]);
    expect(p.guest).toEqual([]);
    expect(p.unrunnable.map((u) => [u.file.file, u.missing])).toEqual([["v6", ["ipv6"]], ["partial", ["debian-uml"]]]);
  });
});

describe("planTests: files that boot the guest kernel themselves", () => {
  it("run natively in every mode, in a batch of their own (started once the guest kernel is built)", () => {
    const files = [file("unit", []), file("demo-uml", ["uml-kernel"]), file("v6", ["ipv6"])];
    for (const mode of ["auto", "uml", "host"] as const) {
      const p = planTests(files, new Set<KernelNeed>(["ipv4"]), mode);
      expect(p.nativeWithKernel.map((f) => f.file)).toEqual(["demo-uml"]);
      expect(p.native.map((f) => f.file)).toEqual(["unit"]);
    }
    expect(parseNeeds("// kernel-needs: uml-kernel\n", "a")).toEqual(["uml-kernel"]);
  });
});

describe("shard", () => {
  it("balances by weight, longest first, and never makes empty shards", () => {
    const s = shard([5, 4, 3, 3, 1], 2, (n) => n);
    expect(s.map((x) => x.reduce((a, b) => a + b, 0)).sort()).toEqual([8, 8]);
    expect(shard([7], 4, (n) => n)).toEqual([[7]]);
  });
});

describe("MFCD_KERNEL", () => {
  it("is host, uml or auto (default auto), anything else is an error naming the variable", () => {
    expect(kernelRunner({})).toBe("auto");
    expect(kernelRunner({ MFCD_KERNEL: "uml" })).toBe("uml");
    expect(() => kernelRunner({ MFCD_KERNEL: "kvm" })).toThrow(/MFCD_KERNEL=kvm/);
  });
});

describe("guest watchdog", () => {
  it("reads the files a guest finished from vitest's output, colours and prefixes aside", () => {
    const lines = [
      " \u001b[32m✓\u001b[39m test/e2e/a.test.ts \u001b[2m(\u001b[22m\u001b[2m3 tests\u001b[22m\u001b[2m)\u001b[22m\u001b[33m 6905\u001b[2mms",
      "     ✓ a slow test inside a.test.ts 1822ms",
      " ❯ test/e2e/b.test.ts (5 tests | 1 failed | 2 skipped) 9s",
      " ✓ test/kernel/c.test.ts (1 test) 12ms",
      "   × test/e2e/not-a-file-line",
    ];
    expect(finishedFiles(lines)).toEqual([
      { file: "test/e2e/a.test.ts", tests: 3, failed: 0, skipped: 0 },
      { file: "test/e2e/b.test.ts", tests: 5, failed: 1, skipped: 2 },
      { file: "test/kernel/c.test.ts", tests: 1, failed: 0, skipped: 0 },
    ]);
    const r = finishedReport("/r", finishedFiles(lines));
    expect([r.numTotalTests, r.numPassedTests, r.numFailedTests, r.numPendingTests, r.success]).toEqual([9, 6, 1, 2, false]);
    expect(r.testResults.map((t) => t.name)).toContain("/r/test/e2e/b.test.ts");
  });

  it("stops a silent run: every process under it is killed, the run itself ends on its own", async () => {
    // A shell that waits on a child which never prints, like run-in-guest.sh waiting on a stuck kernel.
    const sh = spawn("bash", ["-c", "sleep 300 & sleep 300 & wait; echo after"], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    sh.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    await vi.waitFor(() => expect(descendants(sh.pid!)).toHaveLength(2), { timeout: 10_000, interval: 20 });
    const fired = new Promise<void>((resolve) => silenceTimer(50, resolve));
    await fired;
    expect(killDescendants(sh.pid!)).toBe(2);
    const code = await new Promise<number | null>((resolve) => sh.once("close", resolve));
    expect(code).toBe(0);
    expect(out).toBe("after\n");
  });

  it("the silence limit is MFCD_UML_SILENCE_S seconds, 20 min by default", () => {
    expect(guestSilenceMs({})).toBe(GUEST_SILENCE_MS);
    expect(guestSilenceMs({ MFCD_UML_SILENCE_S: "30" })).toBe(30_000);
    expect(guestSilenceMs({ MFCD_UML_SILENCE_S: "x" })).toBe(GUEST_SILENCE_MS);
  });
});

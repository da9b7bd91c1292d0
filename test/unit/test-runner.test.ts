// The test runner's decisions (scripts/test-runner): what a file needs, where it runs, how files
// are shared among guests — and that no kernel-touching test file forgets to say what it needs
// (it would run natively on a host that lacks it and fail, or be skipped silently).
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
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

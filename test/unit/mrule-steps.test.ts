// kernel-needs: none
// Issue 11 §3: one failing shutdown step skipped the remaining mrule removals and the state file
// close (they were one promise chain). Now each rule's removal is its own cleanup step.
import { describe, expect, it } from "vitest";
import type { Mrule } from "../../src/kernel/netlink/index.js";
import { CleanupStack, installMrules } from "../../src/server/lifecycle/index.js";
import { createLogger } from "../../src/server/config/index.js";

const rules: Mrule[] = [
  { family: "ipv4", iif: "st0", table: 11 },
  { family: "ipv6", iif: "st1", table: 12 },
  { family: "ipv4", iif: "st2", table: 13 },
];

function fakeKernel(failDel: string | undefined) {
  const log: string[] = [];
  return {
    log,
    deps: {
      ensureTable: (family: string, table: number) => void log.push(`own ${family} ${table}`),
      add: (r: Mrule) => void log.push(`add ${r.iif}`),
      del: (r: Mrule) => {
        if (r.iif === failDel) throw new Error("mrule del: EPERM");
        log.push(`del ${r.iif}`);
      },
    },
  };
}

describe("installMrules", () => {
  it("owns each table before adding its rule", () => {
    const k = fakeKernel(undefined);
    installMrules(rules, k.deps, new CleanupStack(), createLogger("silent"));
    expect(k.log).toEqual(["own ipv4 11", "add st0", "own ipv6 12", "add st1", "own ipv4 13", "add st2"]);
  });

  it("a rule whose removal fails does not keep the other rules or the state file close from running", async () => {
    const k = fakeKernel("st1");
    const cleanup = new CleanupStack();
    let stateClosed = false;
    cleanup.push("state file", () => {
      stateClosed = true;
    });
    installMrules(rules, k.deps, cleanup, createLogger("silent"));
    cleanup.push("gRPC server", () => Promise.reject(new Error("listener would not close")));
    k.log.length = 0;
    const failures = await cleanup.unwind();
    expect(k.log).toEqual(["del st2", "del st0"]);
    expect(stateClosed).toBe(true);
    expect(failures.map((f) => f.name)).toEqual(["gRPC server", "mrule ipv6 iif st1 lookup 12"]);
  });

  it("a rule that cannot be added stops there: the rules added before it are still removed", async () => {
    const k = fakeKernel(undefined);
    const cleanup = new CleanupStack();
    const add = k.deps.add;
    k.deps.add = (r) => {
      if (r.iif === "st1") throw new Error("mrule add: ENODEV");
      add(r);
    };
    expect(() => installMrules(rules, k.deps, cleanup, createLogger("silent"))).toThrow(/ENODEV/);
    k.log.length = 0;
    await cleanup.unwind();
    expect(k.log).toEqual(["del st0"]);
  });
});

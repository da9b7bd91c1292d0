// kernel-needs: none
// The shape issue 11 gave the code, checked so that it stays: the route engine is a small façade
// over one file per seam, and the IPv4 and IPv6 files hold only what differs between the
// families (a near-copy between them is a change that has to be made twice).
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const read = (rel: string): string => fs.readFileSync(path.join(ROOT, rel), "utf8");
const lineCount = (rel: string): number => read(rel).split("\n").length;

function walk(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === "gen" ? [] : walk(rel);
    return /\.(ts|mjs)$/.test(e.name) ? [rel] : [];
  });
}

/**
 * Code lines with the family spelled away (MRT6→MRT, MIF→VIF, every 4 and 6 dropped), without
 * comments, imports and lines of closing brackets: what is left of a line is the same text in
 * an IPv4 file and its IPv6 twin exactly when the line was copied.
 */
export function familyFree(text: string): string[] {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .split("\n")
    .map((l) => l.replace(/\/\/.*$/, "").trim())
    .map((l) => l.replace(/MRT6/g, "MRT").replace(/MIF/g, "VIF").replace(/Mif/g, "Vif").replace(/mif/g, "vif").replace(/[46]/g, ""))
    .filter((l) => l.length >= 8 && !l.startsWith("import") && !/^[})\];,]+$/.test(l));
}

/** Lines of `a` inside a run of ≥ `minRun` consecutive lines that `b` also has, in order. */
export function copiedLines(a: string[], b: string[], minRun = 4): number {
  const copied = new Array<boolean>(a.length).fill(false);
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const cur = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) {
      if (a[i - 1] !== b[j - 1]) continue;
      const run = (prev[j - 1] ?? 0) + 1;
      cur[j] = run;
      if (run >= minRun) copied.fill(true, i - run, i);
    }
    prev = cur;
  }
  return copied.filter(Boolean).length;
}

/** Pairs of files whose names differ only by a "6": mroute-socket.ts / mroute6-socket.ts. */
function familyTwins(): [string, string][] {
  const files = [...walk("src"), ...walk("test"), ...walk("bench"), ...walk("scripts")];
  const set = new Set(files);
  return files.flatMap((f6) => {
    const base = path.basename(f6);
    if (!base.includes("6")) return [];
    const twins = [base.replace("6", ""), base.replace("6", "4")].map((b) => path.join(path.dirname(f6), b));
    return twins.filter((t) => t !== f6 && set.has(t)).map((t): [string, string] => [t, f6]);
  });
}

describe("IPv4 and IPv6", () => {
  it("the near-copy detector finds a copied block with the family renamed, and nothing in unrelated code", () => {
    const v4 = "function addVif(v: number) {\n  const req = encodeVifctl(v);\n  setsockopt(IPPROTO_IP, MRT_ADD_VIF, req);\n  this.vifs.set(v, req);\n  return req.length;\n}";
    const v6 = v4.replace(/Vif/g, "Mif").replace(/MRT_ADD_VIF/g, "MRT6_ADD_MIF").replace(/vifs/g, "mifs");
    expect(copiedLines(familyFree(v4), familyFree(v6))).toBe(5);
    expect(copiedLines(familyFree(v4), familyFree("const a = 1;\nconst b = parseIpv6(text);\n"))).toBe(0);
  });

  it("no file and its IPv6 twin share a block of 4 or more lines (the family is a descriptor, not a copy)", () => {
    const twins = familyTwins();
    expect(twins.map(([, f6]) => f6)).toContain("src/kernel/mroute/mroute6-socket.ts");
    const copies = twins
      .map(([f4, f6]) => ({ f4, f6, lines: copiedLines(familyFree(read(f4)), familyFree(read(f6))) }))
      .filter((c) => c.lines > 0);
    expect(copies).toEqual([]);
  });
});

describe("the route engine", () => {
  // The seams issue 11 named, each one file exporting what it is named after.
  const SEAMS: Record<string, string> = {
    "kernel-table.ts": "KernelTable", // one (family, table): VIFs, foreign VIFs, entry writes
    "kernel-tables.ts": "KernelTables", // which tables are open; reads never open one
    "route-index.ts": "RouteIndex", // routes by name and by kernel key
    "template-learning.ts": "TemplateLearning", // upcalls, learned entries, stop filters, expiry
    "reconciler.ts": "Reconciler", // links, interface sync, drift
    "route-read-model.ts": "RouteReadModel", // ListRoutes / WatchStats / Diagnose views
    "apply-plan.ts": "planApply", // the pure diff of ApplyRoutes + VIF capacity check
    "route-errors.ts": "routeNotFound", // error builders and reason strings
    "route-engine.ts": "RouteEngine", // the façade
  };

  it("is a façade over one file per seam", () => {
    for (const [file, name] of Object.entries(SEAMS)) {
      expect(read(`src/engine/${file}`), `${file} exports ${name}`).toMatch(new RegExp(`^export (class|interface|type|function|const) ${name}\\b`, "m"));
    }
    // It was 1,585 lines with 58 methods over ~10 maps; the façade delegates.
    expect(lineCount("src/engine/route-engine.ts")).toBeLessThan(500);
    for (const f of walk("src/engine")) expect(lineCount(f), f).toBeLessThan(500);
  });

  it("keeps its reason strings as named constants in route-errors.ts, not inline in the seams", () => {
    const inline = walk("src/engine")
      .filter((f) => !f.endsWith("route-errors.ts") && !f.endsWith("diagnose-flow.ts"))
      .flatMap((f) => [...read(f).matchAll(/reason:\s*"([A-Z_]{4,})"/g)].map((m) => `${f}: ${m[1]}`));
    expect(inline).toEqual([]);
  });
});

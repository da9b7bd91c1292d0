// Summarises a V8 .cpuprofile (e.g. from `npm run bench -- --profile`): the functions with the
// most self time, and the heaviest inclusive frames, with paths made relative to the repo.
//
//   npx tsx bench/profile-top.ts bench/profiles/<run>/<file>.cpuprofile [--top 30]

import fs from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

function label(f: CallFrame): string {
  const url = f.url.replace(/^file:\/\//, "").replace(/^.*\/node_modules\//, "~/").replace(/^.*\/(src|dist)\//, "$1/");
  return `${f.functionName || "(anonymous)"} ${url ? `${url}:${f.lineNumber + 1}` : ""}`.trim();
}

function main(): void {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: { top: { type: "string", default: "30" } },
    allowPositionals: true,
  });
  const file = positionals[0];
  if (!file) {
    process.stderr.write("usage: tsx bench/profile-top.ts FILE.cpuprofile [--top N]\n");
    process.exitCode = 2;
    return;
  }
  const top = Number(values.top ?? "30");
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totalHits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const msPerHit = (profile.endTime - profile.startTime) / 1000 / Math.max(1, totalHits);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  // Inclusive hits per node, then per label counted once per stack (no double counting in recursion).
  const walk = (id: number, onStack: Set<string>): number => {
    const node = byId.get(id);
    if (!node) return 0;
    const name = label(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + (node.hitCount ?? 0));
    const fresh = !onStack.has(name);
    if (fresh) onStack.add(name);
    let hits = node.hitCount ?? 0;
    for (const child of node.children ?? []) hits += walk(child, onStack);
    if (fresh) {
      onStack.delete(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + hits);
    }
    return hits;
  };
  const root = profile.nodes[0];
  if (root) walk(root.id, new Set());

  const idle = ["(idle)", "(program)", "(garbage collector)"].map((n) => `${n}: ${((self.get(n) ?? 0) * msPerHit).toFixed(0)} ms`);
  const out: string[] = [`${file}`, `${totalHits} samples, ${(totalHits * msPerHit).toFixed(0)} ms; ${idle.join(", ")}`, ""];
  const busy = totalHits - (self.get("(idle)") ?? 0);
  const print = (title: string, m: Map<string, number>) => {
    out.push(`${title} (% of non-idle samples)`);
    [...m.entries()]
      .filter(([name]) => name !== "(idle)" && name !== "(root)")
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .forEach(([name, hits]) => {
        out.push(`${((hits / Math.max(1, busy)) * 100).toFixed(1).padStart(6)} %  ${(hits * msPerHit).toFixed(0).padStart(6)} ms  ${name}`);
      });
    out.push("");
  };
  print("self time", self);
  print("inclusive time", inclusive);
  // One write: a reader that stops early (| head) then costs no EPIPE trace.
  process.stdout.on("error", () => undefined);
  process.stdout.write(out.join("\n") + "\n");
}

main();

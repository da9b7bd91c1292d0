// Generated code is committed; this fails when it no longer matches proto/mfc.proto
// (fix: `npm run generate` and commit).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-gen-"));
const buf = path.join(root, "node_modules/.bin/buf");
const env = { ...process.env, PATH: `${path.join(root, "node_modules/.bin")}:${process.env.PATH ?? ""}` };

function files(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => fs.statSync(path.join(dir, f)).isFile())
    .sort();
}

describe("generated code", () => {
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("src/gen/*.ts is what `npm run generate` produces from proto/mfc.proto", () => {
    execFileSync(buf, ["generate", "-o", tmp], { cwd: root, env });
    const fresh = path.join(tmp, "src/gen");
    const committed = path.join(root, "src/gen");
    const tsFiles = files(fresh);
    expect(tsFiles.length).toBeGreaterThan(0);
    expect(files(committed).filter((f) => f.endsWith(".ts"))).toEqual(tsFiles);
    for (const f of tsFiles) {
      expect(fs.readFileSync(path.join(committed, f), "utf8"), `${f} is stale: run npm run generate`).toBe(
        fs.readFileSync(path.join(fresh, f), "utf8"),
      );
    }
  });

  it("src/gen/mfc.binpb (reflection descriptor set) matches proto/mfc.proto", () => {
    const out = path.join(tmp, "mfc.binpb");
    execFileSync(buf, ["build", "-o", out], { cwd: root, env });
    expect(Buffer.compare(fs.readFileSync(out), fs.readFileSync(path.join(root, "src/gen/mfc.binpb")))).toBe(0);
  });
});

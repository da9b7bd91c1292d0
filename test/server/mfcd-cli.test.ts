// The installed entry point (`npx mfcd`, the package's bin built by `npm ci`) and its flags.
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const run = async (args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)("npx", ["mfcd", ...args], { cwd: root, encoding: "utf8" });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

describe("npx mfcd", () => {
  // npx reuses a cached link to this checkout without re-running bin-links' chmod, and sh reports a
  // non-executable bin as "not found" (127): the build itself must leave the entry point executable.
  it("the built bin is executable", () => {
    expect(() => accessSync(path.join(root, "dist/server/main.js"), constants.X_OK)).not.toThrow();
  });

  it("--help prints usage and exits 0", async () => {
    const r = await run(["--help"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("--listen ADDR");
  });

  it("an unknown flag exits 2 naming it", async () => {
    const r = await run(["--lisen", "x"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("--lisen");
  });

  it("a bad --listen exits 2 explaining the format", async () => {
    const r = await run(["--listen", "nowhere"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("expected unix:/path or host:port");
  });
});

// packageFileUrl finds the package root from a module at any depth (source, tsc's dist/, the
// bundle's dist/server/*.js), so package.json and the descriptor set are read the same way.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { packageFileUrl } from "../../src/shared/package-file.js";

const root = path.resolve(import.meta.dirname, "../..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mfct-package-file-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("packageFileUrl", () => {
  it.each(["src/server/rpc/reflection.ts", "src/cli/to-proto-json.ts", "dist/server/main.js", "dist/server/rpc/reflection.js"])(
    "from %s: the repository's files",
    (module) => {
      const from = pathToFileURL(path.join(root, module)).href;
      expect(packageFileUrl("package.json", from).href).toBe(pathToFileURL(path.join(root, "package.json")).href);
      expect(fs.existsSync(packageFileUrl("src/gen/mfc.binpb", from))).toBe(true);
    },
  );

  it("the nearest package.json wins, and none above is an error", () => {
    fs.mkdirSync(path.join(tmp, "pkg/dist/server"), { recursive: true });
    fs.writeFileSync(path.join(tmp, "pkg/package.json"), "{}");
    const from = pathToFileURL(path.join(tmp, "pkg/dist/server/main.js")).href;
    expect(packageFileUrl("package.json", from).href).toBe(pathToFileURL(path.join(tmp, "pkg/package.json")).href);
    expect(() => packageFileUrl("package.json", "file:///nonexistent-mfct-dir/a/b.js")).toThrow(/no package.json/);
  });
});

// For tests that run mfcd as an unprivileged user: the checkout may live under a directory
// others cannot enter (CI clones into `mktemp -d`, mode 0700), so `nobody` could not load the
// bin. This stages what the bundled bin needs at run time — dist/, koffi (external, native) and
// its platform package, the descriptor set for reflection and package.json ("type": "module") —
// once per test process, in a world-readable temporary directory removed at exit.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { onProcessExit } from "./netns.js";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
let staged: string | undefined;

/** Path of dist/server/main.js in the staged copy (readable and executable by every user). */
export function readableMfcdMain(): string {
  if (staged === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfct-runtime-"));
    onProcessExit(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.chmodSync(dir, 0o755);
    fs.cpSync(path.join(REPO_ROOT, "dist"), path.join(dir, "dist"), { recursive: true });
    // koffi loads its native part from the platform package beside it (@koromix/koffi-<platform>).
    for (const pkg of ["koffi", "@koromix"]) {
      const from = path.join(REPO_ROOT, "node_modules", pkg);
      if (fs.existsSync(from)) fs.cpSync(from, path.join(dir, "node_modules", pkg), { recursive: true });
    }
    fs.mkdirSync(path.join(dir, "src/gen"), { recursive: true });
    fs.copyFileSync(path.join(REPO_ROOT, "src/gen/mfc.binpb"), path.join(dir, "src/gen/mfc.binpb"));
    fs.copyFileSync(path.join(REPO_ROOT, "package.json"), path.join(dir, "package.json"));
    // mkdtemp/cpSync keep the source modes; make sure every directory is enterable and every file readable.
    const open = (p: string) => {
      const st = fs.statSync(p);
      fs.chmodSync(p, st.mode | (st.isDirectory() ? 0o555 : 0o444));
      if (st.isDirectory()) for (const e of fs.readdirSync(p)) open(path.join(p, e));
    };
    open(dir);
    staged = dir;
  }
  return path.join(staged, "dist/server/main.js");
}

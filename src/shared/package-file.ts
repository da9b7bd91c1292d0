// Files of the mfcd package itself (package.json, src/gen/mfc.binpb), found from any module of
// it: a module's depth differs between its source (src/server/rpc/reflection.ts), tsc's output
// (dist/server/rpc/reflection.js) and the bundle (dist/server/*.js, every chunk next to main.js),
// so no fixed "../.." fits all. The package root is the nearest directory above the module that
// holds a package.json — the one Node itself reads for the module's "type".

import fs from "node:fs";

/** URL of `relative` (e.g. "package.json") in the package of the module at `from` (its import.meta.url). */
export function packageFileUrl(relative: string, from: string): URL {
  let dir = new URL(".", from);
  for (;;) {
    if (fs.existsSync(new URL("package.json", dir))) return new URL(relative, dir);
    const parent = new URL("..", dir);
    if (parent.href === dir.href) throw new Error(`no package.json in any directory above ${from}`);
    dir = parent;
  }
}

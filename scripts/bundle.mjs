#!/usr/bin/env node
// Bundles the package's two bins, each with everything it imports (node_modules included), into
// one ES module: the daemon src/server/main.ts → OUTDIR/server/main.js and mfcctl
// src/cli/main.ts → OUTDIR/cli/main.js (default OUTDIR: dist; tsc's per-file output of the CLI
// is replaced). Why: Node resolves and compiles ~400 separate modules of grpc-js, nice-grpc,
// pino... at every start; one file starts ~90 ms faster and with ~14 MiB less RSS, and in a
// user-mode Linux guest, where every file access is a slow syscall, seconds faster — the CLI's
// tests start it hundreds of times. What main.ts imports dynamically (the gRPC server, the
// config-file parser) is split into chunks, OUTDIR/server/*-HASH.js.
//
// The code of worker threads is bundled as entries of its own, OUTDIR/server/NAME.js for each
// src/kernel/poll/NAME.ts in WORKER_MODULES (shared code goes to chunks like the main thread's):
// src/kernel/poll/worker-module.ts finds NAME.js next to the module that names it, and every
// module of the bundle sits in OUTDIR/server.
//
// koffi stays external (a native addon, resolved from node_modules at run time). The shebang
// (with its node flags) is kept from each main.ts; the files are made executable because npx
// may reuse a link without chmod. package.json (src/server/config/daemon-info.ts) and
// src/gen/mfc.binpb (src/server/rpc/reflection.ts, src/cli/to-proto-json.ts) are read from the
// package root, the nearest directory above the module holding a package.json
// (src/shared/package-file.ts), whatever the module's depth in src/, in dist/ or in the bundle.
//
//   node scripts/bundle.mjs [OUTDIR]

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.resolve(process.argv[2] ?? path.join(root, "dist"));
const outdir = path.join(dist, "server");

/** Worker-side modules, all in WORKER_DIR: the poll hub's thread and the handler modules it imports. */
const WORKER_DIR = "src/kernel/poll";
const WORKER_MODULES = ["poll-hub-worker", "upcall-reader-handler", "rtnetlink-monitor-handler"];

// Chunks sit next to main.js, so that a worker-side module is found next to every chunk that
// names it (src/kernel/poll/worker-module.ts). Their names end in a content hash: drop the
// previous build's.
const CHUNK = /-[A-Z2-7]{8}\.js$/;
if (fs.existsSync(outdir)) for (const f of fs.readdirSync(outdir)) if (CHUNK.test(f)) fs.rmSync(path.join(outdir, f));
/** What both bundles share: ESM for Node 20, koffi external, require() for CommonJS deps. */
const common = {
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["koffi"],
  // CommonJS dependencies (grpc-js, pino) call require() for Node built-ins.
  banner: { js: 'import { createRequire as __mfcdRequire } from "node:module"; const require = __mfcdRequire(import.meta.url);' },
  logLevel: "warning",
};
await build({
  ...common,
  entryPoints: {
    main: path.join(root, "src/server/main.ts"),
    ...Object.fromEntries(WORKER_MODULES.map((name) => [name, path.join(root, WORKER_DIR, `${name}.ts`)])),
  },
  outdir,
  splitting: true,
  chunkNames: "[name]-[hash]",
});
// mfcctl: one file; allowOverwrite because tsc wrote dist/cli/main.js first.
await build({ ...common, entryPoints: [path.join(root, "src/cli/main.ts")], outfile: path.join(dist, "cli/main.js"), allowOverwrite: true });
for (const bin of ["server/main.js", "cli/main.js"]) fs.chmodSync(path.join(dist, bin), 0o755);

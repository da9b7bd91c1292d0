#!/usr/bin/env node
// Bundles the daemon (src/server/main.ts and everything it imports, node_modules included) into
// one ES module, OUTDIR/server/main.js (default OUTDIR: dist), the package's bin. Why: Node
// resolves and compiles ~400 separate modules of grpc-js, nice-grpc, pino... at every start;
// one file starts ~90 ms faster and with ~14 MiB less RSS. What main.ts imports dynamically
// (the gRPC server, the config-file parser) is split into chunks, OUTDIR/server/*-HASH.js.
//
// The code of worker threads is bundled as entries of its own, OUTDIR/server/NAME.js for each
// src/kernel/NAME.ts in WORKER_MODULES (shared code goes to chunks like the main thread's):
// src/kernel/worker-module.ts finds NAME.js next to the module that names it, and every module
// of the bundle sits in OUTDIR/server.
//
// koffi stays external (a native addon, resolved from node_modules at run time). The shebang
// (with its node flags) is kept from src/server/main.ts; the file is made executable because
// npx may reuse a link without chmod. reflection.ts finds src/gen/mfc.binpb at ../../src/gen
// relative to the bundle, as from dist/server.
//
//   node scripts/bundle-server.mjs [OUTDIR]

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.resolve(process.argv[2] ?? path.join(root, "dist"), "server");

/** Worker-side modules: the poll hub's thread and the handler modules it imports. */
const WORKER_MODULES = ["poll-hub-worker", "upcall-reader-handler", "rtnetlink-monitor-handler"];

// Chunks sit next to main.js, so that paths relative to import.meta.url (reflection.ts) are the
// same from every chunk. Their names end in a content hash: drop the previous build's.
const CHUNK = /-[A-Z2-7]{8}\.js$/;
if (fs.existsSync(outdir)) for (const f of fs.readdirSync(outdir)) if (CHUNK.test(f)) fs.rmSync(path.join(outdir, f));
await build({
  entryPoints: {
    main: path.join(root, "src/server/main.ts"),
    ...Object.fromEntries(WORKER_MODULES.map((name) => [name, path.join(root, "src/kernel", `${name}.ts`)])),
  },
  outdir,
  bundle: true,
  splitting: true,
  chunkNames: "[name]-[hash]",
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["koffi"],
  // CommonJS dependencies (grpc-js, pino) call require() for Node built-ins.
  banner: { js: 'import { createRequire as __mfcdRequire } from "node:module"; const require = __mfcdRequire(import.meta.url);' },
  logLevel: "warning",
});
fs.chmodSync(path.join(outdir, "main.js"), 0o755);

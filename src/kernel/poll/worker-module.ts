// Where the code of a worker thread lives and how Node is told to run it. Worker-side modules
// (the poll hub's thread and the handlers it imports) are ordinary TypeScript modules next to
// the module that starts or names them:
//  - from sources (vitest, `node --import tsx src/server/main.ts`): NAME.ts, run through tsx's
//    loader, which the worker registers itself (tsx does not register in worker threads on
//    Node 20, and a worker does not inherit the main thread's module hooks there);
//  - from dist/ (tsc) and from the bundle (scripts/bundle.mjs emits NAME.js next to
//    main.js and its chunks for each worker-side module): NAME.js, plain Node.

/** URL of the worker-side module `name` (no extension) in the folder of `from` (import.meta.url). */
export function workerModuleUrl(name: string, from: string): URL {
  const ext = new URL(from).pathname.endsWith(".ts") ? ".ts" : ".js";
  return new URL(`./${name}${ext}`, from);
}

/**
 * execArgv for a Worker whose entry is `entry`: undefined (inherit the parent's) for
 * JavaScript; for TypeScript, tsx's ESM loader registered first (slow per thread start; dev only).
 */
export function workerExecArgv(entry: URL): string[] | undefined {
  if (!entry.pathname.endsWith(".ts")) return undefined;
  const api = import.meta.resolve("tsx/esm/api");
  const boot = `import { register } from ${JSON.stringify(api)}; register();`;
  return ["--import", `data:text/javascript,${encodeURIComponent(boot)}`];
}

// `npx tsx bench/bulk.ts`: only the bulk figures of `npm run bench` (ApplyRoutes of N new
// routes, restart with 10k restored, empty start), for iterating on them in ~30 s instead of
// the whole bench. Same helpers, same mfcd spawn as bench/run.ts. Needs root.
//
// Options: --runtime build|tsx|dist (default build), --apply N (default 100000),
//          --restore N (default 10000), --runs N (starts per figure, default 5),
//          --profile (mfcd with --cpu-prof into bench/profiles/), --main FILE (run this main.js
//          instead, e.g. an older build to compare with; same node flags).

import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  REPO_ROOT,
  applyRoutes,
  benchRoutes,
  binNodeFlags,
  prepareMfcd,
  startMfcd,
  startupTimes,
  warmUpApply,
  type Runtime,
} from "./mfcd.js";
import { createBenchNs, removeBenchNamespaces, sweepStaleBenchNamespaces } from "./lib/bench-netns.js";
import { cpuSeconds } from "./lib/procfs.js";

function log(msg: string): void {
  process.stderr.write(`[bulk] ${msg}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runtime: { type: "string", default: "build" },
      apply: { type: "string", default: "100000" },
      restore: { type: "string", default: "10000" },
      runs: { type: "string", default: "5" },
      profile: { type: "boolean", default: false },
      main: { type: "string" },
    },
  });
  const applyN = Number(values.apply);
  const restoreN = Number(values.restore);
  const runs = Number(values.runs);
  await sweepStaleBenchNamespaces();
  const entry =
    values.main === undefined
      ? await prepareMfcd(values.runtime as Runtime)
      : { runtime: "dist" as const, nodeArgs: [...binNodeFlags(), path.resolve(values.main)], buildSeconds: 0 };
  const profileDir = path.join(REPO_ROOT, "bench/profiles");
  if (values.profile) fs.mkdirSync(profileDir, { recursive: true });
  const nodeFlags = values.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const ns = await createBenchNs("bulk");
  const maxRoutes = Math.max(100_000, 2 * applyN);
  try {
    if (applyN > 0) {
      const m = await startMfcd(ns, entry, { nodeFlags, maxRoutes });
      try {
        await warmUpApply(m, 500);
        const cpu0 = cpuSeconds(m.daemon.pid);
        const r = await applyRoutes(m, ns, benchRoutes(applyN), { added: applyN, unchanged: 0, kernelEntries: applyN });
        log(
          `ApplyRoutes ${applyN} new: ${Math.round(r.routesPerSec)} routes/s (${(r.seconds * 1000).toFixed(0)} ms), ` +
            `mfcd CPU ${((cpuSeconds(m.daemon.pid) - cpu0) * 1000).toFixed(0)} ms (${r.serverCpuUsPerRoute.toFixed(1)} µs/route), ` +
            `client ${r.clientCpuUsPerRoute.toFixed(1)} µs/route, RSS ${(r.rssKiB / 1024).toFixed(0)} MiB`,
        );
        const again = await applyRoutes(m, ns, benchRoutes(applyN), { added: 0, unchanged: applyN, kernelEntries: applyN });
        log(`  again, unchanged: ${(again.seconds * 1000).toFixed(0)} ms, mfcd ${again.serverCpuUsPerRoute.toFixed(1)} µs/route`);
      } finally {
        await m.stop();
      }
    }
    if (restoreN >= 0 && runs > 0) {
      const m = await startMfcd(ns, entry, { maxRoutes });
      await m.client.applyRoutes({ routes: benchRoutes(restoreN) });
      await m.kill(); // its routes stay in the kernel (static) for the restarts to adopt
      const restore = await startupTimes(ns, entry, runs, restoreN, { stateFile: m.stateFile, nodeFlags });
      log(
        `restart with ${restoreN}: p50 ${restore.spawnToServingMs.p50.toFixed(0)} ms, max ${restore.spawnToServingMs.max.toFixed(0)} ms, ` +
          `CPU p50 ${restore.cpuAtServingMs.p50.toFixed(0)} ms, ` +
          `RSS ${(restore.rssKiB / 1024).toFixed(0)} MiB`,
      );
      const cleaner = await startMfcd(ns, entry, { stateFile: m.stateFile, maxRoutes });
      await cleaner.stop(); // SIGTERM: nothing left to adopt
      const reAdd = await startupTimes(ns, entry, runs, restoreN, { stateFile: m.stateFile, nodeFlags, after: "term" });
      log(`restart with ${restoreN} written again (nothing to adopt): p50 ${reAdd.spawnToServingMs.p50.toFixed(0)} ms, CPU p50 ${reAdd.cpuAtServingMs.p50.toFixed(0)} ms`);
      const empty = await startupTimes(ns, entry, runs, 0, { nodeFlags });
      log(
        `empty start: p50 ${empty.spawnToServingMs.p50.toFixed(0)} ms, max ${empty.spawnToServingMs.max.toFixed(0)} ms, ` +
          `CPU p50 ${empty.cpuAtServingMs.p50.toFixed(0)} ms, ` +
          `RSS ${(empty.rssKiB / 1024).toFixed(0)} MiB`,
      );
    }
  } finally {
    await removeBenchNamespaces();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

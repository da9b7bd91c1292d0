// In-process restore cost: StateStore.open of a state file with N routes + RouteEngine.restore
// into a real kernel table (fresh MRT_INIT socket each round), CPU time per phase, median of
// rounds. `npx tsx bench/restore.ts [N] [ROUNDS]`, needs root.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { RouteEngine } from "../src/engine/route-engine.js";
import { MrouteSocket } from "../src/kernel/index.js";
import { fromStoredRoute, toStoredRoute } from "../src/server/routes/index.js";
import { StateStore } from "../src/state/state-store.js";
import { GROUP, IIF, OIFS, createBenchNs, removeBenchNamespaces, sourceAt } from "./lib/bench-netns.js";
import { median } from "./lib/stats.js";

const cpuMs = (from: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(from);
  return (c.user + c.system) / 1000;
};

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 10_000);
  const rounds = Number(process.argv[3] ?? 7);
  const ns = await createBenchNs("restore");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-restore-"));
  const file = path.join(dir, "mfcd.state");
  try {
    const { store } = StateStore.open(file);
    for (let i = 0; i < n; i++) {
      const spec = { family: "ipv4" as const, table: 0, source: sourceAt(i), group: GROUP, iif: IIF, oifs: [...OIFS] };
      store.put(toStoredRoute(spec, "api"));
    }
    await store.close();
    const load: number[] = [];
    const restore: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const sock = MrouteSocket.open({ netns: ns.path });
      const c0 = process.cpuUsage();
      const { store: s, routes } = StateStore.open(file);
      load.push(cpuMs(c0));
      const c1 = process.cpuUsage();
      const engine = new RouteEngine(() => sock);
      const res = engine.restore(routes.map(fromStoredRoute));
      restore.push(cpuMs(c1));
      if (res.installed !== n) throw new Error(`installed ${res.installed} of ${n}`);
      await s.close();
      sock.close();
    }
    process.stderr.write(`state file load: median ${median(load).toFixed(1)} ms; engine restore: median ${median(restore).toFixed(1)} ms CPU (${n} routes, ${rounds} rounds)\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await removeBenchNamespaces();
  }
}
void main();

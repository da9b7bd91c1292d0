// `npx tsx bench/list-micro.ts [--routes N] [--reps N]`: the server-side pieces of ListRoutes
// and of one WatchStats update, in this process, against a real kernel table in a throwaway
// namespace: engine view building, proto conversion, encoding, and the kernel reads alone.
// Prints the median CPU time (process.cpuUsage, so other load on the machine hardly matters)
// of each piece in ms. For finding where the time goes; the end-to-end figures are
// bench/list-watch.ts and `npm run bench`.

import { parseArgs } from "node:util";
import { RouteEngine } from "../src/engine/route-engine.js";
import { ListRoutesResponse, WatchStatsRequest } from "../src/gen/mfc.js";
import { listRoutesReply, watchStats } from "../src/server/wire/index.js";
import { MrouteSocket } from "../src/kernel/index.js";
import { toForeignEntry, toRouteStatus, toVifStatus } from "../src/server/wire/proto-views.js";
import { GROUP, IIF, OIFS, createBenchNs, removeBenchNamespaces, sourceAt } from "./lib/bench-netns.js";

const { values } = parseArgs({
  options: { routes: { type: "string", default: "10000" }, reps: { type: "string", default: "15" } },
});
const routes = Number(values.routes);
const reps = Number(values.reps);

function cpuMs(fn: () => unknown): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

async function cpuMsAsync(fn: () => Promise<unknown>): Promise<number> {
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const ns = await createBenchNs("micro");
  const socket = MrouteSocket.open({ netns: ns.path });
  try {
    const engine = new RouteEngine(() => socket);
    engine.apply(
      "api",
      Array.from({ length: routes }, (_, i) => ({ family: "ipv4" as const, table: 0, source: sourceAt(i), group: GROUP, iif: IIF, oifs: [...OIFS] })),
    );
    const list = () => {
      const { routes: r, vifs, foreign } = engine.list();
      return { routes: r.map(toRouteStatus), vifs: vifs.map(toVifStatus), foreignEntries: foreign.map(toForeignEntry) };
    };
    const pieces: Record<string, () => unknown> = {
      "kernel: SIOCGETSGCNT × routes": () => {
        for (let i = 0; i < routes; i++) socket.sgCounters(sourceAt(i), GROUP);
      },
      "kernel: sgCountersAll (rtnetlink)": () => socket.sgCountersAll(),
      "kernel: sgCountersAll + get × routes": () => {
        const all = socket.sgCountersAll();
        for (let i = 0; i < routes; i++) all.get(sourceAt(i), GROUP);
      },
      "kernel: dumpMfc (rtnetlink)": () => socket.dumpMfc(),
      "engine.list()": () => engine.list(),
      "engine.list() + toRouteStatus": list,
      "ListRoutes as ts-proto (fromPartial + encode)": () => ListRoutesResponse.encode(ListRoutesResponse.fromPartial(list())).finish(),
      "ListRoutes as served (listRoutesReply)": () => listRoutesReply(engine),
      "engine.stats()": () => engine.stats(),
    };
    const out: Record<string, number> = {};
    for (const [name, fn] of Object.entries(pieces)) {
      for (let i = 0; i < 3; i++) fn();
      const xs: number[] = [];
      for (let i = 0; i < reps; i++) xs.push(cpuMs(fn));
      out[name] = median(xs);
    }
    // One WatchStats update: the generator's next() plus encoding what it yields.
    const ac = new AbortController();
    const gen = watchStats(engine, WatchStatsRequest.fromPartial({ intervalMs: 100 }), ac.signal);
    const xs: number[] = [];
    for (let i = 0; i < reps + 3; i++) {
      const ms = await cpuMsAsync(async () => {
        const { value } = await gen.next();
        if (!value) throw new Error("WatchStats ended");
      });
      if (i >= 3) xs.push(ms);
    }
    out["WatchStats update (as served, +100 ms wait)"] = median(xs);
    ac.abort();
    await gen.return(undefined);
    for (const [name, ms] of Object.entries(out)) process.stdout.write(`${ms.toFixed(2).padStart(9)} ms  ${name}\n`);
  } finally {
    socket.close();
    await removeBenchNamespaces();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

// kernel-needs: ipv4
// End-to-end: many SDK clients mutating an overlapping key space at once. Afterwards the
// kernel's table, ListRoutes and the persisted state file must be the same set of routes, and a
// restart must bring that same set back.
//
//   router (mfcd) with in0, out1, out2 (to the receivers) and x1..x3 (to the xtra namespace)
//
// 20 clients (one channel each) × 500 random AddRoute / AddRoute{replace} / DelRoute over
// 50 (S,G) keys and 6 interfaces. The only acceptable errors are ALREADY_EXISTS (add without
// replace of a different route) and NOT_FOUND (delete of an absent route).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createMfcClient, MfcError, RouteState, Status, type MfcClient } from "../../src/sdk/index.js";
import { loadStateFile } from "../../src/state/load-state-file.js";
import { createLab, type Lab } from "../helpers/lab.js";
import {
  kernelRouteTuples,
  kernelVifs,
  listedRouteTuples,
  routeTuples,
  startMfcd,
  StopList,
  tempSocketPath,
  type RouteTuple,
} from "../helpers/mfcd-process.js";
import { settle } from "../helpers/traffic.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const CLIENTS = 20;
const OPS_PER_CLIENT = 500;

let lab: Lab;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 2, extraRouterLinks: 3 });
});
afterEach(async () => {
  await stops.stopAll();
});
afterAll(async () => {
  await stops.stopAll();
  await lab?.cleanup();
});

/** mulberry32: a small seeded PRNG, so a failing run can be replayed (MFCD_TEST_SEED). */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const tupleKey = (t: RouteTuple): string => JSON.stringify(routeTuples([t])[0]);

describe("concurrent clients (real daemon, real kernel)", () => {
  it(`${CLIENTS} clients × ${OPS_PER_CLIENT} random add/replace/delete ops: kernel == ListRoutes == state file, also after a restart`, async () => {
    const seed = Number(process.env.MFCD_TEST_SEED ?? Date.now() % 2 ** 31);
    const why = `seed ${seed} (MFCD_TEST_SEED=${seed} replays the random choices, not the timing)`;
    const rnd = seededRandom(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

    const ifaces = ["in0", ...lab.routerIfaces.outs, ...lab.routerIfaces.extra];
    expect(ifaces).toHaveLength(6);
    const sources = [2, 3, 4, 5, 6].map((h) => `10.${lab.k}.0.${h}`);
    const groups = Array.from({ length: 10 }, (_, i) => `239.50.0.${i + 1}`);
    const keys = sources.flatMap((source) => groups.map((group) => ({ source, group })));
    expect(keys).toHaveLength(50);

    const socketPath = tempSocketPath();
    const mfcd = stops.add(await startMfcd(lab.router, { socketPath }));

    /** Every route some client was told OK for, per key. */
    const acknowledged = new Map<string, Set<string>>();
    const unexpected: string[] = [];
    const counts = { ok: 0, alreadyExists: 0, notFound: 0, lists: 0 };

    const randomRoute = (k: { source: string; group: string }): RouteTuple => {
      const iif = pick(ifaces);
      const others = ifaces.filter((i) => i !== iif);
      const oifs = [...new Set(Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(others)))];
      return { ...k, iif, oifs };
    };

    async function client(c: MfcClient, id: number): Promise<void> {
      for (let n = 0; n < OPS_PER_CLIENT; n++) {
        const k = pick(keys);
        const r = rnd();
        const what = r < 0.3 ? "del" : r < 0.75 ? "add" : "replace";
        const spec = what === "del" ? undefined : randomRoute(k);
        try {
          if (spec === undefined) {
            await c.delRoute(k);
          } else {
            const res = await c.addRoute({ route: spec, replace: what === "replace" });
            expect(res.route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
            const id = `${k.source},${k.group}`;
            const set = acknowledged.get(id) ?? new Set<string>();
            set.add(tupleKey(spec));
            acknowledged.set(id, set);
          }
          counts.ok++;
        } catch (err) {
          if (err instanceof MfcError && err.code === Status.ALREADY_EXISTS && what === "add") counts.alreadyExists++;
          else if (err instanceof MfcError && err.reason === "SG_ON_TWO_IIFS" && what === "add") counts.alreadyExists++;
          else if (err instanceof MfcError && err.code === Status.NOT_FOUND && what === "del") counts.notFound++;
          else if (unexpected.length < 20) unexpected.push(`client ${id} ${what} ${JSON.stringify(spec ?? k)}: ${String(err)}`);
        }
      }
    }

    const clients = Array.from({ length: CLIENTS }, () =>
      createMfcClient(`unix:${socketPath}`, { deadlineMs: bound(30_000) }),
    );
    let done = false;
    try {
      // A reader alongside: every ListRoutes during the storm shows only INSTALLED routes.
      const reader = (async () => {
        const rc = createMfcClient(`unix:${socketPath}`, { deadlineMs: bound(30_000) });
        try {
          while (!done) {
            const { routes } = await rc.listRoutes({});
            counts.lists++;
            for (const r of routes) {
              if (r.state !== RouteState.ROUTE_STATE_INSTALLED && unexpected.length < 20) {
                unexpected.push(`ListRoutes during the run: ${r.route?.source},${r.route?.group} ${RouteState[r.state]} ${r.reason}`);
              }
            }
            await settle(10); // interleave with the writers, do not compete with them
          }
        } finally {
          rc.close();
        }
      })();
      await Promise.all(clients.map((c, i) => client(c, i)));
      done = true;
      await reader;
    } finally {
      done = true;
      for (const c of clients) c.close();
    }
    console.info(`[concurrency] ${JSON.stringify(counts)}, ${why}`);
    expect(unexpected, why).toEqual([]);
    expect(counts.ok + counts.alreadyExists + counts.notFound).toBe(CLIENTS * OPS_PER_CLIENT);
    expect(counts.alreadyExists, "the key space really overlapped").toBeGreaterThan(0);
    expect(counts.notFound).toBeGreaterThan(0);

    // ListRoutes: every route INSTALLED, owned by "api", and one some client was told OK for.
    const list = await mfcd.client.listRoutes({});
    const listed = routeTuples(list.routes.map((r) => r.route!));
    expect(listed.length, why).toBeGreaterThan(0);
    for (const r of list.routes) {
      expect(r.state, `${r.route?.source},${r.route?.group}: ${r.reason}`).toBe(RouteState.ROUTE_STATE_INSTALLED);
      expect(r.owner).toBe("api");
    }
    for (const t of listed) {
      expect(acknowledged.get(`${t.source},${t.group}`)?.has(tupleKey(t)), `${tupleKey(t)} was acknowledged; ${why}`).toBe(true);
    }

    // The kernel holds exactly the listed routes, and the VIF table exactly the interfaces in use
    // with their reference counts.
    expect(await kernelRouteTuples(lab.router), why).toEqual(listed);
    const uses = new Map<string, number>();
    for (const t of listed) for (const i of new Set([t.iif, ...t.oifs])) uses.set(i, (uses.get(i) ?? 0) + 1);
    const vifRefs = Object.fromEntries(list.vifs.map((v) => [v.interface, v.refs]));
    expect(vifRefs, why).toEqual(Object.fromEntries(uses));
    const kvifs = await kernelVifs(lab.router);
    expect(Object.fromEntries(kvifs.map((v) => [v.name, v.vif]))).toEqual(Object.fromEntries(list.vifs.map((v) => [v.interface, v.vif])));

    // The state file holds the same set (load it once mfcd has stopped).
    expect(await mfcd.stop(), mfcd.stderr()).toEqual({ code: 0, signal: null });
    const stored = loadStateFile(mfcd.statePath!).routes;
    expect(routeTuples(stored), why).toEqual(listed);
    expect(new Set(stored.map((r) => r.owner))).toEqual(new Set(["api"]));

    // And a restart from it brings back the same table.
    const again = stops.add(await startMfcd(lab.router, { socketPath }));
    expect(await listedRouteTuples(again.client), why).toEqual(listed);
    expect(await kernelRouteTuples(lab.router), why).toEqual(listed);
  });
});

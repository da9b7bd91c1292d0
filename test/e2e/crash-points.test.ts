// kernel-needs: ipv4 tables ipv6
// End-to-end: a crash exactly between the kernel write and the state record that acknowledges it
// (issue 12). mfcd writes the kernel first, then the state file; MFCD_CRASH_POINT makes it SIGKILL
// itself in that window (src/server/rpc/crash-point.ts), so the kernel holds a change the state
// file does not. After the restart: kernel == state file == ListRoutes — an unacknowledged change
// is undone, an unacknowledged delete comes back, nothing is reported foreign and nothing stale
// forwards. IPv4 and IPv6 default tables and IPv4 table 7: written static, they outlive the crash
// and are adopted or removed.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseIp6MrCache } from "../../src/kernel/mroute/index.js";
import { loadStateFile } from "../../src/state/load-state-file.js";
import type { MfcClient } from "../../src/sdk/index.js";
import { ipMroute } from "../helpers/kernel-view.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { kernelRouteTuples, listedRouteTuples, routeTuples, startMfcd, StopList, tempSocketPath, type RouteTuple } from "../helpers/mfcd-process.js";
import { execIn } from "../helpers/netns.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

let lab: Lab;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 2 });
});
afterEach(async () => {
  await stops.stopAll();
});
afterAll(async () => {
  await stops.stopAll();
  await lab?.cleanup();
});

type Route = RouteTuple & { table?: number };
const v4 = (group: string, oifs: string[], table = 0): Route => ({ source: lab.addrs.source, group, iif: "in0", oifs, table });
const v6 = (group: string, oifs: string[]): Route => ({ source: "fd00:41::2", group, iif: "in0", oifs });

/** The groups of table 7's entries (`ip mroute show table 7`; none while the table does not exist). */
const groups7 = async () => [...(await ipMroute(lab.router, { table: 7 }).catch(() => "")).matchAll(/\(\S+,\s*(239\.51\.7\.\d+)\)/g)].map((m) => m[1]).sort();

/**
 * Runs `prepare` on an mfcd armed to crash at `point`, then `action`, which must die with it;
 * restarts a plain mfcd on the same state file and returns what the file, ListRoutes and the
 * restore log say.
 */
async function crashAt(point: string, prepare: (c: MfcClient) => Promise<unknown>, action: (c: MfcClient) => Promise<unknown>) {
  const socketPath = tempSocketPath();
  const armed = stops.add(await startMfcd(lab.router, { socketPath, env: { ...process.env, MFCD_CRASH_POINT: point } }));
  await prepare(armed.client);
  const failed = await action(armed.client).then(
    () => "answered",
    () => "failed",
  );
  expect(failed, "the call never gets its answer: mfcd died before acknowledging").toBe("failed");
  expect(await armed.exitWithin()).toEqual({ code: null, signal: "SIGKILL" });
  const inKernelAfterCrash = await kernelRouteTuples(lab.router);
  const table7AfterCrash = await groups7();
  const next = stops.add(await startMfcd(lab.router, { socketPath }));
  const file = routeTuples(loadStateFile(armed.statePath!).routes);
  const listed = await listedRouteTuples(next.client);
  const { foreignEntries } = await next.client.listRoutes({});
  const restored = JSON.parse(next.stderr().split("\n").find((l) => l.includes('"msg":"routes restored"')) ?? "{}") as Record<string, unknown>;
  return { file, listed, foreignEntries, restored, inKernelAfterCrash, table7AfterCrash, next };
}

describe("crash between the kernel write and the state record (fault injection)", () => {
  it("AddRoute: the kernel had the new entry, the file not — the restart removes it; kernel == file", async () => {
    const A = v4("239.51.0.1", ["out1"]);
    const B = v4("239.51.0.2", ["out2"]);
    const r = await crashAt(
      "add-route:kernel-written@2",
      (c) => c.addRoute({ route: A }),
      (c) => c.addRoute({ route: B }),
    );
    expect(r.inKernelAfterCrash, "the kernel write happened before the crash").toEqual(routeTuples([A, B]));
    expect(r.file).toEqual(routeTuples([A]));
    expect(r.listed).toEqual(r.file);
    expect(await kernelRouteTuples(lab.router)).toEqual(r.file);
    expect(r.foreignEntries).toEqual([]);
    expect(r.restored).toMatchObject({ removedLeftovers: 1 });
  });

  it("DelRoute: the kernel entry was gone, the file still had it — the delete was never acknowledged, the route comes back; kernel == file", async () => {
    const A = v4("239.51.1.1", ["out1"]);
    const B = v4("239.51.1.2", ["out1", "out2"]);
    const r = await crashAt(
      "del-route:kernel-written",
      async (c) => {
        await c.addRoute({ route: A });
        await c.addRoute({ route: B });
      },
      (c) => c.delRoute({ source: B.source, group: B.group }),
    );
    expect(r.inKernelAfterCrash).toEqual(routeTuples([A]));
    expect(r.file).toEqual(routeTuples([A, B]));
    expect(r.listed).toEqual(r.file);
    expect(await kernelRouteTuples(lab.router)).toEqual(r.file);
    expect(r.foreignEntries).toEqual([]);
  });

  it("ApplyRoutes: the kernel had the new set, the file the old one — the restart goes back to the acknowledged set, nothing of the new left", async () => {
    const A = v4("239.51.2.1", ["out1"]);
    const B = v4("239.51.2.2", ["out1"]);
    const r = await crashAt(
      "apply-routes:kernel-written",
      (c) => c.addRoute({ route: A }).then(() => c.addRoute({ route: B })),
      (c) => c.applyRoutes({ routes: [{ ...B, oifs: ["out2"] }, v4("239.51.2.3", ["out2"])] }),
    );
    expect(r.inKernelAfterCrash).toEqual(routeTuples([{ ...B, oifs: ["out2"] }, v4("239.51.2.3", ["out2"])]));
    expect(r.file).toEqual(routeTuples([A, B]));
    expect(r.listed).toEqual(r.file);
    expect(await kernelRouteTuples(lab.router)).toEqual(r.file);
    expect(r.foreignEntries).toEqual([]);
  });

  it("IPv6 DelRoute: the same repair on the IPv6 default table (static MIFs, adopted)", async () => {
    const A = v6("ff3e::51:1", ["out1"]);
    const B = v6("ff3e::51:2", ["out2"]);
    const cache6 = async () => parseIp6MrCache(await execIn(lab.router, ["cat", "/proc/net/ip6_mr_cache"])).filter((e) => !e.unresolved).map((e) => e.group).sort();
    const r = await crashAt(
      "del-route:kernel-written",
      async (c) => {
        await c.addRoute({ route: A });
        await c.addRoute({ route: B });
      },
      (c) => c.delRoute({ source: B.source, group: B.group }),
    );
    expect(r.file).toEqual(routeTuples([A, B]));
    expect(r.listed).toEqual(r.file);
    expect(await cache6()).toEqual([A.group, B.group].sort());
    expect(r.foreignEntries).toEqual([]);
  });

  it("table 7 ApplyRoutes: the new entry outlived the crash (static, as in every IPv4 table) and is removed as a leftover; the acknowledged set is written back", async () => {
    const A = v4("239.51.7.1", ["out1"], 7);
    const B = v4("239.51.7.2", ["out2"], 7);
    const r = await crashAt(
      "apply-routes:kernel-written",
      (c) => c.addRoute({ route: A }),
      (c) => c.applyRoutes({ routes: [B] }),
    );
    expect(r.table7AfterCrash, "the kernel write happened and outlived mfcd").toEqual([B.group]);
    expect(r.file).toEqual(routeTuples([A]));
    expect(r.listed).toEqual(r.file);
    expect(r.restored).toMatchObject({ installed: 1, removedLeftovers: 1 });
    expect(await groups7()).toEqual([A.group]);
    expect(r.foreignEntries).toEqual([]);
  });
});

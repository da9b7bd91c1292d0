// kernel-needs: ipv4 nft
// End-to-end: the unroutable camera, rescued through the API.
//
//   src (eth0 10.k.0.2 + 10.99.0.100/32) —in0— router (mfcd, rp_filter=1) —out1— rcv1
//
// The camera sends from 10.99.0.100 (the router has no route back) with TTL 1. Without rescue
// options nothing arrives and Diagnose names both causes; AddRoute{replace, rewrite_source,
// set_ttl} makes mfcd program `table ip mfcd` and the receiver gets every packet from the new
// source. The table lives exactly as long as mfcd: gone after SIGTERM, back after a restart
// with the same state file. Without the nft binary the rescue options are refused with the
// package to install, and plain routes (and Diagnose, without its TTL probe) keep working.
//
// "Delivered 0" is proven by ordering: every burst has its own sequence numbers, and a
// receiver that later gets a whole burst shows none of the earlier one.
import fs from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Severity, type DiagnoseRequest, type DiagnoseResponse } from "../../src/gen/mfc.js";
import { RouteState, Status, type MfcClient } from "../../src/sdk/index.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { kernelRoute, startMfcd, StopList, tempStatePath, type MfcdProcess } from "../helpers/mfcd-process.js";
import { execIn, ip } from "../helpers/netns.js";
import { sendMulticast, startReceiver, startStream, waitFor, type Receiver } from "../helpers/traffic.js";
import { rejection } from "../helpers/rejection.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT, nft)");

const PORT = 5000;
const CAMERA = "10.99.0.100";
const N = 20;
/**
 * Diagnose window that must contain a counted burst (diagnoseAround): polling for the probe table
 * and starting a sender take seconds where processes start slowly. A bound (time-bounds.ts),
 * capped at Diagnose's 30 s maximum.
 */
const BURST_WINDOW_MS = Math.min(bound(1500), 30_000);
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

async function receiver(lab: Lab, stops: StopList, group: string): Promise<Receiver> {
  return stops.add(await startReceiver(lab.receivers[0]!, { group, port: PORT, ifaceAddr: lab.addrs.receivers[0]! }));
}

async function burst(lab: Lab, group: string, o: { from: string; ttl: number; firstSeq: number }): Promise<void> {
  const res = await sendMulticast(lab.source, {
    group,
    port: PORT,
    ttl: o.ttl,
    ifaceAddr: o.from,
    count: N,
    intervalMs: 1,
    firstSeq: o.firstSeq,
  });
  expect(res).toMatchObject({ sent: N, errors: 0 });
}

/** `nft list tables` in `ns`, as "family name" strings. */
async function tables(ns: string): Promise<string[]> {
  const out = await execIn(ns, ["nft", "list", "tables"]);
  return out
    .split("\n")
    .map((l) => /^table (\S+) (\S+)$/.exec(l.trim()))
    .flatMap((m) => (m ? [`${m[1]} ${m[2]}`] : []));
}
const isProbeTable = (t: string) => /^ip mfcd_probe_\d+_\d+$/.test(t);

/** Diagnose with `during` inside the window (while mfcd's window-long TTL probe table exists). */
async function diagnoseAround(
  ns: string,
  client: MfcClient,
  req: Partial<DiagnoseRequest>,
  during: () => Promise<void>,
): Promise<DiagnoseResponse> {
  expect((await tables(ns)).filter(isProbeTable)).toEqual([]);
  const call = client.diagnose(req);
  call.catch(() => undefined);
  await waitFor(async () => (await tables(ns)).some(isProbeTable), { message: "mfcd's TTL probe table never appeared" });
  await during();
  expect((await tables(ns)).some(isProbeTable), "the burst outlasted the Diagnose window").toBe(true);
  return call;
}

const problems = (res: DiagnoseResponse) =>
  res.findings
    .filter((f) => f.severity !== Severity.SEVERITY_INFO)
    .map((f) => f.code)
    .sort();


/** PATH without any directory holding `nft` (but still with `ip`, which starts mfcd in the netns). */
function pathWithoutNft(): string {
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter((d) => d !== "" && !fs.existsSync(path.join(d, "nft")));
  if (!dirs.some((d) => fs.existsSync(path.join(d, "ip")))) throw new Error("no directory with ip but without nft in PATH");
  return ["/nonexistent-bin", ...dirs].join(path.delimiter);
}

describe("rescue options: the unroutable TTL-1 camera (real kernel, real nftables)", () => {
  it("is named by Diagnose, delivered after rewrite_source + set_ttl, and the nft table lives exactly as long as mfcd", async () => {
    const lab = await createLab({ receivers: 1, rpFilter: 1 });
    const stops = new StopList();
    const statePath = tempStatePath();
    let mfcd: MfcdProcess | undefined;
    try {
      const G = "239.82.1.1";
      const NEW = lab.addrs.routerIn.replace(/\.1$/, ".100"); // on-link on in0, owned by nobody
      await ip(["addr", "add", `${CAMERA}/32`, "dev", "eth0"], lab.source);
      mfcd = await startMfcd(lab.router, { stateFile: statePath });
      const plain = { source: CAMERA, group: G, iif: "in0", oifs: ["out1"] };
      await mfcd.client.addRoute({ route: plain });
      const r1 = await receiver(lab, stops, G);

      // 1. No rescue: dropped, and Diagnose names both causes (and nothing else).
      const client = mfcd.client;
      const before = await diagnoseAround(lab.router, client, { source: CAMERA, group: G, windowMs: BURST_WINDOW_MS }, () =>
        burst(lab, G, { from: CAMERA, ttl: 1, firstSeq: 0 }),
      );
      expect(problems(before), before.text).toEqual(["RP_FILTER_DROP", "TTL_TOO_LOW"]);
      expect(before.text).toContain("RP_FILTER_DROP");
      expect(before.text).toContain("TTL_TOO_LOW");
      expect(await tables(lab.router)).not.toContain("ip mfcd");

      // 2. The rescue: switched in place, programmed as `table ip mfcd`, listed with its options.
      const rescued = { ...plain, rewriteSource: NEW, setTtl: 64 };
      const added = await client.addRoute({ route: rescued, replace: true });
      expect(added.route).toMatchObject({ state: RouteState.ROUTE_STATE_INSTALLED, route: rescued });
      expect(await tables(lab.router)).toContain("ip mfcd");
      const listed = (await client.listRoutes({})).routes.find((r) => r.route?.group === G);
      expect(listed).toMatchObject({ state: RouteState.ROUTE_STATE_INSTALLED, route: { rewriteSource: NEW, setTtl: 64 } });
      expect(await kernelRoute(lab.router, NEW, G)).toBeDefined(); // keyed on the new source

      // 3. Delivered, with the new source; Diagnose now only says forwarding works.
      const after = await diagnoseAround(lab.router, client, { source: CAMERA, group: G, windowMs: BURST_WINDOW_MS }, () =>
        burst(lab, G, { from: CAMERA, ttl: 1, firstSeq: 1000 }),
      );
      await r1.waitForCount(N);
      const got1 = await r1.stop();
      expect(got1.seqs).toEqual(range(1000, N)); // nothing of the unrescued burst
      expect(got1.from).toEqual([NEW]);
      expect(after.findings.map((f) => f.code), after.text).toEqual(["FORWARDING_OK"]);

      // 4. A rewrite to one of the router's own addresses would be dropped as martian: refused.
      const martian = await rejection(
        client.addRoute({ route: { ...rescued, rewriteSource: lab.addrs.routerIn }, replace: true }),
      );
      expect(martian.code).toBe(Status.INVALID_ARGUMENT);
      expect(martian.fieldViolations.map((v) => v.field)).toEqual(["route.rewrite_source"]);
      expect(martian.fieldViolations[0]!.description).toMatch(/martian/);
      expect((await client.listRoutes({})).routes.find((r) => r.route?.group === G)?.route).toMatchObject({ rewriteSource: NEW });

      // 5. SIGTERM: mfcd takes its table with it.
      expect(await mfcd.stop()).toEqual({ code: 0, signal: null });
      mfcd = undefined;
      const left = (await tables(lab.router)).filter((t) => /^ip mfcd(_|$)/.test(t));
      expect(left).toEqual([]);

      // 6. Restart with the same state file: route, table and delivery are back.
      mfcd = await startMfcd(lab.router, { stateFile: statePath });
      expect(await tables(lab.router)).toContain("ip mfcd");
      const restored = (await mfcd.client.listRoutes({})).routes.find((r) => r.route?.group === G);
      expect(restored).toMatchObject({ state: RouteState.ROUTE_STATE_INSTALLED, route: rescued });
      const r2 = await receiver(lab, stops, G);
      await burst(lab, G, { from: CAMERA, ttl: 1, firstSeq: 2000 });
      await r2.waitForCount(N);
      const got2 = await r2.stop();
      expect(got2.seqs).toEqual(range(2000, N));
      expect(got2.from).toEqual([NEW]);
    } finally {
      await stops.stopAll();
      await mfcd?.stop().catch(() => undefined);
      await lab.cleanup();
    }
  });

  it("without nft: rescue options are FAILED_PRECONDITION naming the package nftables; plain routes and Diagnose still work", async () => {
    const lab = await createLab({ receivers: 1 });
    const stops = new StopList();
    let mfcd: MfcdProcess | undefined;
    try {
      const PATH = pathWithoutNft();
      const env = { ...process.env, PATH };
      expect(spawnSync("sh", ["-c", "command -v nft"], { env }).status).not.toBe(0);
      mfcd = await startMfcd(lab.router, { env });
      const G = "239.82.2.1";
      const src = lab.addrs.source;
      const plain = { source: src, group: G, iif: "in0", oifs: ["out1"] };

      for (const rescue of [{ rewriteSource: lab.addrs.routerIn.replace(/\.1$/, ".100") }, { setTtl: 64 }]) {
        const err = await rejection(mfcd.client.addRoute({ route: { ...plain, ...rescue } }));
        expect(err.code).toBe(Status.FAILED_PRECONDITION);
        expect(err.details).toContain('"nftables"');
        expect(err.reason).toBe("NFT_UNAVAILABLE");
      }
      expect((await mfcd.client.listRoutes({})).routes).toEqual([]);

      const { route } = await mfcd.client.addRoute({ route: plain });
      expect(route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
      const r = await receiver(lab, stops, G);
      await burst(lab, G, { from: src, ttl: 8, firstSeq: 0 });
      await r.waitForCount(N);
      expect((await r.stop()).seqs).toEqual(range(0, N));

      // Diagnose keeps working without nft (no TTL probe): a forwarded stream is FORWARDING_OK.
      stops.add(await startStream(lab.source, { group: G, port: PORT, ttl: 8, ifaceAddr: src, intervalMs: 10, size: 64, durationMs: bound(30_000) }));
      const diag = await mfcd.client.diagnose({ source: src, group: G, windowMs: bound(1000) });
      expect(diag.findings.map((f) => f.code), diag.text).toEqual(["FORWARDING_OK"]);
      expect((await tables(lab.router)).filter((t) => /^ip mfcd/.test(t))).toEqual([]);
    } finally {
      await stops.stopAll();
      await mfcd?.stop().catch(() => undefined);
      await lab.cleanup();
    }
  });
});

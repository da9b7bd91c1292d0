// kernel-needs: ipv4
// End-to-end: the mfcd process itself — health and reflection, its Unix socket, a second
// multicast router in the same namespace, and graceful shutdown on SIGTERM.
//
// One lab; one main daemon in the router namespace shared by the tests. The SIGTERM test stops
// that daemon and must stay last.
import { execFile } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MfcError, Status, type WatchStatsResponse } from "../../src/sdk/index.js";
import { createLab, type Lab } from "../helpers/lab.js";
import {
  kernelRoute,
  kernelRoutes,
  kernelVifs,
  REPO_ROOT,
  spawnMfcd,
  startMfcd,
  StopList,
  tempSocketPath,
  type MfcdProcess,
} from "../helpers/mfcd-process.js";
import { sendMulticast, startReceiver } from "../helpers/traffic.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const execFileP = promisify(execFile);
const PORT = 5000;

let lab: Lab;
let mfcd: MfcdProcess;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 1 });
  // Our own path (not one startMfcd removes with its directory), so the test can see mfcd remove it.
  mfcd = await startMfcd(lab.router, { socketPath: tempSocketPath() });
});
afterEach(async () => {
  await stops.stopAll();
});
afterAll(async () => {
  await stops.stopAll();
  await mfcd?.stop();
  await lab?.cleanup();
});

const src = () => lab.addrs.source;

/** Installs (idempotently) a route to rcv1 and shows that it forwards. */
async function forwards(group: string): Promise<void> {
  await mfcd.client.addRoute({ route: { source: src(), group, iif: "in0", oifs: ["out1"] } });
  const r = stops.add(await startReceiver(lab.receivers[0]!, { group, port: PORT, ifaceAddr: lab.addrs.receivers[0]! }));
  await sendMulticast(lab.source, { group, port: PORT, ttl: 8, ifaceAddr: src(), count: 10, intervalMs: 1 });
  await r.waitForCount(10);
  await r.stop();
}

describe("mfcd process (real daemon)", () => {
  it("is SERVING and reflection lists mfc.v1.MfcService (buf curl over the Unix socket)", async () => {
    expect(await mfcd.client.health()).toBe("SERVING");
    expect(await mfcd.client.health("mfc.v1.MfcService")).toBe("SERVING");
    const { stdout } = await execFileP(
      "npx",
      [
        "--no-install",
        "buf",
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--unix-socket",
        mfcd.socketPath,
        "--list-services",
        "http://localhost",
      ],
      { cwd: REPO_ROOT, timeout: bound(30_000) },
    );
    const services = stdout.split("\n").map((l) => l.trim()).filter(Boolean);
    expect(services).toContain("mfc.v1.MfcService");
  });

  it("creates its socket with mode 0660", () => {
    const st = fs.statSync(mfcd.socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o660);
  });

  it("a second mfcd in the same namespace exits non-zero naming EADDRINUSE; the first keeps serving", async () => {
    const G = "239.30.1.1";
    await forwards(G);
    const vifsBefore = await kernelVifs(lab.router);

    const second = stops.add(spawnMfcd(lab.router));
    const status = await second.exitWithin();
    expect(status.code, second.stderr()).toBe(1);
    expect(second.stderr()).toContain("EADDRINUSE");
    expect(second.stderr()).toContain("another multicast router");
    expect(fs.existsSync(second.socketPath)).toBe(false);

    expect(await mfcd.client.health()).toBe("SERVING");
    expect((await mfcd.client.listRoutes({})).routes.map((r) => r.route?.group)).toEqual([G]);
    expect(await kernelVifs(lab.router)).toEqual(expect.arrayContaining(vifsBefore.map((v) => expect.objectContaining({ vif: v.vif, name: v.name }))));
    expect(await kernelRoute(lab.router, src(), G)).toBeDefined();
    await forwards(G);
  });

  it("a live socket (mfcd in another namespace on the same path) makes startup fail clearly", async () => {
    const intruder = stops.add(spawnMfcd(lab.source, { socketPath: mfcd.socketPath }));
    const status = await intruder.exitWithin();
    expect(status.code, intruder.stderr()).toBe(1);
    expect(intruder.stderr()).toContain("in use by a live process");
    expect(intruder.stderr()).toContain(mfcd.socketPath);
    // The first daemon's socket was left alone.
    expect(fs.statSync(mfcd.socketPath).isSocket()).toBe(true);
    expect(await mfcd.client.health()).toBe("SERVING");
  });

  it("a stale socket file of a dead mfcd is replaced at startup", async () => {
    const socketPath = tempSocketPath();
    const ns = lab.receivers[0]!; // a namespace of its own: the router's table belongs to `mfcd`
    const dead = stops.add(await startMfcd(ns, { socketPath }));
    expect(await dead.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    expect(fs.statSync(socketPath).isSocket(), "SIGKILL leaves the socket file behind").toBe(true);

    const next = stops.add(await startMfcd(ns, { socketPath }));
    expect(await next.client.health()).toBe("SERVING");
    expect((await next.client.listRoutes({})).routes).toEqual([]);
    expect(await next.stop()).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(socketPath), "a clean stop removes the socket file").toBe(false);
  });

  it("SIGTERM ends a live WatchStats with UNAVAILABLE, clears the kernel entries and VIFs, exits 0", async () => {
    await forwards("239.30.2.1");
    await mfcd.client.addRoute({ route: { source: src(), group: "239.30.2.2", iif: "in0", oifs: ["out1"] } });
    expect((await kernelRoutes(lab.router)).length).toBeGreaterThanOrEqual(2);
    expect((await kernelVifs(lab.router)).length).toBeGreaterThanOrEqual(2);

    const messages: WatchStatsResponse[] = [];
    let first!: () => void;
    const gotFirst = new Promise<void>((resolve) => (first = resolve));
    const watching = (async () => {
      for await (const msg of mfcd.client.watchStats({ intervalMs: 100 })) {
        messages.push(msg);
        first();
      }
      return "ended without an error";
    })().catch((err: unknown) => err);
    await gotFirst;

    const exit = await mfcd.stop("SIGTERM");
    const ended = await watching;
    expect(ended).toBeInstanceOf(MfcError);
    expect((ended as MfcError).code, String(ended)).toBe(Status.UNAVAILABLE);
    expect((ended as MfcError).details).toContain("shutting down");
    expect(messages[0]?.routes.length).toBeGreaterThanOrEqual(2);

    expect(exit, mfcd.stderr()).toEqual({ code: 0, signal: null });
    expect(await kernelRoutes(lab.router)).toEqual([]);
    expect(await kernelVifs(lab.router)).toEqual([]);
    expect(fs.existsSync(mfcd.socketPath)).toBe(false);
    expect(mfcd.stderr()).toContain('"msg":"stopped"');
  });
});

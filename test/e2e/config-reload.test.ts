// kernel-needs: ipv4
// End-to-end: `mfcd --config FILE` (docs/config.md) — routes from a YAML file owned by "config",
// applied at start and re-applied on SIGHUP as a declarative set, next to routes added through
// the API; a broken file never changes the running routes.
//
//   src —in0— router (mfcd --config <tmp>/routes.yaml) —out1— rcv1
//                                                      —out2— rcv2
//
// One lab for the file; each test runs its own daemon (stopped in afterEach).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RouteState, type ListRoutesResponse } from "../../src/sdk/index.js";
import { loadStateFile } from "../../src/state/load-state-file.js";
import { createLab, type Lab } from "../helpers/lab.js";
import {
  kernelRoute,
  kernelRoutes,
  kernelRouteTuples,
  kernelVifs,
  routeTuples,
  spawnMfcd,
  startMfcd,
  StopList,
  tempSocketPath,
  type MfcdProcess,
  type RouteTuple,
} from "../helpers/mfcd-process.js";
import { onProcessExit } from "../helpers/netns.js";
import { startReceiver, startStream, waitFor } from "../helpers/traffic.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;

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

const src = () => lab.addrs.source;
const route = (group: string, oifs: string[]): RouteTuple => ({ source: src(), group, iif: "in0", oifs });

/** A config file path in a fresh temporary directory (removed at process exit). */
function configPath(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-e2e-config-"));
  onProcessExit(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, "routes.yaml");
}

/** The YAML text of a config file with these routes, one flow-style map per line from line 3. */
function yaml(routes: RouteTuple[]): string {
  const lines = routes.map(
    (r) => `  - { source: ${r.source}, group: ${r.group}, iif: ${r.iif}, oifs: [${r.oifs.join(", ")}] }`,
  );
  return ["version: 1", "routes:", ...lines, ""].join("\n");
}

/** ListRoutes as "group owner" → tuple, plus every route's state. */
function byOwner(list: ListRoutesResponse): { tuples: RouteTuple[]; owners: Record<string, string> } {
  const owners: Record<string, string> = {};
  for (const r of list.routes) {
    expect(r.state, `${r.route?.group}: ${r.reason}`).toBe(RouteState.ROUTE_STATE_INSTALLED);
    owners[r.route!.group] = r.owner;
  }
  return { tuples: routeTuples(list.routes.map((r) => r.route!)), owners };
}

interface LogLine {
  msg?: string;
  [k: string]: unknown;
}

/** Waits for a JSON log line with this `msg` written after stderr offset `from`. */
async function logLine(mfcd: MfcdProcess, from: number, msg: string): Promise<LogLine> {
  const line = await waitFor<LogLine | false>(
    () =>
      mfcd
        .stderr()
        .slice(from)
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as LogLine)
        .find((l) => l.msg === msg) ?? false,
    { timeoutMs: 10_000, message: () => `no "${msg}" log line; stderr: ${mfcd.stderr().slice(from)}` },
  );
  return line;
}

/** Sends SIGHUP and waits for the log line that says how the reload went. */
async function hangup(mfcd: MfcdProcess, expectMsg: string): Promise<LogLine> {
  const from = mfcd.stderr().length;
  mfcd.proc.kill("SIGHUP");
  return logLine(mfcd, from, expectMsg);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("--config FILE (real daemon, real kernel)", () => {
  it("start installs the file's routes as owner config; SIGHUP applies exactly the edit, keeps the API route, and an unchanged route loses no packet", async () => {
    const file = configPath();
    const [U, C, R, A, P] = ["239.41.0.1", "239.41.0.2", "239.41.0.3", "239.41.0.4", "239.41.0.9"] as const;
    fs.writeFileSync(file, yaml([route(U, ["out1"]), route(C, ["out1"]), route(R, ["out2"])]));

    const mfcd = stops.add(await startMfcd(lab.router, { args: ["--config", file] }));
    const applied = await logLine(mfcd, 0, "config applied");
    expect(applied).toMatchObject({ file, added: 3, removed: 0, replaced: 0, unchanged: 0 });
    let view = byOwner(await mfcd.client.listRoutes({}));
    expect(view.tuples).toEqual(routeTuples([route(U, ["out1"]), route(C, ["out1"]), route(R, ["out2"])]));
    expect(view.owners).toEqual({ [U]: "config", [C]: "config", [R]: "config" });
    expect(await kernelRouteTuples(lab.router)).toEqual(view.tuples);

    // A route added through the API next to them.
    const added = await mfcd.client.addRoute({ route: route(P, ["out2"]) });
    expect(added.route?.owner).toBe("api");

    // A sequence-numbered stream on the route that the edit leaves unchanged.
    const rcv = stops.add(await startReceiver(lab.receivers[0]!, { group: U, port: PORT, ifaceAddr: lab.addrs.receivers[0]! }));
    const stream = stops.add(
      await startStream(lab.source, { group: U, port: PORT, ttl: 8, ifaceAddr: src(), intervalMs: 2, durationMs: bound(30_000) }),
    );
    await rcv.waitForCount(25);

    // Edit: U unchanged, C changed, R removed, A added.
    fs.writeFileSync(file, yaml([route(U, ["out1"]), route(C, ["out1", "out2"]), route(A, ["out2"])]));
    const atReload = rcv.count;
    const reloaded = await hangup(mfcd, "config reloaded");
    expect(reloaded).toMatchObject({ file, added: 1, removed: 1, replaced: 1, unchanged: 1 });

    const expected = routeTuples([route(U, ["out1"]), route(C, ["out1", "out2"]), route(A, ["out2"]), route(P, ["out2"])]);
    view = byOwner(await mfcd.client.listRoutes({}));
    expect(view.tuples).toEqual(expected);
    expect(view.owners).toEqual({ [U]: "config", [C]: "config", [A]: "config", [P]: "api" });
    expect(await kernelRouteTuples(lab.router)).toEqual(expected);
    // The reload is durable (logged only after the state file was written).
    const stored = loadStateFile(mfcd.statePath!).routes;
    expect(routeTuples(stored)).toEqual(expected);
    expect(Object.fromEntries(stored.map((r) => [r.group, r.owner]))).toEqual(view.owners);

    // The stream on U kept flowing across the reload without losing a packet.
    await rcv.waitForCount(atReload + 50);
    const { sent } = await stream.stop();
    await rcv.waitForCount(sent);
    const got = await rcv.stop();
    expect(got.seqs, "every packet of the unchanged route arrived, in order").toEqual(range(0, sent));
    expect((await kernelRoute(lab.router, src(), U))?.counters.packets, "U's entry was never rewritten").toBe(BigInt(sent));

    // Reloading the same file again changes nothing.
    expect(await hangup(mfcd, "config reloaded")).toMatchObject({ added: 0, removed: 0, replaced: 0, unchanged: 3 });
    expect(byOwner(await mfcd.client.listRoutes({})).tuples).toEqual(expected);
  });

  it("a broken file on SIGHUP changes nothing: mfcd keeps SERVING and logs each problem with its line", async () => {
    const file = configPath();
    const [U, C, P] = ["239.42.0.1", "239.42.0.2", "239.42.0.9"] as const;
    const good = [route(U, ["out1"]), route(C, ["out1", "out2"])];
    fs.writeFileSync(file, yaml(good));
    const mfcd = stops.add(await startMfcd(lab.router, { args: ["--config", file] }));
    await mfcd.client.addRoute({ route: route(P, ["out2"]) });
    const before = await mfcd.client.listRoutes({});
    const beforeView = byOwner(before);
    const kernelBefore = await kernelRouteTuples(lab.router);
    expect(kernelBefore).toEqual(beforeView.tuples);
    const vifsBefore = (await kernelVifs(lab.router)).map((v) => [v.vif, v.name]);

    // 1. A misspelt key on line 4 (the second route), and U changed on line 3 in the same file:
    //    none of it may be applied.
    fs.writeFileSync(
      file,
      [
        "version: 1",
        "routes:",
        `  - { source: ${src()}, group: ${U}, iif: in0, oifs: [out2] }`,
        `  - { source: ${src()}, group: ${C}, iif: in0, oif: [out1] }`,
        "",
      ].join("\n"),
    );
    const failed = await hangup(mfcd, "config reload failed: keeping the running routes");
    expect(failed.file).toBe(file);
    const problems = failed.problems as string[];
    expect(problems.some((p) => p.startsWith(`${file}:4:`) && p.includes("unknown key `oif`")), JSON.stringify(problems)).toBe(true);

    // 2. A YAML syntax error (an unclosed flow sequence on line 3).
    fs.writeFileSync(file, ["version: 1", "routes:", `  - { source: ${src()}, group: ${U}, iif: in0, oifs: [out1 }`, ""].join("\n"));
    const failed2 = await hangup(mfcd, "config reload failed: keeping the running routes");
    const problems2 = failed2.problems as string[];
    expect(problems2.length).toBeGreaterThan(0);
    expect(problems2.every((p) => new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+: YAML: `).test(p)), JSON.stringify(problems2)).toBe(true);
    expect(problems2.some((p) => p.startsWith(`${file}:3:`)), JSON.stringify(problems2)).toBe(true);

    // 3. The file is gone.
    fs.rmSync(file);
    const failed3 = await hangup(mfcd, "config reload failed: keeping the running routes");
    expect((failed3.problems as string[]).join("\n")).toContain(`${file}: cannot read config file: no such file`);

    // Nothing changed, and the daemon still serves.
    expect(await mfcd.client.health()).toBe("SERVING");
    const after = byOwner(await mfcd.client.listRoutes({}));
    expect(after).toEqual(beforeView);
    expect(await kernelRouteTuples(lab.router)).toEqual(kernelBefore);
    expect((await kernelVifs(lab.router)).map((v) => [v.vif, v.name])).toEqual(vifsBefore);
    expect(mfcd.proc.exitCode).toBeNull();

    // Fixed, it reloads again.
    fs.writeFileSync(file, yaml([route(U, ["out2"])]));
    expect(await hangup(mfcd, "config reloaded")).toMatchObject({ added: 0, removed: 1, replaced: 1, unchanged: 0 });
    expect(await kernelRouteTuples(lab.router)).toEqual(routeTuples([route(U, ["out2"]), route(P, ["out2"])]));
  });

  it("a restart re-reads the file: config routes persisted from before follow the edit made while mfcd was down; API routes stay", async () => {
    const file = configPath();
    const socketPath = tempSocketPath(); // the restart reuses it and the state file next to it
    const [U, R, A, P] = ["239.44.0.1", "239.44.0.2", "239.44.0.3", "239.44.0.9"] as const;
    fs.writeFileSync(file, yaml([route(U, ["out1"]), route(R, ["out2"])]));
    const first = stops.add(await startMfcd(lab.router, { socketPath, args: ["--config", file] }));
    await first.client.addRoute({ route: route(P, ["out1", "out2"]) });
    expect(await first.stop()).toEqual({ code: 0, signal: null });

    fs.writeFileSync(file, yaml([route(U, ["out1", "out2"]), route(A, ["out1"])]));
    const second = stops.add(await startMfcd(lab.router, { socketPath, args: ["--config", file] }));
    expect(await logLine(second, 0, "config applied")).toMatchObject({ added: 1, removed: 1, replaced: 1, unchanged: 0 });
    const expected = routeTuples([route(U, ["out1", "out2"]), route(A, ["out1"]), route(P, ["out1", "out2"])]);
    const view = byOwner(await second.client.listRoutes({}));
    expect(view.tuples).toEqual(expected);
    expect(view.owners).toEqual({ [U]: "config", [A]: "config", [P]: "api" });
    expect(await kernelRouteTuples(lab.router)).toEqual(expected);
    expect(routeTuples(loadStateFile(second.statePath!).routes)).toEqual(expected);
  });

  it("a config route whose (S,G) belongs to an API route: the reload is refused, and so is a start", async () => {
    const file = configPath();
    const socketPath = tempSocketPath();
    const [U, P] = ["239.45.0.1", "239.45.0.9"] as const;
    fs.writeFileSync(file, yaml([route(U, ["out1"])]));
    const mfcd = stops.add(await startMfcd(lab.router, { socketPath, args: ["--config", file] }));
    await mfcd.client.addRoute({ route: route(P, ["out2"]) });
    const before = byOwner(await mfcd.client.listRoutes({}));

    // The file now claims P (with other oifs), and changes U.
    fs.writeFileSync(file, yaml([route(U, ["out2"]), route(P, ["out1"])]));
    const refused = await hangup(mfcd, "config reload refused: keeping the running routes");
    expect(String(refused.err)).toContain(`owned by "api"`);
    expect(byOwner(await mfcd.client.listRoutes({}))).toEqual(before);
    expect(await kernelRouteTuples(lab.router)).toEqual(before.tuples);
    expect(await mfcd.client.health()).toBe("SERVING");

    // Restarting with that file (P persisted as "api") refuses to start, naming the owner.
    expect(await mfcd.stop()).toEqual({ code: 0, signal: null });
    const bad = stops.add(spawnMfcd(lab.router, { socketPath, args: ["--config", file] }));
    const status = await bad.exitWithin();
    expect(status, bad.stderr()).toEqual({ code: 1, signal: null });
    expect(bad.stderr()).toContain(`owned by "api"`);
    expect(await kernelRoutes(lab.router)).toEqual([]);
    // The state file still holds what was running.
    expect(routeTuples(loadStateFile(mfcd.statePath!).routes)).toEqual(before.tuples);
  });

  it("SIGHUP without --config is logged and harmless", async () => {
    const mfcd = stops.add(await startMfcd(lab.router));
    await mfcd.client.addRoute({ route: route("239.46.0.1", ["out1"]) });
    await hangup(mfcd, "SIGHUP: no --config file to reload");
    expect(await mfcd.client.health()).toBe("SERVING");
    expect(await kernelRouteTuples(lab.router)).toEqual(routeTuples([route("239.46.0.1", ["out1"])]));
    expect(await mfcd.stop()).toEqual({ code: 0, signal: null });
  });

  it("a broken file at start: exit 1 naming FILE:LINE, before taking the kernel table", async () => {
    const file = configPath();
    fs.writeFileSync(
      file,
      [
        "version: 1",
        "routes:",
        `  - { source: ${src()}, group: 239.43.0.1, iif: in0, oifs: [out1] }`,
        `  - { source: 10.1, group: 239.43.0.2, iif: in0, oifs: [out1] }`,
        "",
      ].join("\n"),
    );
    const bad = stops.add(spawnMfcd(lab.router, { args: ["--config", file] }));
    const status = await bad.exitWithin();
    expect(status, bad.stderr()).toEqual({ code: 1, signal: null });
    expect(bad.stderr()).toContain("cannot start");
    expect(bad.stderr()).toContain(`${file}:4:`);
    expect(bad.stderr()).toContain("not a dotted-quad");
    expect(bad.stderr()).not.toContain(`${file}:3:`);
    expect(fs.existsSync(bad.socketPath)).toBe(false);
    expect(fs.existsSync(bad.statePath!), "no state file written").toBe(false);
    expect(await kernelRoutes(lab.router)).toEqual([]);
    expect(await kernelVifs(lab.router)).toEqual([]);
  });
});

// kernel-needs: ipv4 nft
// End-to-end: the built mfcctl (dist/cli/main.js, as `npm run build` leaves it) against a real
// mfcd in a throwaway namespace lab, with real multicast through the kernel.
//
//   src (eth0 10.k.0.2) —in0— router (mfcd) —out1— rcv1
//                                            —out2— rcv2
//
// mfcctl runs in the host namespace and reaches mfcd through its Unix socket (--addr), except
// where the default address is the point: inside `ip netns exec ROUTER`, mfcctl and mfcd agree on
// /run/mfcd/ROUTER.sock without being told.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLab, type Lab } from "../helpers/lab.js";
import { REPO_ROOT, startMfcd, StopList, type MfcdProcess } from "../helpers/mfcd-process.js";
import { sendMulticast, startStream, waitFor } from "../helpers/traffic.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/cli e2e needs root (network namespaces, MRT_INIT)");

const MFCCTL = path.join(REPO_ROOT, "dist/cli/main.js");
const PORT = 5000;

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let lab: Lab;
let mfcd: MfcdProcess;
let addr: string;
const stops = new StopList();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mfcctl-e2e-"));

/** Runs a command (no shell) to its end. */
function exec(argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"], env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", (e) => resolve({ code: null, signal: null, stdout, stderr: `${stderr}spawn failed: ${e.message}` }));
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** mfcctl --addr <this test's mfcd> ARGS... */
const mfcctl = (...args: string[]) => exec([process.execPath, MFCCTL, "--addr", addr, ...args]);

const show = (r: CliResult) => `exit ${r.code} ${r.signal ?? ""}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

interface JsonRoute {
  route: { source: string; group: string; iif: string; oifs: string[]; table: number };
  state: string;
  owner: string;
  counters: { packets: string; bytes: string; wrong_if: string };
}

async function lsJson(): Promise<{ routes: JsonRoute[]; vifs: { interface: string }[] }> {
  const r = await mfcctl("ls", "--json");
  expect(r.code, show(r)).toBe(0);
  return JSON.parse(r.stdout) as { routes: JsonRoute[]; vifs: { interface: string }[] };
}

beforeAll(async () => {
  if (!fs.existsSync(MFCCTL)) throw new Error(`${MFCCTL} is missing: run "npm run build" first`);
  lab = await createLab({ receivers: 2 });
  // A second listener on the default socket of the router namespace (see the last test).
  mfcd = await startMfcd(lab.router, { args: ["--listen", `unix:/run/mfcd/${lab.router}.sock`] });
  addr = `unix:${mfcd.socketPath}`;
});

afterEach(async () => {
  await stops.stopAll();
  // Every route of every owner, whatever a failed test left behind.
  const { routes } = await mfcd.client.listRoutes({});
  for (const r of routes) {
    if (r.route && !r.learned && !r.stopFilter) {
      await mfcd.client
        .delRoute({ source: r.route.source, group: r.route.group, table: r.route.table, iif: r.route.iif })
        .catch(() => undefined);
    }
  }
});

afterAll(async () => {
  await stops.stopAll();
  await mfcd?.stop();
  await lab?.cleanup();
  if (lab) fs.rmSync(`/run/mfcd/${lab.router}.sock`, { force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("mfcctl against a real mfcd", () => {
  it("health prints SERVING", async () => {
    const r = await mfcctl("health");
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.trim()).toBe("SERVING");
  });

  it("info", async () => {
    const j = await mfcctl("info", "--json");
    expect(j.code, show(j)).toBe(0);
    const info = JSON.parse(j.stdout) as {
      version: string;
      kernel_release: string;
      kernel_capabilities: { name: string; option: string; available: boolean; detail: string }[];
      owned_tables: { family: string; table: number }[];
      start_time: string;
      state_file: string;
    };
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    expect(info.version).toBe(pkg.version);
    expect(info.kernel_release).toBe(os.release());
    expect(info.kernel_capabilities.find((c) => c.name === "ipv4"), j.stdout).toMatchObject({ available: true });
    expect(info.owned_tables).toContainEqual({ family: "ipv4", table: 0 });
    expect(info.state_file).toBe(mfcd.statePath ?? "");
    expect(Date.parse(info.start_time)).toBeLessThanOrEqual(Date.now());

    const r = await mfcctl("info");
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain(`mfcd        ${pkg.version}\n`);
    expect(r.stdout).toContain(`kernel      ${os.release()}\n`);
    expect(r.stdout).toMatch(/^tables {6}ipv4 0\b/m);
    expect(r.stdout).toMatch(/^ {2}NAME\s+AVAILABLE\s+NEEDS\s+DETAIL$/m);
    expect(r.stdout).toMatch(/^ {2}ipv4\s+yes\s/m);
  });

  it("add in the shell-friendly form; the route shows in ls and ls --json", async () => {
    const add = await mfcctl("add", lab.addrs.source, "239.5.1.1", "from", "in0", "to", "out1", "out2");
    expect(add.code, show(add)).toBe(0);
    expect(add.stdout).toContain(`added (${lab.addrs.source}, 239.5.1.1) from in0 to out1 out2: INSTALLED`);

    const ls = await mfcctl("ls");
    expect(ls.code, show(ls)).toBe(0);
    const row = ls.stdout.split("\n").find((l) => l.includes("239.5.1.1"));
    expect(row, ls.stdout).toMatch(new RegExp(`^${lab.addrs.source.replace(/\./g, "\\.")}\\s+239\\.5\\.1\\.1\\s+in0\\s+out1,out2\\s+INSTALLED\\s+api\\s+0\\s+0\\s+0`));
    expect(ls.stdout).toContain("VIFs:");

    const json = await lsJson();
    expect(json.routes).toHaveLength(1);
    expect(json.routes[0]).toMatchObject({
      route: { source: lab.addrs.source, group: "239.5.1.1", iif: "in0", oifs: ["out1", "out2"], table: 0 },
      state: "ROUTE_STATE_INSTALLED",
      owner: "api",
      counters: { packets: "0", bytes: "0", wrong_if: "0" },
    });
    expect(json.vifs.map((v) => v.interface).sort()).toEqual(["in0", "out1", "out2"]);
  });

  it("counters rise in ls --json while real multicast flows", async () => {
    const add = await mfcctl("add", lab.addrs.source, "239.5.1.2", "from", "in0", "to", "out1");
    expect(add.code, show(add)).toBe(0);
    const sent = await sendMulticast(lab.source, { group: "239.5.1.2", port: PORT, ttl: 8, ifaceAddr: lab.addrs.source, count: 20, intervalMs: 1 });
    expect(sent).toMatchObject({ sent: 20, errors: 0 });
    const route = await waitFor(
      async () => {
        const r = (await lsJson()).routes.find((x) => x.route.group === "239.5.1.2");
        return r && Number(r.counters.packets) >= 20 ? r : undefined;
      },
      { message: "the route's packet counter never reached 20" },
    );
    expect(Number(route!.counters.bytes)).toBeGreaterThan(0);
    expect(route!.counters.wrong_if).toBe("0");
  });

  it("an invalid group exits 1 printing the status and the field", async () => {
    const r = await mfcctl("add", lab.addrs.source, "224.0.0.5", "from", "in0", "to", "out1");
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^mfcctl: INVALID_ARGUMENT: route\.group: .*224\.0\.0\.5/);
    expect(r.stderr).toContain("reason: INVALID_FIELD (mfcd.v1)");

    const j = await mfcctl("add", lab.addrs.source, "224.0.0.5", "from", "in0", "to", "out1", "--json");
    expect(j.code, show(j)).toBe(1);
    const err = (JSON.parse(j.stderr) as { error: { status: string; details: { fieldViolations?: { field: string }[] }[] } }).error;
    expect(err.status).toBe("INVALID_ARGUMENT");
    expect(err.details.flatMap((d) => d.fieldViolations ?? []).map((v) => v.field)).toContain("route.group");
  });

  it("del of a missing route exits 1 with NOT_FOUND; del of a present one works", async () => {
    const missing = await mfcctl("del", lab.addrs.source, "239.5.9.9");
    expect(missing.code, show(missing)).toBe(1);
    expect(missing.stderr).toMatch(/^mfcctl: NOT_FOUND: /);

    const json = await mfcctl("del", lab.addrs.source, "239.5.9.9", "--json");
    expect(json.code, show(json)).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { status: "NOT_FOUND", code: 5 } });

    expect((await mfcctl("add", "*", "239.5.2.0/24", "from", "in0", "to", "out2")).code).toBe(0);
    const del = await mfcctl("del", "*", "239.5.2.0/24", "from", "in0");
    expect(del.code, show(del)).toBe(0);
    expect((await lsJson()).routes).toEqual([]);
  });

  it("apply a route file: dry run changes nothing, then for real under owner mfcctl", async () => {
    const file = path.join(tmp, "routes.yaml");
    fs.writeFileSync(
      file,
      [
        "version: 1",
        "routes:",
        `  - { source: ${lab.addrs.source}, group: 239.5.3.1, iif: in0, oifs: [out1] }`,
        `  - { source: ${lab.addrs.source}, group: 239.5.3.2, iif: in0, oifs: [out1, out2] }`,
        "",
      ].join("\n"),
    );
    const dry = await mfcctl("apply", file, "--dry-run");
    expect(dry.code, show(dry)).toBe(0);
    expect(dry.stdout).toContain("dry run for owner mfcctl, nothing changed: would add 2, replace 0, remove 0; 0 unchanged");
    expect(dry.stdout).toContain(`+ (${lab.addrs.source}, 239.5.3.2) from in0 to out1 out2`);
    expect((await lsJson()).routes).toEqual([]);

    const real = await mfcctl("apply", file);
    expect(real.code, show(real)).toBe(0);
    expect(real.stdout).toContain("applied 2 route(s) for owner mfcctl: added 2, replaced 0, removed 0, 0 unchanged");
    const routes = (await lsJson()).routes;
    expect(routes.map((r) => [r.route.group, r.owner, r.state]).sort()).toEqual([
      ["239.5.3.1", "mfcctl", "ROUTE_STATE_INSTALLED"],
      ["239.5.3.2", "mfcctl", "ROUTE_STATE_INSTALLED"],
    ]);

    const again = await mfcctl("apply", file, "--json");
    expect(again.code, show(again)).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ added: 0, removed: 0, replaced: 0, unchanged: 2, dry_run: false });

    fs.writeFileSync(path.join(tmp, "bad.yaml"), "version: 1\nroutes:\n  - { source: 10.1, group: 239.5.3.3, iif: in0, oif: [out1] }\n");
    const bad = await mfcctl("apply", path.join(tmp, "bad.yaml"));
    expect(bad.code, show(bad)).toBe(1);
    expect(bad.stderr).toContain("bad.yaml:3:");
    expect(bad.stderr).toContain("did you mean `oifs`?");
  });

  it("watch without a terminal prints plain lines per refresh and ends cleanly when killed", async () => {
    expect((await mfcctl("add", lab.addrs.source, "239.5.4.1", "from", "in0", "to", "out1")).code).toBe(0);
    const child = spawn(process.execPath, [MFCCTL, "--addr", addr, "watch", "--interval", "100"], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    stops.add({ stop: async () => void child.kill("SIGKILL") });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("close", (code, signal) => resolve({ code, signal })),
    );
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on("line", (l) => lines.push(l));
    // Two refreshes: two lines for the route, with different times.
    await waitFor(() => new Set(lines.filter((l) => l.includes("239.5.4.1")).map((l) => l.split(" ")[0])).size >= 2, {
      timeoutMs: 20_000,
      message: () => `watch printed:\n${lines.join("\n")}\nstderr: ${stderr}`,
    });
    child.kill("SIGTERM");
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(stderr).toBe("");
    const line = lines.find((l) => l.includes("239.5.4.1"))!;
    expect(line).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} \\(${lab.addrs.source.replace(/\./g, "\\.")}, 239\\.5\\.4\\.1\\) iif in0 pps=[\\d.]+ bps=\\d+ wrong_if=0 packets=\\d+ bytes=\\d+$`));
    expect(lines.join("\n")).not.toContain("\x1b"); // no terminal control off a terminal
  });

  it("watch on a terminal redraws in place and restores the terminal on Ctrl-C", async () => {
    expect((await mfcctl("add", lab.addrs.source, "239.5.4.3", "from", "in0", "to", "out1")).code).toBe(0);
    // script(1) gives mfcctl a pseudo-terminal; a ^C written to it is SIGINT for mfcctl. script runs
    // the command through $SHELL (or /bin/sh): `exec`, because dash does not exec a lone command
    // and would itself die of that SIGINT (exit 130) whatever mfcctl did.
    const command = `exec ${process.execPath} ${MFCCTL} --addr ${addr} watch --interval 100`;
    const child = spawn("script", ["--quiet", "--flush", "--return", "--command", command, "/dev/null"], {
      cwd: REPO_ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    stops.add({ stop: async () => void child.kill("SIGKILL") });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    const frames = () => out.split("\x1b[Hmfcctl watch").length - 1;
    await waitFor(() => frames() >= 2 && out.includes("239.5.4.3"), {
      timeoutMs: 20_000,
      message: () => `watch wrote: ${JSON.stringify(out)}`,
    });
    child.stdin.write("\x03");
    expect(await exited, JSON.stringify(out)).toBe(0);
    expect(out).toContain("\x1b[?1049h"); // alternate screen
    expect(out.trimEnd().endsWith("\x1b[?25h\x1b[?1049l")).toBe(true); // cursor back, normal screen
  });

  it("watch --json --count prints NDJSON updates and stops by itself", async () => {
    expect((await mfcctl("add", lab.addrs.source, "239.5.4.2", "from", "in0", "to", "out1")).code).toBe(0);
    const r = await mfcctl("watch", "*", "239.5.4.2", "--interval", "100", "--count", "2", "--json");
    expect(r.code, show(r)).toBe(0);
    const updates = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { time: string; routes: { group: string; packets_per_second: number }[] });
    expect(updates).toHaveLength(2);
    for (const u of updates) expect(u.routes.map((x) => x.group)).toEqual(["239.5.4.2"]);
    expect(typeof updates[0]!.routes[0]!.packets_per_second).toBe("number");
  });

  it("diagnose prints the finding codes", async () => {
    expect((await mfcctl("add", lab.addrs.source, "239.5.5.1", "from", "in0", "to", "out1")).code).toBe(0);
    stops.add(
      await startStream(lab.source, { group: "239.5.5.1", port: PORT, ttl: 8, ifaceAddr: lab.addrs.source, intervalMs: 10, size: 64, durationMs: bound(30_000) }),
    );
    const json = await mfcctl("diagnose", lab.addrs.source, "239.5.5.1", "--window", "1000", "--json");
    expect(json.code, show(json)).toBe(0);
    const codes = (JSON.parse(json.stdout) as { findings: { code: string }[] }).findings.map((f) => f.code);
    expect(codes).toContain("FORWARDING_OK");

    const text = await mfcctl("diagnose", lab.addrs.source, "239.5.5.1", "from", "in0", "--window", "1000");
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout).toContain(`Diagnosis of (${lab.addrs.source}, 239.5.5.1)`);
    expect(text.stdout).toMatch(/\[INFO\] FORWARDING_OK: /);

    const none = await mfcctl("diagnose", lab.addrs.source, "239.5.5.99", "--window", "200");
    expect(none.code, show(none)).toBe(0);
    expect(none.stdout).toContain("NO_ROUTE");
  });

  it("trace prints one timestamped nft line per event of a forwarded flow, and --json the events", async () => {
    const G = "239.5.7.1";
    expect((await mfcctl("add", lab.addrs.source, G, "from", "in0", "to", "out1")).code).toBe(0);
    stops.add(await startStream(lab.source, { group: G, port: PORT, ttl: 8, ifaceAddr: lab.addrs.source, intervalMs: 10, size: 64, durationMs: bound(30_000) }));
    const r = await mfcctl("trace", lab.addrs.source, G, "--duration", "2000");
    expect(r.code, show(r)).toBe(0);
    const lines = r.stdout.trim().split("\n");
    for (const l of lines) expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{3} trace id [0-9a-f]+ /);
    expect(lines.some((l) => l.includes("forward") && l.includes('iif "in0" oif "out1"')), r.stdout).toBe(true);
    const j = await mfcctl("trace", lab.addrs.source, G, "--duration", "1000", "--json");
    expect(j.code, show(j)).toBe(0);
    const events = j.stdout.trim().split("\n").map((l) => JSON.parse(l) as { hook: string; trace_id: string });
    expect(new Set(events.map((e) => e.hook))).toContain("forward");
  });

  it("a usage error exits 2 naming the argument, without contacting mfcd", async () => {
    const r = await exec([process.execPath, MFCCTL, "--addr", "unix:/nonexistent/mfcd.sock", "add", lab.addrs.source, "239.5.6.1", "form", "in0"]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('unexpected argument "form"');
    expect(r.stderr).toContain("mfcctl add --help");
  });

  it("an unreachable socket exits 1 naming the address and suggesting --addr", async () => {
    const r = await exec([process.execPath, MFCCTL, "--addr", "unix:/nonexistent/mfcd.sock", "ls"]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain("cannot reach mfcd at unix:/nonexistent/mfcd.sock");
    expect(r.stderr).toContain("--addr");
  });

  it("inside `ip netns exec ROUTER` the default address is mfcd's default there", async () => {
    const r = await exec(["ip", "netns", "exec", lab.router, process.execPath, MFCCTL, "health"]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.trim()).toBe("SERVING");
  });

  it("npx mfcctl runs the package's bin", async () => {
    expect(() => fs.accessSync(MFCCTL, fs.constants.X_OK)).not.toThrow();
    // A private npm cache: npx installs this checkout into its cache once and later reuses that
    // install, so a cache filled before mfcctl existed would have no mfcctl link.
    const env = { ...process.env, npm_config_cache: path.join(tmp, "npm-cache"), npm_config_update_notifier: "false" };
    const r = await exec(["npx", "--yes", "mfcctl", "--addr", addr, "ls"], { env });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain("no routes");
  });
});

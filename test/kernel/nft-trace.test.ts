// kernel-needs: ipv4 nft
// NftTrace against the real kernel and `nft monitor` (nftables 1.0.6): events for one flow's
// packets hook by hook — prerouting, then forward and postrouting per output interface (each a
// clone with its own trace id) — labelled with their hook, other traced flows filtered out, and
// the trace table and monitor removed on stop, on a monitor crash and on process exit.
// Each test builds its own namespaces and removes them, also on failure. Needs root.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { MrouteSocket } from "../../src/kernel/mroute/index.js";
import { NftError, NftRescueTable } from "../../src/kernel/nft/index.js";
import { NftTrace, type NftTraceEvent, type NftTraceOptions } from "../../src/kernel/nft/nft-trace.js";
import { type Lab, createLab } from "../helpers/lab.js";
import { addNetns, delNetns, execIn, ip, run, uniqueName } from "../helpers/netns.js";
import { type Stream, startStream, waitFor } from "../helpers/traffic.js";
import { cleanupAfterEach } from "../helpers/cleanup-after-each.js";

if (process.getuid?.() !== 0) {
  throw new Error("test/kernel/nft-trace.test.ts needs root (network namespaces, nftables)");
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "../..");

let seq = 0;
const uniqueTable = (): string => `mfct_${process.pid}_${++seq}`;
let port = 45_000 + (process.pid % 9_000);
const nextPort = (): number => ++port;
const G1 = "239.8.8.1";
const G2 = "239.8.8.2";

const cleanups = cleanupAfterEach();

const netnsPath = (ns: string): string => `/run/netns/${ns}`;

async function lab(opts: Parameters<typeof createLab>[0]): Promise<Lab> {
  const l = await createLab(opts);
  cleanups.push(() => l.cleanup());
  return l;
}

async function plainNetns(): Promise<string> {
  const ns = uniqueName("nft");
  await addNetns(ns);
  cleanups.push(() => delNetns(ns));
  return ns;
}

function mrouter(l: Lab): MrouteSocket {
  const s = MrouteSocket.open({ netns: netnsPath(l.router) });
  cleanups.push(() => s.close());
  ["in0", ...l.routerIfaces.outs].forEach((name, vif) => s.addVif(vif, s.ifindex(name)!));
  return s;
}

async function stream(ns: string, opts: Parameters<typeof startStream>[1]): Promise<Stream> {
  const s = await startStream(ns, { intervalMs: 20, ...opts });
  cleanups.push(() => s.stop().catch(() => undefined));
  return s;
}

/** Starts a trace that collects its events; stopped after the test. */
async function trace(opts: NftTraceOptions): Promise<{ t: NftTrace; events: NftTraceEvent[] }> {
  const events: NftTraceEvent[] = [];
  const t = await NftTrace.start(opts, (e) => events.push(e));
  cleanups.push(() => t.stop());
  return { t, events };
}

async function tablesIn(ns: string): Promise<string[]> {
  const doc = JSON.parse(await execIn(ns, ["nft", "-j", "list", "tables"])) as { nftables: Record<string, unknown>[] };
  return doc.nftables.flatMap((o) => ("table" in o ? [(o.table as { name: string }).name] : []));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("NftTrace", () => {
  it("reports prerouting, forward and postrouting events of one forwarded flow only, and stop() cleans up", async () => {
    const l = await lab({ receivers: 2 });
    const mr = mrouter(l);
    mr.addMfc(l.addrs.source, G1, 0, new Map([[1, 1], [2, 1]]));
    mr.addMfc(l.addrs.source, G2, 0, new Map([[1, 1]]));
    const netns = netnsPath(l.router);
    const a = await trace({ iif: "in0", source: l.addrs.source, group: G1, netns, tableName: uniqueTable() });
    // A second, concurrent trace of another flow: its marked packets must not show up in `a`.
    const b = await trace({ iif: "in0", source: l.addrs.source, group: G2, netns, tableName: uniqueTable() });
    expect((await tablesIn(l.router)).sort()).toEqual([a.t.tableName, b.t.tableName].sort());

    await stream(l.source, { group: G1, port: nextPort(), ttl: 8, ifaceAddr: l.addrs.source });
    await stream(l.source, { group: G2, port: nextPort(), ttl: 8, ifaceAddr: l.addrs.source });

    const own = (e: NftTraceEvent): boolean => e.table === a.t.tableName;
    await waitFor(
      () =>
        a.events.some((e) => own(e) && e.type === "rule" && e.rule?.endsWith("meta nftrace set 1") && e.verdict === "continue") &&
        ["out1", "out2"].every((oif) => a.events.some((e) => e.hook === "forward" && e.packet?.oif === oif)) &&
        a.events.some((e) => e.hook === "postrouting" && e.type === "policy") &&
        b.events.some((e) => e.hook === "forward" && e.packet?.oif === "out1"),
      { message: () => `events of a:\n${a.events.map((e) => e.raw).join("\n")}` },
    );

    const first = a.events.find((e) => own(e) && e.type === "packet" && e.hook === "prerouting")!;
    expect(first).toMatchObject({
      family: "ip",
      chain: "prerouting",
      packet: { iif: "in0", saddr: l.addrs.source, daddr: G1, ttl: 8 },
    });
    expect(a.events.find((e) => own(e) && e.hook === "forward" && e.type === "packet")?.packet?.ttl).toBe(7);
    // Only our flow: every packet line is G1's, every event has a hook (all chains are base chains).
    for (const e of a.events) {
      if (e.type === "packet") expect(e.packet?.daddr, e.raw).toBe(G1);
      expect(e.hook, e.raw).toBeDefined();
      if (own(e)) expect(e.hook).toBe(e.chain);
    }
    for (const e of b.events) if (e.type === "packet") expect(e.packet?.daddr, e.raw).toBe(G2);
    // Two output interfaces: the packet is cloned, and the clone gets a trace id of its own.
    const ids = new Set(a.events.filter((e) => e.hook === "forward").map((e) => e.id));
    expect(ids.size).toBeGreaterThan(1);

    const pid = a.t.monitorPid!;
    await a.t.stop();
    await expect(a.t.ended).resolves.toEqual({ reason: "stopped" });
    expect(alive(pid)).toBe(false);
    expect(await tablesIn(l.router)).toEqual([b.t.tableName]);
    await a.t.stop(); // idempotent
    a.t.stopSync(); // also after stop()
    const n = a.events.length;
    const nb = b.events.length;
    await waitFor(() => b.events.length >= nb + 10); // b still traces while a stays silent
    expect(a.events.length).toBe(n);
  });

  it("labels chains created after start (base and jump target), and follows a rewritten source", async () => {
    const l = await lab({ receivers: 1, rpFilter: 1 });
    const unroutable = "10.99.0.100";
    const rewritten = `10.${l.k}.0.50`;
    await ip(["addr", "add", `${unroutable}/32`, "dev", "eth0"], l.source);
    const mr = mrouter(l);
    mr.addMfc(rewritten, G1, 0, new Map([[1, 1]]));
    const netns = netnsPath(l.router);
    const { events } = await trace({ iif: "in0", source: unroutable, group: G1, netns, maxPacketsPerSecond: 0 });

    const rescue = new NftRescueTable({ netns, tableName: uniqueTable() });
    await rescue.apply([{ iif: "in0", source: unroutable, group: G1, rewriteSource: rewritten }]);
    const other = uniqueTable();
    await execIn(l.router, ["nft", "-f", "-"], {
      input:
        `table ip ${other} {\n\tchain sub {\n\t\tcounter\n\t}\n` +
        `\tchain fw {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\tjump sub\n\t}\n}\n`,
    });
    cleanups.push(() => execIn(l.router, ["nft", "delete", "table", "ip", other]));
    await stream(l.source, { group: G1, port: nextPort(), ttl: 8, ifaceAddr: unroutable });

    await waitFor(
      () =>
        events.some((e) => e.table === rescue.tableName && e.type === "rule") &&
        events.some((e) => e.table === other && e.chain === "sub" && e.type === "rule"),
      { message: () => events.map((e) => e.raw).join("\n") },
    );
    const rule = events.find((e) => e.table === rescue.tableName && e.type === "rule")!;
    expect(rule).toMatchObject({ chain: "rescue", hook: "prerouting", verdict: "continue", handle: expect.any(Number) as unknown });
    expect(rule.rule).toContain(`ip saddr set ${rewritten}`);
    expect(events.find((e) => e.table === other && e.chain === "sub")?.hook).toBe("forward");
    // After the rewrite the packet lines show the new source and are still ours.
    const fwd = events.find((e) => e.hook === "forward" && e.type === "packet")!;
    expect(fwd.packet).toMatchObject({ iif: "in0", oif: "out1", saddr: rewritten, daddr: G1 });
  });

  it("a throwing onEvent ends the trace with callback-failed and removes its table", async () => {
    const l = await lab({ receivers: 1 });
    const mr = mrouter(l);
    mr.addMfc(l.addrs.source, G1, 0, new Map([[1, 1]]));
    const t = await NftTrace.start(
      { iif: "in0", source: l.addrs.source, group: G1, netns: netnsPath(l.router), tableName: uniqueTable() },
      () => {
        throw new Error("consumer broke");
      },
    );
    cleanups.push(() => t.stop());
    await stream(l.source, { group: G1, port: nextPort(), ttl: 8, ifaceAddr: l.addrs.source });
    const end = await t.ended;
    expect(end).toEqual({ reason: "callback-failed", detail: "Error: consumer broke" });
    await waitFor(async () => (await tablesIn(l.router)).length === 0);
  });

  it("ends with monitor-exited when nft monitor dies, and still removes its table", async () => {
    const ns = await plainNetns();
    const { t } = await trace({ iif: "in0", source: "10.0.0.1", group: G1, netns: netnsPath(ns), tableName: uniqueTable() });
    expect(await tablesIn(ns)).toEqual([t.tableName]);
    process.kill(t.monitorPid!, "SIGKILL");
    const end = await t.ended;
    expect(end.reason).toBe("monitor-exited");
    await waitFor(async () => (await tablesIn(ns)).length === 0);
  });

  it("stopSync() removes the table at once; a failed start leaves neither table nor monitor", async () => {
    const ns = await plainNetns();
    const { t } = await trace({ iif: "in0", source: "10.0.0.1", group: G1, netns: netnsPath(ns) });
    expect(t.tableName).toMatch(new RegExp(`^mfcd_trace_${process.pid}_\\d+$`));
    const pid = t.monitorPid!;
    t.stopSync();
    expect(await tablesIn(ns)).toEqual([]);
    await expect(t.ended).resolves.toEqual({ reason: "stopped" });
    await waitFor(() => !alive(pid));

    const err = await NftTrace.start(
      { iif: "in0", source: "10.0.0.1", group: G1, netns: netnsPath(ns), tableName: "fwd" }, // nft keyword
      () => undefined,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NftError);
    expect((err as NftError).stderr).toMatch(/syntax error/);
    expect(await tablesIn(ns)).toEqual([]);
    await waitFor(async () => (await run(["ip", "netns", "pids", ns])).trim() === "");
    await expect(NftTrace.start({ iif: "in0", source: "10.0.0.1/8", group: G1 }, () => undefined)).rejects.toThrow(
      TypeError,
    );
  });

  it("removes its table when the process exits without stop()", async () => {
    const ns = await plainNetns();
    const table = uniqueTable();
    const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mfct-")), "exit.mts");
    cleanups.push(() => fs.rmSync(path.dirname(script), { recursive: true, force: true }));
    fs.writeFileSync(
      script,
      `import { NftTrace } from ${JSON.stringify(path.join(REPO, "src/kernel/nft/index.ts"))};\n` +
        `await NftTrace.start({ iif: "in0", source: "10.0.0.1", group: "${G1}", netns: "${netnsPath(ns)}", tableName: "${table}" }, () => {});\n` +
        `console.log("STARTED");\nprocess.exit(0);\n`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(out).toContain("STARTED");
    expect(code).toBe(0);
    expect(await tablesIn(ns)).toEqual([]);
  });
});

// kernel-needs: ipv4
// End-to-end: `--metrics-listen 127.0.0.1:9105` inside the router namespace, scraped from there
// (each namespace has its own loopback) while real multicast flows through mfcd, and the JSON log
// lines (one per RPC, kernel events). Lab: src —in0— router (mfcd) —out1/out2— rcv1, rcv2.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Status } from "../../src/sdk/index.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { execIn } from "../helpers/netns.js";
import { startMfcd, tempSocketPath, type MfcdProcess } from "../helpers/mfcd-process.js";
import { rejection } from "../helpers/rejection.js";
import { sendMulticast, startReceiver, startStream, waitFor } from "../helpers/traffic.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
let lab: Lab;
let mfcd: MfcdProcess;

beforeAll(async () => {
  lab = await createLab({ receivers: 2 });
  mfcd = await startMfcd(lab.router, {
    socketPath: tempSocketPath(),
    args: ["--log-level", "info", "--metrics-listen", "127.0.0.1:9105"],
  });
});
afterAll(async () => {
  await mfcd?.stop();
  await lab?.cleanup();
});

/** GET http://127.0.0.1:9105<url> from inside the router namespace (as Prometheus there would). */
async function scrape(url = "/metrics"): Promise<{ status: number; type: string; body: string }> {
  const script =
    `const r = await fetch("http://127.0.0.1:9105${url}");` +
    "process.stdout.write(JSON.stringify({ status: r.status, type: r.headers.get('content-type'), body: await r.text() }));";
  return JSON.parse(await execIn(lab.router, [process.execPath, "--input-type=module", "-e", script])) as {
    status: number;
    type: string;
    body: string;
  };
}

function value(body: string, series: string): number | undefined {
  const line = body.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function logLines(): Record<string, unknown>[] {
  return mfcd
    .stderr()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("metrics and logs", () => {
  it("per-route and per-VIF counters follow real traffic; RPCs are counted", async () => {
    const group = `239.${lab.k}.90.1`;
    const src = lab.addrs.source;
    await mfcd.client.addRoute({ route: { source: src, group, iif: "in0", oifs: ["out1", "out2"] } });
    const rcv = await startReceiver(lab.receivers[0]!, { group, port: PORT, ifaceAddr: lab.addrs.receivers[0]! });
    try {
      await sendMulticast(lab.source, { group, port: PORT, ttl: 8, ifaceAddr: src, count: 25, firstSeq: 0, intervalMs: 1 });
      await rcv.waitForCount(25);
    } finally {
      await rcv.stop();
    }
    const labels = `family="ipv4",table="0",source="${src}",group="${group}",iif="in0",kind="static"`;
    let m = await scrape();
    await waitFor(async () => {
      m = await scrape();
      return (value(m.body, `mfcd_route_packets_total{${labels}}`) ?? 0) >= 25;
    });
    expect(m.status).toBe(200);
    expect(m.type).toContain("text/plain; version=0.0.4");
    expect(value(m.body, `mfcd_route_packets_total{${labels}}`)).toBe(25);
    expect(value(m.body, `mfcd_route_wrong_if_total{${labels}}`)).toBe(0);
    expect(value(m.body, `mfcd_route_bytes_total{${labels}}`)).toBeGreaterThan(25 * 28);
    expect(value(m.body, 'mfcd_routes{state="installed",kind="static"}')).toBe(1);
    const vifOut = (iface: string) =>
      m.body.split("\n").find((l) => l.startsWith("mfcd_vif_out_packets_total") && l.includes(`interface="${iface}"`));
    expect(Number(vifOut("out1")?.split(" ").at(-1))).toBe(25);
    expect(Number(vifOut("out2")?.split(" ").at(-1))).toBe(25);
    expect(value(m.body, 'mfcd_rpc_requests_total{method="/mfc.v1.MfcService/AddRoute",code="OK"}')).toBe(1);
    expect(value(m.body, 'mfcd_rpc_duration_seconds_count{method="/mfc.v1.MfcService/AddRoute"}')).toBe(1);
  });

  it("failed RPCs are counted by status and logged at warn with the error", async () => {
    expect(await rejection(mfcd.client.delRoute({ source: "10.200.0.1", group: "239.200.0.1" }))).toMatchObject({
      code: Status.NOT_FOUND,
    });
    const m = await scrape();
    expect(value(m.body, 'mfcd_rpc_requests_total{method="/mfc.v1.MfcService/DelRoute",code="NOT_FOUND"}')).toBe(1);
    const line = await waitFor(() =>
      logLines().find((l) => l.rpc === "/mfc.v1.MfcService/DelRoute" && l.code === "NOT_FOUND"),
    );
    expect(line).toMatchObject({ level: 40, msg: "rpc" });
    expect(typeof line.durationMs).toBe("number");
    expect(String(line.error)).toContain("10.200.0.1");
    expect(line.peer).toBeDefined();
  });

  it("logs one info line per successful RPC, and interface events", async () => {
    await execIn(lab.router, ["ip", "link", "add", "mx1", "type", "veth", "peer", "name", "mx1p"]);
    await mfcd.client.addRoute({ route: { source: lab.addrs.source, group: `239.${lab.k}.90.2`, iif: "in0", oifs: ["mx1"] } });
    await execIn(lab.router, ["ip", "link", "del", "mx1"]);
    const lines = await waitFor(() => {
      const all = logLines();
      return all.some((l) => l.msg === "interface deleted" && l.interface === "mx1") ? all : undefined;
    });
    expect(lines.filter((l) => l.msg === "interface added" && l.interface === "mx1")).toHaveLength(1);
    const adds = lines.filter((l) => l.rpc === "/mfc.v1.MfcService/AddRoute" && l.code === "OK");
    expect(adds.length).toBe(2);
    expect(adds[0]).toMatchObject({ level: 30, msg: "rpc" });
    expect(lines.some((l) => l.msg === "serving")).toBe(true);
  });

  it("while a stream flows, successive scrapes show the counters rising; traffic without a route counts as nocache upcalls", async () => {
    const group = `239.${lab.k}.90.3`;
    const src = lab.addrs.source;
    await mfcd.client.addRoute({ route: { source: src, group, iif: "in0", oifs: ["out1"] } });
    const labels = `family="ipv4",table="0",source="${src}",group="${group}",iif="in0",kind="static"`;
    const packets = async () => value((await scrape()).body, `mfcd_route_packets_total{${labels}}`) ?? 0;
    const stream = await startStream(lab.source, { group, port: PORT, ttl: 8, ifaceAddr: src, intervalMs: 5, size: 64, durationMs: bound(30_000) });
    try {
      const first = await waitFor(async () => {
        const n = await packets();
        return n > 0 ? n : undefined;
      });
      await waitFor(async () => (await packets()) > first);
    } finally {
      await stream.stop();
    }
    // A group with no route: the kernel asks mfcd (NOCACHE upcall), and the scrape counts it.
    const before = value((await scrape()).body, 'mfcd_upcalls_total{family="ipv4",type="nocache"}') ?? 0;
    await sendMulticast(lab.source, { group: `239.${lab.k}.90.4`, port: PORT, ttl: 8, ifaceAddr: src, count: 3, firstSeq: 0, intervalMs: 1 });
    await waitFor(async () => (value((await scrape()).body, 'mfcd_upcalls_total{family="ipv4",type="nocache"}') ?? 0) > before);
  });

  it("serves only /metrics", async () => {
    expect((await scrape("/")).status).toBe(404);
  });
});

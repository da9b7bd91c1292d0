// Where a unary AddRoute's time goes: the same mfcd (dist/) answered by the SDK (nice-grpc over
// grpc-js, what controllers use) and by a bare HTTP/2 client (node:http2, one session, the
// request bytes encoded once) that shows what the server itself adds; each with the state file on
// disk (fdatasync per mutation, as users run it) and with --state-file none.
//
//   npx tsx bench/unary-floor.ts [--calls N] [--profile DIR (mfcd --cpu-prof into DIR)]
//
// Needs root and `npm run build`. Prints p50/p99 in µs per combination and the empty
// grpc.health.v1/Check through both clients.

import http2 from "node:http2";
import net from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { AddRouteRequest, DelRouteRequest } from "../src/gen/mfc.js";
import { createBenchNs, removeBenchNamespaces, IIF, OIFS, GROUP, sourceAt } from "./lib/bench-netns.js";
import { makeTempDir } from "./lib/children.js";
import { prepareMfcd, startMfcd, type RunningMfcd } from "./mfcd.js";
import { cpuSeconds } from "./lib/procfs.js";
import { nowNs, summarize } from "./lib/stats.js";

function frame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** One gRPC unary call over an existing HTTP/2 session; resolves with grpc-status. */
function rawCall(session: http2.ClientHttp2Session, method: string, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ":method": "POST",
      ":path": method,
      "content-type": "application/grpc",
      te: "trailers",
    });
    let status = "";
    req.on("trailers", (t) => (status = String(t["grpc-status"] ?? "")));
    req.on("response", (h) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
    });
    req.on("data", () => undefined);
    req.on("end", () => resolve(status));
    req.on("error", reject);
    req.end(body);
  });
}

let serverPid = 0;

/** Latency percentiles, and CPU per call on each side (steadier than wall time on a busy machine). */
async function measure(label: string, calls: number, call: (i: number) => Promise<unknown>): Promise<void> {
  // A warm server: the first few hundred calls of a fresh process run unoptimised code.
  for (let i = 0; i < 1000; i++) await call(-1 - i);
  const samples: number[] = [];
  const server0 = cpuSeconds(serverPid);
  const client0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    const s = nowNs();
    await call(i);
    samples.push((nowNs() - s) / 1e3);
  }
  const client = process.cpuUsage(client0);
  const serverUs = ((cpuSeconds(serverPid) - server0) * 1e6) / calls;
  const clientUs = (client.user + client.system) / calls;
  const r = summarize(samples);
  console.log(
    `${label.padEnd(44)} p50 ${r.p50.toFixed(0).padStart(5)} µs  p99 ${r.p99.toFixed(0).padStart(5)} µs` +
      `  cpu/call: server ${serverUs.toFixed(0).padStart(4)} µs, client ${clientUs.toFixed(0).padStart(4)} µs`,
  );
}

async function probe(m: RunningMfcd, label: string, calls: number, base: number): Promise<void> {
  const session = http2.connect("http://localhost", { createConnection: () => net.connect(m.socketPath) });
  const add = (i: number) =>
    frame(
      AddRouteRequest.encode({
        route: { source: sourceAt(base + i + 20_000), group: GROUP, iif: IIF, oifs: [...OIFS], oifTtl: {}, table: 0 },
        replace: false,
        owner: "",
        requireInterfaces: false,
      }).finish(),
    );
  const health = frame(new Uint8Array());
  await measure(`${label}: Health.Check, SDK`, calls, () => m.client.health());
  await measure(`${label}: Health.Check, bare http2`, calls, () =>
    rawCall(session, "/grpc.health.v1.Health/Check", health),
  );
  await measure(`${label}: AddRoute, SDK`, calls, (i) =>
    m.client.addRoute({ route: { source: sourceAt(base + i + 2000), group: GROUP, iif: IIF, oifs: [...OIFS] } }),
  );
  await measure(`${label}: AddRoute, bare http2`, calls, (i) =>
    rawCall(session, "/mfc.v1.MfcService/AddRoute", add(i + calls)),
  );
  // DelRoute of what the bare client added keeps the table size steady between runs.
  const del = (i: number) =>
    frame(DelRouteRequest.encode({ source: sourceAt(base + i + 20_000 + calls), group: GROUP, table: 0, iif: "" }).finish());
  await measure(`${label}: DelRoute, bare http2`, calls, (i) => rawCall(session, "/mfc.v1.MfcService/DelRoute", del(i)));
  session.close();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { calls: { type: "string", default: "2000" }, profile: { type: "string" } },
  });
  const calls = Number(values.calls);
  const nodeFlags = values.profile ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(values.profile)] : [];
  const entry = await prepareMfcd("dist");
  const ns = await createBenchNs("unary");
  try {
    for (const [label, stateFile] of [
      ["state on disk", path.join(makeTempDir(), "mfcd.state")],
      ["--state-file none", "none"],
    ] as const) {
      const m = await startMfcd(ns, entry, { stateFile, nodeFlags });
      serverPid = m.daemon.pid;
      try {
        await probe(m, label, calls, label === "state on disk" ? 0 : 100_000);
      } finally {
        await m.stop();
      }
    }
  } finally {
    await removeBenchNamespaces();
  }
}

await main();

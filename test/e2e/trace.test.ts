// kernel-needs: ipv4 nft
// End-to-end: Trace follows one flow's real packets through netfilter's hooks (nft trace) and
// leaves nothing behind.
//
//   src (eth0 10.k.0.2 + 10.99.0.100/32) —in0— router (mfcd) —out1— rcv1
//
// A forwarded flow shows prerouting and forward; a flow rp_filter drops shows prerouting and
// never forward. Whether the stream ends by its duration or the client cancels it early, the
// temporary `mfcd_trace_*` table and its `nft monitor` are gone afterwards. Without the nft
// binary, Trace is FAILED_PRECONDITION naming the package.
//
// One lab and one daemon for the file (the nft-less daemon gets a lab of its own); each test
// uses its own group, restores the sysctls it changes and leaves no route behind.
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { TraceRequest, TraceResponse } from "../../src/gen/mfc.js";
import { MfcError, Status } from "../../src/sdk/index.js";
import { netstat } from "../helpers/kernel-view.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { deleteAllRoutes, startMfcd, StopList, type MfcdProcess } from "../helpers/mfcd-process.js";
import { execIn, ip, run } from "../helpers/netns.js";
import { startStream, waitFor, type Stream } from "../helpers/traffic.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT, nft)");

const PORT = 5000;
const CAMERA = "10.99.0.100";

let lab: Lab;
let mfcd: MfcdProcess;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 1 });
  await ip(["addr", "add", `${CAMERA}/32`, "dev", "eth0"], lab.source);
  mfcd = await startMfcd(lab.router);
});
afterEach(async () => {
  await stops.stopAll();
  await deleteAllRoutes(mfcd.client);
});
afterAll(async () => {
  await stops.stopAll();
  await mfcd?.stop();
  await lab?.cleanup();
});

const src = () => lab.addrs.source;

async function stream(group: string, from: string): Promise<Stream> {
  return stops.add(
    await startStream(lab.source, { group, port: PORT, ttl: 8, ifaceAddr: from, intervalMs: 10, size: 64, durationMs: bound(30_000) }),
  );
}

async function collect(events: AsyncIterable<TraceResponse>): Promise<TraceResponse[]> {
  const out: TraceResponse[] = [];
  for await (const e of events) out.push(e);
  return out;
}

/** Names of the `mfcd_trace_*` tables in `ns` (any family). */
async function traceTables(ns: string): Promise<string[]> {
  const out = await execIn(ns, ["nft", "list", "tables"]);
  return out
    .split("\n")
    .map((l) => /^table \S+ (mfcd_trace_\S*)$/.exec(l.trim())?.[1])
    .filter((t): t is string => t !== undefined);
}

/** Processes in `ns` whose command name is nft (the trace's `nft monitor`). */
async function nftProcesses(ns: string): Promise<number[]> {
  const pids = (await run(["ip", "netns", "pids", ns])).split(/\s+/).filter((p) => /^\d+$/.test(p));
  return pids.map(Number).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "nft";
    } catch {
      return false; // gone meanwhile
    }
  });
}

/** Trace ids whose packet line (the headers at a chain's entry) shows (source, group). */
function packetIds(events: TraceResponse[], source: string, group: string, hook: string): Set<string> {
  return new Set(
    events
      .filter((e) => e.hook === hook && e.raw.includes(" packet: ") && e.raw.includes(`ip daddr ${group} `))
      .filter((e) => hook === "postrouting" || e.raw.includes(`ip saddr ${source} `))
      .map((e) => e.traceId),
  );
}

async function sysctl(...settings: string[]): Promise<void> {
  await execIn(lab.router, ["sysctl", "-q", "-w", ...settings]);
}

describe("Trace (real nft trace on the router)", () => {
  it("a forwarded flow: our packets pass prerouting and forward; no trace table remains after the stream ends", async () => {
    const G = "239.83.1.1";
    await mfcd.client.addRoute({ route: { source: src(), group: G, iif: "in0", oifs: ["out1"] } });
    await stream(G, src());
    const events = await collect(mfcd.client.trace({ source: src(), group: G, durationMs: 2000 }));
    // Ended by its duration: the table is removed before the stream's end reaches the client.
    expect(await traceTables(lab.router)).toEqual([]);

    const pre = packetIds(events, src(), G, "prerouting");
    const fwd = packetIds(events, src(), G, "forward");
    expect(pre.size, events.map((e) => e.raw).join("\n")).toBeGreaterThan(0);
    expect(fwd.size, events.map((e) => e.raw).join("\n")).toBeGreaterThan(0);
    expect([...fwd].some((id) => pre.has(id))).toBe(true); // the same packet went prerouting → forward
    const forwardPacket = events.find((e) => e.hook === "forward" && fwd.has(e.traceId) && e.raw.includes(" packet: "))!;
    expect(forwardPacket.raw).toMatch(/iif "in0" oif "out1"/);
    // Every event belongs to our flow's packets and names its table/chain.
    for (const e of events) {
      expect(e.traceId).toMatch(/^[0-9a-f]+$/);
      expect(e.table).not.toBe("");
      expect(e.chain).not.toBe("");
      if (e.raw.includes(" packet: ")) expect(e.raw).toContain(`ip daddr ${G} `);
    }
    expect(new Set(events.map((e) => e.hook))).toEqual(new Set(["prerouting", "forward", "postrouting"]));
    // nft prints "unknown rule handle N" for rules added after its monitor started (the mark
    // rule is one); mfcd still reports the rule's text.
    const mark = events.find((e) => e.hook === "prerouting" && e.raw.includes("rule handle"));
    expect(mark?.rule).toContain("meta nftrace set 1");
    expect(mark?.verdict).toBe("continue");
  });

  it("an rp_filter-dropped flow: prerouting events, never forward", async () => {
    const G = "239.83.2.1";
    await mfcd.client.addRoute({ route: { source: CAMERA, group: G, iif: "in0", oifs: ["out1"] } });
    await sysctl("net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.in0.rp_filter=1");
    try {
      await stream(G, CAMERA);
      const drops = await netstat(lab.router, "TcpExtIPReversePathFilter");
      const events = await collect(mfcd.client.trace({ source: CAMERA, group: G, durationMs: 2000 }));
      expect(await netstat(lab.router, "TcpExtIPReversePathFilter")).toBeGreaterThan(drops);
      const raw = events.map((e) => e.raw).join("\n");
      expect(packetIds(events, CAMERA, G, "prerouting").size, raw).toBeGreaterThan(0);
      expect(events.filter((e) => e.hook !== "prerouting"), raw).toEqual([]);
      expect(await traceTables(lab.router)).toEqual([]);
    } finally {
      await sysctl("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.in0.rp_filter=0");
    }
  });

  it("a client that cancels early leaves no trace table and no nft monitor behind", async () => {
    const G = "239.83.3.1";
    await mfcd.client.addRoute({ route: { source: src(), group: G, iif: "in0", oifs: ["out1"] } });
    await stream(G, src());
    const abort = new AbortController();
    const seen: TraceResponse[] = [];
    const ended = (async () => {
      for await (const e of mfcd.client.trace({ source: src(), group: G, durationMs: 60_000 }, { signal: abort.signal })) {
        seen.push(e);
      }
    })();
    ended.catch(() => undefined);
    await waitFor(() => seen.length > 0, { message: "no trace event" });
    expect(await traceTables(lab.router)).toHaveLength(1);
    expect(await nftProcesses(lab.router)).toHaveLength(1);
    abort.abort();
    await expect(ended).rejects.toThrow();
    // Far sooner than the 60 s the trace asked for.
    await waitFor(async () => (await traceTables(lab.router)).length === 0 && (await nftProcesses(lab.router)).length === 0, {
      message: "the trace table or its nft monitor outlived the cancelled call",
    });
  });

  it("an invalid duration_ms, or no iif and no route, is INVALID_ARGUMENT naming the field", async () => {
    const cases: [Partial<TraceRequest>, string][] = [
      [{ source: src(), group: "239.83.4.1", iif: "in0", durationMs: 60_001 }, "duration_ms"],
      [{ source: src(), group: "239.83.4.1", iif: "", durationMs: 1000 }, "iif"],
    ];
    for (const [req, field] of cases) {
      const err = await collect(mfcd.client.trace(req)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MfcError);
      expect((err as MfcError).code).toBe(Status.INVALID_ARGUMENT);
      expect((err as MfcError).fieldViolations.map((v) => v.field)).toEqual([field]);
    }
    expect(await traceTables(lab.router)).toEqual([]);
  });
});

describe("Trace without nft", () => {
  it("is FAILED_PRECONDITION naming the package nftables", async () => {
    const bare = await createLab({ receivers: 1 });
    let daemon: MfcdProcess | undefined;
    try {
      const dirs = (process.env.PATH ?? "").split(path.delimiter).filter((d) => d !== "" && !fs.existsSync(path.join(d, "nft")));
      expect(dirs.some((d) => fs.existsSync(path.join(d, "ip")))).toBe(true); // startMfcd runs `ip netns exec`
      daemon = await startMfcd(bare.router, { env: { ...process.env, PATH: ["/nonexistent-bin", ...dirs].join(path.delimiter) } });
      const req = { source: bare.addrs.source, group: "239.83.5.1", iif: "in0", durationMs: 1000 };
      const err = await collect(daemon.client.trace(req)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MfcError);
      const e = err as MfcError;
      expect(e.code).toBe(Status.FAILED_PRECONDITION);
      expect(e.details).toContain('"nftables"');
      expect(e.reason).toBe("NFT_UNAVAILABLE");
      expect(await traceTables(bare.router)).toEqual([]);
    } finally {
      await daemon?.stop().catch(() => undefined);
      await bare.cleanup();
    }
  });
});

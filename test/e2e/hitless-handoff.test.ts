// kernel-needs: ipv4 nft
// End-to-end: restarts that lose no packet (issue 12 §4). The MRT_INIT socket never closes, so
// the kernel never stops forwarding: a numbered stream crosses the restart without a gap.
//
//   src —in0— router (mfcd) —out1— rcv1
//
// - In-place upgrade (Stop{upgrade}, mfcctl upgrade): mfcd re-executes itself (same pid) and
//   hands its sockets to the new program, which adopts the routes with their counters.
// - systemd's fd store, with this test standing in for the service manager: a notify socket
//   receives FDSTORE=1 with the socket; the next mfcd gets it back as LISTEN_FDS; when the
//   store lets go (the unit stops) the kernel removes everything.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createMfcClient, RouteState } from "../../src/sdk/index.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { kernelRoutes, kernelRouteTuples, kernelVifs, routeTuples, startMfcd, StopList, tempSocketPath, type RouteTuple } from "../helpers/mfcd-process.js";
import { FdStore } from "../helpers/fd-store.js";
import { execIn } from "../helpers/netns.js";
import { settle, startReceiver, startStream, waitFor, type Receiver } from "../helpers/traffic.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
let lab: Lab;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 1 });
});
afterEach(async () => {
  await stops.stopAll();
});
afterAll(async () => {
  await stops.stopAll();
  await lab?.cleanup();
});

const route = (group: string): RouteTuple => ({ source: lab.addrs.source, group, iif: "in0", oifs: ["out1"] });

/** A receiver on rcv1 and a numbered stream (200/s) into `group`, flowing. */
async function streamThrough(group: string): Promise<{ rcv: Receiver; stopStream: () => Promise<unknown> }> {
  const rcv = stops.add(await startReceiver(lab.receivers[0]!, { group, port: PORT, ifaceAddr: lab.addrs.receivers[0]! }));
  const stream = stops.add(
    await startStream(lab.source, { group, port: PORT, ttl: 8, ifaceAddr: lab.addrs.source, intervalMs: 5, durationMs: bound(120_000) }),
  );
  await rcv.waitForCount(20);
  return { rcv, stopStream: () => stream.stop() };
}

/** The stream ended: every sequence number between the first and the last received arrived. */
async function expectNoGap(rcv: Receiver, stopStream: () => Promise<unknown>, atLeast: number): Promise<void> {
  await stopStream();
  await settle(bound(300)); // the last datagrams in flight
  const { seqs } = await rcv.stop();
  expect(seqs.length).toBeGreaterThanOrEqual(atLeast);
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const missing: number[] = [];
  for (let i = 1; i < sorted.length; i++) for (let s = sorted[i - 1]! + 1; s < sorted[i]!; s++) missing.push(s);
  expect(missing, "sequence numbers lost across the restart").toEqual([]);
}

const restoredLines = (stderr: string) =>
  stderr
    .split("\n")
    .filter((l) => l.includes('"msg":"routes restored"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("hitless restarts (real kernel, numbered stream)", () => {
  it("an in-place upgrade (Stop{upgrade}): same pid, the table never changes owner, no sequence number missing, counters continue", async () => {
    const socketPath = tempSocketPath();
    const mfcd = stops.add(await startMfcd(lab.router, { socketPath }));
    const G = "239.41.0.1";
    expect((await mfcd.client.addRoute({ route: route(G) })).route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    const { rcv, stopStream } = await streamThrough(G);
    const before = (await mfcd.client.listRoutes({})).routes[0]?.counters?.packets ?? 0n;

    expect(await mfcd.client.stop({ upgrade: true })).toEqual({});
    // The same process serves again: the second "serving" log line, then health.
    await waitFor(() => (mfcd.stderr().match(/"msg":"serving"/g) ?? []).length >= 2, { timeoutMs: bound(60_000), message: () => `no second start: ${mfcd.stderr()}` });
    expect(mfcd.proc.exitCode, "the process never exited").toBeNull();
    const client = createMfcClient(`unix:${socketPath}`);
    stops.add({ stop: async () => client.close() });
    await waitFor(async () => (await client.health().catch(() => "")) === "SERVING", { timeoutMs: bound(20_000), message: "SERVING after the upgrade" });
    expect(mfcd.stderr()).toMatch(/"msg":"multicast routing table handed over by the previous mfcd"/);
    expect(restoredLines(mfcd.stderr()).at(-1)).toMatchObject({ installed: 1, adopted: 1, removedLeftovers: 0 });
    const after = await client.listRoutes({});
    expect(routeTuples(after.routes.map((r) => r.route!))).toEqual(routeTuples([route(G)]));
    expect(after.routes[0]!.counters!.packets, "counters continue").toBeGreaterThanOrEqual(before);
    await rcv.waitForCount(rcv.count + 40);
    await expectNoGap(rcv, stopStream, 60);
    expect(await kernelRouteTuples(lab.router)).toEqual(routeTuples([route(G)]));
  });

  it("systemd's fd store: FDSTORE=1 hands the socket over, SIGTERM keeps forwarding, the next mfcd takes it from LISTEN_FDS with no gap; closing the store removes everything", async () => {
    // This test is the service manager: a notify socket that collects what mfcd stores.
    const manager = new FdStore();
    stops.add({ stop: async () => manager.close() });
    const socketPath = tempSocketPath();
    const first = stops.add(await startMfcd(lab.router, { socketPath, env: manager.env() }));
    manager.drain();
    expect(manager.states).toContain("READY=1");
    expect([...manager.stored.keys()]).toEqual(["mrt-ipv4-0"]);

    const G = "239.41.1.1";
    await first.client.addRoute({ route: route(G) });
    // A rescued route too: its nft table must stay with the routes.
    const RESCUED = { ...route("239.41.1.2"), setTtl: 32 };
    await first.client.addRoute({ route: RESCUED });
    const { rcv, stopStream } = await streamThrough(G);
    expect(await first.stop()).toEqual({ code: 0, signal: null });
    expect(await kernelRouteTuples(lab.router), "SIGTERM under the fd store keeps the table: the store holds it").toEqual(routeTuples([route(G), RESCUED]));
    expect(await execIn(lab.router, ["nft", "list", "tables"]), "... and the rescue rules serving it").toMatch(/table ip mfcd/);
    const frozen = rcv.count;
    await rcv.waitForCount(frozen + 40); // forwarding goes on while no mfcd runs

    // The next start is handed the stored socket as fd 3 (LISTEN_PID is set by a shell that execs).
    const second = stops.add(await startMfcd(lab.router, { socketPath, ...manager.handBack() }));
    expect(second.stderr()).toMatch(/"msg":"multicast routing table handed over by the previous mfcd"/);
    expect(restoredLines(second.stderr()).at(-1)).toMatchObject({ installed: 2, adopted: 2 });
    expect(second.stderr()).toMatch(/"msg":"nftables rescue table adopted"/);
    manager.drain();
    expect(manager.states.filter((s) => s.startsWith("FDSTORE=1")), "a handed socket is not stored twice").toHaveLength(1);
    await rcv.waitForCount(rcv.count + 40);
    await expectNoGap(rcv, stopStream, 100);

    // The unit stops: mfcd exits, the store closes its copy — the table's last holder.
    expect(await second.stop()).toEqual({ code: 0, signal: null });
    expect((await kernelRoutes(lab.router)).length, "still held by the store").toBe(2);
    manager.release();
    await waitFor(async () => (await kernelRoutes(lab.router)).length === 0 && (await kernelVifs(lab.router)).length === 0, {
      message: "the kernel removes the routes and VIFs once no one holds the socket",
    });
  });
});

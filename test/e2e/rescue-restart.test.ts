// kernel-needs: ipv4 nft
// End-to-end: the rescued camera across mfcd restarts (issue 12, "the nft rescue table is adopted,
// not flushed and rebuilt").
//
//   src (eth0 10.k.0.2 + 10.99.0.100/32) —in0— router (mfcd, rp_filter=1) —out1— rcv1
//
// The camera sends from 10.99.0.100 (no route back) with TTL 1; AddRoute{rewrite_source, set_ttl}
// makes mfcd program `table ip mfcd`. kill -9 and SIGUSR2 leave the table in the kernel, as they
// leave the routes; the next mfcd adopts it without writing it (`nft monitor` shows no change of
// the table at all: same table and rule handles, the rule's counter continues) and logs it. A
// table that differs from the restored routes is brought back in one transaction (the rules never
// go missing), and a plain SIGTERM still removes the table. Every burst of the camera is delivered
// after each restart.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouteState } from "../../src/sdk/index.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { kernelRoutes, startMfcd, StopList, tempSocketPath, type MfcdProcess } from "../helpers/mfcd-process.js";
import { execIn, ip } from "../helpers/netns.js";
import { startNftMonitor, type NftMonitor } from "../helpers/nft-monitor.js";
import { sendMulticast, startReceiver, type Receiver } from "../helpers/traffic.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT, nft)");

const PORT = 5000;
const CAMERA = "10.99.0.100";
const N = 20;

let lab: Lab;
const stops = new StopList();
beforeAll(async () => {
  lab = await createLab({ receivers: 1, rpFilter: 1 });
  await ip(["addr", "add", `${CAMERA}/32`, "dev", "eth0"], lab.source);
});
afterAll(async () => {
  await stops.stopAll();
  await lab?.cleanup();
});

/** `table ip mfcd` as the kernel holds it: handles, and per rule its statements and counter. */
interface RescueTable {
  table: number;
  chain: number;
  rules: { handle: number; expr: string; packets: number }[];
}

async function rescueTable(ns: string): Promise<RescueTable | undefined> {
  const tables = JSON.parse(await execIn(ns, ["nft", "-j", "list", "tables", "ip"])) as { nftables: Record<string, { name?: string }>[] };
  if (!tables.nftables.some((o) => o.table?.name === "mfcd")) return undefined;
  const doc = JSON.parse(await execIn(ns, ["nft", "-j", "list", "table", "ip", "mfcd"])) as { nftables: Record<string, Record<string, unknown>>[] };
  const of = (kind: string) => doc.nftables.flatMap((o) => (o[kind] ? [o[kind]] : []));
  return {
    table: of("table")[0]!.handle as number,
    chain: of("chain")[0]!.handle as number,
    rules: of("rule").map((r) => {
      const expr = r.expr as Record<string, { packets?: number }>[];
      return {
        handle: r.handle as number,
        expr: JSON.stringify(expr.filter((e) => !("counter" in e))),
        packets: expr.find((e) => "counter" in e)?.counter?.packets ?? -1,
      };
    }),
  };
}

/** The JSON of one of mfcd's log lines with this msg, or undefined. */
function logLine(m: MfcdProcess, msg: string): Record<string, unknown> | undefined {
  const line = m.stderr().split("\n").find((l) => l.includes(`"msg":${JSON.stringify(msg)}`));
  return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
}

/** Lines of `nft monitor` that change mfcd's table (not its probe/trace tables, not markers). */
const mfcdTableChanges = (tx: string[][]): string[][] => tx.map((t) => t.filter((l) => / ip mfcd( |$)/.test(l))).filter((t) => t.length > 0);

describe("rescue table across restarts (real kernel, real nftables)", () => {
  it("kill -9 and SIGUSR2 leave the table; the next mfcd adopts it untouched (same handles, counter continues) and the camera is delivered; a differing table is fixed in one transaction; SIGTERM removes it", async () => {
    const G = "239.82.3.1";
    const NEW = lab.addrs.routerIn.replace(/\.1$/, ".100"); // on-link on in0, owned by nobody
    const rescued = { source: CAMERA, group: G, iif: "in0", oifs: ["out1"], rewriteSource: NEW, setTtl: 64 };
    const socketPath = tempSocketPath(); // each start reuses it, and with it <dir>/mfcd.state
    const mon: NftMonitor = stops.add(await startNftMonitor(lab.router));
    const rcv: Receiver = stops.add(await startReceiver(lab.receivers[0]!, { group: G, port: PORT, ifaceAddr: lab.addrs.receivers[0]! }));
    let bursts = 0;
    /** N datagrams from the camera (TTL 1, unroutable source), each burst its own sequence numbers; all must arrive. */
    const deliveredBurst = async (why: string) => {
      const res = await sendMulticast(lab.source, { group: G, port: PORT, ttl: 1, ifaceAddr: CAMERA, count: N, intervalMs: 1, firstSeq: bursts * 1000 });
      expect(res).toMatchObject({ sent: N, errors: 0 });
      bursts += 1;
      await rcv.waitForCount(bursts * N, { message: () => `${why}: ${rcv.count} of ${bursts * N} datagrams` });
    };
    /** Starts mfcd and returns it with the changes of mfcd's table committed meanwhile, per transaction. */
    const restart = async () => {
      const from = await mon.mark();
      const m = stops.add(await startMfcd(lab.router, { socketPath }));
      expect((await m.client.listRoutes({})).routes.map((r) => r.state)).toEqual([RouteState.ROUTE_STATE_INSTALLED]);
      return { m, changes: mfcdTableChanges(mon.transactions(from, await mon.mark())) };
    };
    /** The restarted mfcd took the table as it was: no transaction touched it, handles and counter as before, logged. */
    const expectAdopted = (m: MfcdProcess, changes: string[][], now: RescueTable | undefined, before: RescueTable) => {
      expect.soft(changes, "the adopting mfcd wrote nothing to its table").toEqual([]);
      expect.soft(now, "same table and rule handles, the counter continues").toEqual(before);
      expect.soft(logLine(m, "nftables rescue table adopted")).toMatchObject({ rules: 1, tableHandle: before.table, handles: before.rules.map((r) => r.handle) });
      expect.soft(logLine(m, "nftables rescue table updated"), "... and never rewrote it").toBeUndefined();
    };

    // 1. The rescue route, its table, the camera delivered.
    const first = stops.add(await startMfcd(lab.router, { socketPath }));
    await first.client.addRoute({ route: rescued });
    await deliveredBurst("first mfcd");
    const programmed = await rescueTable(lab.router);
    expect(programmed?.rules).toHaveLength(1);
    expect(programmed!.rules[0]!.packets).toBeGreaterThanOrEqual(N);

    // 2. kill -9: the table stays as it was (the kernel keeps it; no mfcd code runs).
    expect(await first.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    expect(await rescueTable(lab.router)).toEqual(programmed);

    // 3. The restart adopts it; delivered again, counted by the same rule.
    const second = await restart();
    expectAdopted(second.m, second.changes, await rescueTable(lab.router), programmed!);
    await deliveredBurst("after kill -9 and restart");
    const counted = await rescueTable(lab.router);
    expect.soft(counted?.rules[0]?.packets, "the adopted rule counts on").toBe(programmed!.rules[0]!.packets + N);

    // 4. SIGUSR2 (a planned restart): mfcd leaves the table for the next one ...
    expect(await second.m.stop("SIGUSR2")).toEqual({ code: 0, signal: null });
    expect.soft(await rescueTable(lab.router), "SIGUSR2 keeps the table as it was").toEqual(counted);
    expect.soft(logLine(second.m, "nftables rescue table kept for the next mfcd")).toBeDefined();

    // 5. ... which adopts it.
    const third = await restart();
    expectAdopted(third.m, third.changes, await rescueTable(lab.router), counted!);
    await deliveredBurst("after SIGUSR2 and restart");

    // 6. A table that differs from the restored routes (edited while no mfcd ran: TTL 63 instead of
    // 64) is brought back in ONE transaction: the old rules go and the right ones come in the same
    // commit, so no packet ever meets the hook without its rule.
    expect(await third.m.stop("SIGUSR2")).toEqual({ code: 0, signal: null });
    const kept = await rescueTable(lab.router);
    const handle = kept!.rules[0]!.handle;
    const edited = `iifname "in0" ip saddr ${CAMERA} ip daddr ${G} ip daddr != 224.0.0.0/24 meta l4proto != igmp ip ttl set 63 ip saddr set ${NEW} counter`;
    await execIn(lab.router, ["nft", `replace rule ip mfcd rescue handle ${handle} ${edited}`]);
    expect((await rescueTable(lab.router))?.rules[0]?.expr).not.toBe(kept!.rules[0]!.expr);
    const fourth = await restart();
    expect.soft(fourth.changes, "one transaction replaces the table").toHaveLength(1);
    const tx = fourth.changes[0] ?? [];
    const deleted = tx.indexOf("delete table ip mfcd");
    const added = tx.flatMap((l, i) => (l.startsWith("add rule ip mfcd rescue ") ? [i] : []));
    expect.soft(deleted, tx.join("\n")).toBeGreaterThanOrEqual(0);
    expect.soft(added, tx.join("\n")).toHaveLength(1);
    expect.soft(added[0]).toBeGreaterThan(deleted);
    expect.soft(tx[added[0]!]).toContain("ip ttl set 64");
    expect.soft(logLine(fourth.m, "the nftables rescue table a previous mfcd left differs: replacing it")).toBeDefined();
    expect((await rescueTable(lab.router))?.rules.map((r) => r.expr)).toEqual(programmed!.rules.map((r) => r.expr));
    await deliveredBurst("after the differing table was replaced");

    // 7. A plain SIGTERM removes the table with the routes.
    expect(await fourth.m.stop()).toEqual({ code: 0, signal: null });
    expect(await rescueTable(lab.router), "SIGTERM removes the table").toBeUndefined();
    expect(await kernelRoutes(lab.router)).toEqual([]);

    const got = await rcv.stop();
    expect(got.from).toEqual([NEW]);
    expect(got.seqs).toEqual(Array.from({ length: bursts }, (_, b) => Array.from({ length: N }, (_, i) => b * 1000 + i)).flat());
  });
});

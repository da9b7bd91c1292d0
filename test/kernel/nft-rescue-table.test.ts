// kernel-needs: ipv4 nft
// NftRescueTable, the TTL probe and detectNft against the real kernel and nftables 1.0.6: the
// table is replaced in one transaction, rules fix real multicast traffic (source rewrite past a
// strict RPF check, TTL rescue of TTL-1 senders), and the probe tells TTL-1 from TTL-5 senders.
// Each test builds its own namespace lab (test/helpers/lab.ts) and removes it, also on failure.
// Needs root.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { MrouteSocket } from "../../src/kernel/mroute/index.js";
import { NftError } from "../../src/kernel/nft/index.js";
import { NftRescueTable, type RescueRule } from "../../src/kernel/nft/nft-rescue-table.js";
import { runNft } from "../../src/kernel/nft/nft-run.js";
import { netstat } from "../helpers/kernel-view.js";
import { type Lab, createLab } from "../helpers/lab.js";
import { addNetns, delNetns, execIn, ip, uniqueName } from "../helpers/netns.js";
import { type Receiver, type Stream, startReceiver, startStream, waitFor } from "../helpers/traffic.js";
import { cleanupAfterEach } from "../helpers/cleanup-after-each.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) {
  throw new Error("test/kernel/nft-rescue-table.test.ts needs root (network namespaces, nftables)");
}

// ---- fixtures -------------------------------------------------------------------------------

let seq = 0;
const uniqueTable = (): string => `mfct_${process.pid}_${++seq}`;
let port = 41_000 + (process.pid % 9_000);
const nextPort = (): number => ++port;
const GROUP = "239.7.7.7";

const cleanups = cleanupAfterEach();

const netnsPath = (ns: string): string => `/run/netns/${ns}`;

async function lab(opts: Parameters<typeof createLab>[0]): Promise<Lab> {
  const l = await createLab(opts);
  cleanups.push(() => l.cleanup());
  return l;
}

/** The router's mroute socket with VIF 0 = in0 and VIF i = out<i>; closed after the test. */
function mrouter(l: Lab): MrouteSocket {
  const s = MrouteSocket.open({ netns: netnsPath(l.router) });
  cleanups.push(() => s.close());
  ["in0", ...l.routerIfaces.outs].forEach((name, vif) => s.addVif(vif, s.ifindex(name)!));
  return s;
}

async function receiver(l: Lab, group: string, p: number): Promise<Receiver> {
  const r = await startReceiver(l.receivers[0]!, { group, port: p, ifaceAddr: l.addrs.receivers[0]! });
  cleanups.push(() => r.stop().catch(() => undefined));
  return r;
}

async function stream(ns: string, opts: Parameters<typeof startStream>[1]): Promise<Stream> {
  const s = await startStream(ns, { intervalMs: 10, ...opts });
  cleanups.push(() => s.stop().catch(() => undefined));
  return s;
}

/** Packets received on the router's in0 (its link counter: counted before any routing). */
async function in0RxPackets(l: Lab): Promise<number> {
  const [link] = JSON.parse(await ip(["-j", "-s", "link", "show", "in0"], l.router)) as { stats64: { rx: { packets: number } } }[];
  return link!.stats64.rx.packets;
}

/**
 * Runs `start` (which starts a stream) and waits until the router's in0 has received at least `n`
 * more packets, i.e. the stream is really arriving (its sender may still be starting up on a slow
 * machine). IpExtInMcastPkts would not do: without an mroute socket the router drops a group it
 * has not joined before counting it there.
 */
async function arriving(l: Lab, start: () => Promise<unknown>, n = 5): Promise<void> {
  const before = await in0RxPackets(l);
  await start();
  await waitFor(async () => (await in0RxPackets(l)) >= before + n, {
    intervalMs: 50,
    message: `fewer than ${n} packets arrived on the router's in0`,
  });
}

/**
 * The TTL probe's window: long enough that the running stream (one datagram every 10 ms) is
 * seen in it even where processes get little CPU (time-bounds.ts).
 */
const PROBE_WINDOW_MS = bound(1000);

async function nftJson(ns: string, ...args: string[]): Promise<{ nftables: Record<string, unknown>[] }> {
  return JSON.parse(await execIn(ns, ["nft", "-j", ...args])) as { nftables: Record<string, unknown>[] };
}

async function tablesIn(ns: string): Promise<string[]> {
  const doc = await nftJson(ns, "list", "tables");
  return doc.nftables.flatMap((o) => ("table" in o ? [(o.table as { name: string }).name] : []));
}

/** Rules of `table ip name` as nft prints them (`nft list`), without counters. */
async function ruleLines(ns: string, name: string): Promise<string[]> {
  const text = await execIn(ns, ["nft", "list", "table", "ip", name]);
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("iifname"))
    .map((l) => l.replace(/ counter packets \d+ bytes \d+/, " counter"));
}

/**
 * `nft monitor` in `ns`, with a confirmed subscription: it is running only once it has printed a
 * marker table we create (and delete) until it does.
 */
async function monitor(ns: string): Promise<{ lines: string[]; child: ChildProcess }> {
  const child = spawn("ip", ["netns", "exec", ns, "nft", "monitor"], { stdio: ["ignore", "pipe", "pipe"] });
  cleanups.push(() => child.kill("SIGKILL"));
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => lines.push(l));
  const marker = uniqueTable();
  const touch = (name: string) => execIn(ns, ["nft", "-f", "-"], { input: `table ip ${name} {}\ndelete table ip ${name}\n` });
  let i = 0;
  await waitFor(
    async () => {
      await touch(`${marker}_${++i}`);
      return lines.some((l) => l.startsWith(`delete table ip ${marker}_`));
    },
    { intervalMs: 50, message: "nft monitor never printed a marker table" },
  );
  // Subscribed. Earlier markers may still be on their way (a slow monitor): one last marker, and
  // everything up to its transaction's end is dropped, so the caller sees only its own.
  const last = `${marker}_last`;
  await touch(last);
  const endOfLast = (): number => {
    const k = lines.indexOf(`delete table ip ${last}`);
    return k < 0 ? -1 : lines.findIndex((l, j) => j > k && l.startsWith("# new generation"));
  };
  await waitFor(() => endOfLast() >= 0, { message: "nft monitor never finished the last marker's transaction" });
  lines.splice(0, endOfLast() + 1);
  return { lines, child };
}

/** Splits monitor output into transactions (each ends with a "# new generation" line). */
function transactions(lines: readonly string[]): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  for (const l of lines) {
    if (l.startsWith("# new generation")) {
      out.push(cur);
      cur = [];
    } else cur.push(l);
  }
  return out;
}

async function plainNetns(): Promise<string> {
  const ns = uniqueName("nft");
  await addNetns(ns);
  cleanups.push(() => delNetns(ns));
  return ns;
}

// ---- tests ----------------------------------------------------------------------------------

describe("NftRescueTable.detect", () => {
  it("finds nft 1.x in PATH and can list the ruleset", () => {
    const d = NftRescueTable.detect();
    expect(d).toEqual({ available: true, version: expect.stringMatching(/^1\.\d+\.\d+$/) as unknown });
  });

  it("reports nft missing from PATH, naming the Debian package", () => {
    const d = NftRescueTable.detect({ env: { ...process.env, PATH: "/nonexistent:/usr/lib" } });
    expect(d.available).toBe(false);
    expect(d.available ? "" : d.why).toContain('"nftables"');
  });

  it("detectAsync() agrees with detect() in one nft run, and hands on the ip tables it listed", async () => {
    const ns = await plainNetns();
    await execIn(ns, ["nft", "-f", "-"], { input: "table ip mfcd_detect_seen {}\n" });
    const probe = await NftRescueTable.detectAsync({ netns: netnsPath(ns) });
    expect(probe.availability).toEqual(NftRescueTable.detect({ netns: netnsPath(ns) }));
    expect(probe.ipTablesJson).toContain('"mfcd_detect_seen"');
  });

  it("detectAsync() reports nft missing from PATH, naming the Debian package", async () => {
    const env = { ...process.env, PATH: "/nonexistent:/usr/lib" };
    const probe = await NftRescueTable.detectAsync({ env });
    expect(probe.availability).toEqual(NftRescueTable.detect({ env }));
    expect(probe.ipTablesJson).toBeUndefined();
    expect(probe.availability.available ? "" : probe.availability.why).toContain('"nftables"');
    // Without nft the kernel's ip family cannot be probed either: same reason, not a kernel verdict.
    expect(probe.ipFamily).toEqual({ available: false, detail: probe.availability.available ? "" : probe.availability.why });
  });

  it("running nft without it in PATH rejects with an NftError naming the package", async () => {
    const err = await runNft(["list", "tables"], { env: { PATH: "/nonexistent" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NftError);
    expect((err as NftError).missing).toBe(true);
    expect((err as NftError).message).toContain('"nftables"');
  });
});

describe("NftRescueTable apply/replace/remove", () => {
  it("replaces the whole table in one transaction each time, and remove() is idempotent", async () => {
    const ns = await plainNetns();
    const t = new NftRescueTable({ netns: netnsPath(ns), tableName: uniqueTable() });
    const mon = await monitor(ns);
    const a: RescueRule[] = [
      { iif: "in0", source: "10.99.0.100", group: "239.1.1.1", rewriteSource: "10.1.0.50" },
      { iif: "in1", source: "10.1.0.2", group: "239.1.1.2", setTtl: 64 },
    ];
    const b: RescueRule[] = [{ iif: "in2", source: "10.2.0.2", group: "239.2.2.2", setTtl: 8, rewriteSource: "10.2.0.9" }];

    await t.apply(a);
    expect(await ruleLines(ns, t.tableName)).toEqual([
      'iifname "in0" ip saddr 10.99.0.100 ip daddr 239.1.1.1 ip daddr != 224.0.0.0/24 meta l4proto != igmp ip saddr set 10.1.0.50 counter',
      'iifname "in1" ip saddr 10.1.0.2 ip daddr 239.1.1.2 ip daddr != 224.0.0.0/24 meta l4proto != igmp ip ttl set 64 counter',
    ]);
    const chain = (await nftJson(ns, "list", "table", "ip", t.tableName)).nftables.find((o) => "chain" in o);
    expect(chain?.chain).toMatchObject({ name: "rescue", type: "filter", hook: "prerouting", prio: -300, policy: "accept" });

    await t.apply(b);
    expect(await ruleLines(ns, t.tableName)).toEqual([
      'iifname "in2" ip saddr 10.2.0.2 ip daddr 239.2.2.2 ip daddr != 224.0.0.0/24 meta l4proto != igmp ip ttl set 8 ip saddr set 10.2.0.9 counter',
    ]);
    await t.apply(b); // same again: still exactly b
    expect(await ruleLines(ns, t.tableName)).toHaveLength(1);

    // A rule render rejects never reaches the kernel: the table keeps b.
    await expect(
      t.apply([{ iif: 'in0" accept; flush ruleset; "', source: "10.0.0.1", group: "239.1.1.1" }]),
    ).rejects.toThrow(TypeError);
    expect(await ruleLines(ns, t.tableName)).toHaveLength(1);

    await t.apply([]);
    expect(await ruleLines(ns, t.tableName)).toEqual([]);
    await t.remove();
    expect(await tablesIn(ns)).not.toContain(t.tableName);
    await t.remove(); // idempotent
    expect(await t.stats()).toEqual([]);

    // Every call was one kernel transaction (one generation): a, b, b, [], remove, remove.
    await waitFor(() => transactions(mon.lines).length >= 6, { message: () => mon.lines.join("\n") });
    const tx = transactions(mon.lines);
    expect(tx).toHaveLength(6);
    const replaceAB = tx[1]!;
    // The old table goes and the new one comes within that one transaction.
    expect(replaceAB).toContain(`delete table ip ${t.tableName}`);
    expect(replaceAB.filter((l) => l.startsWith(`add rule ip ${t.tableName} rescue`))).toHaveLength(1);
    expect(replaceAB.indexOf(`delete table ip ${t.tableName}`)).toBeLessThan(
      replaceAB.lastIndexOf(`add table ip ${t.tableName}`),
    );
    expect(tx[4]).toContain(`delete table ip ${t.tableName}`);
  });

  it("concurrent apply() calls are serialised: the last call wins", async () => {
    const ns = await plainNetns();
    const t = new NftRescueTable({ netns: netnsPath(ns), tableName: uniqueTable() });
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => t.apply([{ iif: `e${i}`, source: "10.0.0.1", group: "239.0.0.9", setTtl: i + 1 }])),
    );
    expect(await ruleLines(ns, t.tableName)).toEqual([
      'iifname "e7" ip saddr 10.0.0.1 ip daddr 239.0.0.9 ip daddr != 224.0.0.0/24 meta l4proto != igmp ip ttl set 8 counter',
    ]);
  });

  it("surfaces nft's own error (a table name nft 1.0.6 cannot parse) as NftError, changing nothing", async () => {
    const ns = await plainNetns();
    const t = new NftRescueTable({ netns: netnsPath(ns), tableName: "fwd" }); // an nft keyword
    const err = await t.apply([]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NftError);
    expect((err as NftError).stderr).toMatch(/syntax error/);
    expect(await tablesIn(ns)).toEqual([]);
  });

  it("removeLeftovers() deletes probe/trace tables of other processes only", async () => {
    const ns = await plainNetns();
    const t = new NftRescueTable({ netns: netnsPath(ns), tableName: uniqueTable() });
    const stale = [`${t.tableName}_probe_999999999_1`, `${t.tableName}_trace_999999999_2`];
    const mine = `${t.tableName}_probe_${process.pid}_3`;
    await execIn(ns, ["nft", "-f", "-"], { input: [...stale, mine].map((n) => `table ip ${n} {}\n`).join("") });
    await t.apply([]);
    expect((await t.removeLeftovers()).sort()).toEqual(stale.sort());
    expect((await tablesIn(ns)).sort()).toEqual([t.tableName, mine].sort());
  });

  it("cleanUpAtStart() also says whether the table itself exists, reusing a listing it is given", async () => {
    const ns = await plainNetns();
    const t = new NftRescueTable({ netns: netnsPath(ns), tableName: uniqueTable() });
    expect(await t.cleanUpAtStart()).toEqual({ removed: [], tableExists: false });
    const stale = `${t.tableName}_trace_999999999_1`;
    await execIn(ns, ["nft", "-f", "-"], { input: `table ip ${stale} {}\n` });
    await t.apply([]);
    const listing = (await NftRescueTable.detectAsync({ netns: netnsPath(ns) })).ipTablesJson;
    expect(await t.cleanUpAtStart(listing)).toEqual({ removed: [stale], tableExists: true });
    expect(await tablesIn(ns)).toEqual([t.tableName]);
  });
});

describe("rescue rules on real multicast traffic", () => {
  it("rewriteSource gets an unroutable source past strict RPF, with valid UDP checksums", async () => {
    const l = await lab({ receivers: 1, rpFilter: 1 });
    const unroutable = "10.99.0.100"; // the router has no route back to it
    const rewritten = `10.${l.k}.0.50`; // on in0's subnet, not a router address
    await ip(["addr", "add", `${unroutable}/32`, "dev", "eth0"], l.source);
    const mr = mrouter(l);
    mr.addMfc(rewritten, GROUP, 0, new Map([[1, 1]]));
    const p = nextPort();
    const rcv = await receiver(l, GROUP, p);
    const rpfBefore = await netstat(l.router, "TcpExtIPReversePathFilter");
    // 3000-byte datagrams are fragmented by the sender, which then computes the UDP checksum in
    // software (no CHECKSUM_PARTIAL shortcut over veth), so a stale checksum would be dropped by
    // the receiver and counted in UdpInCsumErrors.
    await stream(l.source, { group: GROUP, port: p, ttl: 8, ifaceAddr: unroutable, size: 3000 });
    await waitFor(async () => (await netstat(l.router, "TcpExtIPReversePathFilter")) >= rpfBefore + 5, {
      message: "strict RPF never dropped the unroutable source",
    });
    expect(mr.sgCounters(rewritten, GROUP)?.packets).toBe(0n);
    expect(rcv.count).toBe(0);

    const t = new NftRescueTable({ netns: netnsPath(l.router), tableName: uniqueTable() });
    await t.apply([{ iif: "in0", source: unroutable, group: GROUP, rewriteSource: rewritten }]);
    await rcv.waitForCount(10);
    const got = await rcv.stop();
    expect(got.from).toEqual([rewritten]);
    expect(await netstat(l.receivers[0]!, "UdpInCsumErrors")).toBe(0);
    expect(mr.sgCounters(rewritten, GROUP)!.packets).toBeGreaterThan(0n);
    const [stats] = await t.stats();
    expect(stats).toMatchObject({ iif: "in0", source: unroutable, group: GROUP });
    expect(stats!.packets).toBeGreaterThan(0n);
  });

  it("negative control: the receiver really verifies those UDP checksums", async () => {
    // Makes the UdpInCsumErrors check above meaningful: the same 3000-byte datagrams, rescued by
    // the same rule, plus a raw write into the UDP payload (nft fixes no checksum for raw `@th`
    // writes) are forwarded but dropped by the receiver as bad checksums.
    const l = await lab({ receivers: 1, rpFilter: 1 });
    const unroutable = "10.99.0.100";
    const rewritten = `10.${l.k}.0.50`;
    await ip(["addr", "add", `${unroutable}/32`, "dev", "eth0"], l.source);
    const mr = mrouter(l);
    mr.addMfc(rewritten, GROUP, 0, new Map([[1, 1]]));
    const p = nextPort();
    const rcv = await receiver(l, GROUP, p);
    const t = new NftRescueTable({ netns: netnsPath(l.router), tableName: uniqueTable() });
    await t.apply([{ iif: "in0", source: unroutable, group: GROUP, rewriteSource: rewritten }]);
    const corrupt = uniqueTable();
    await runNft(["-f", "-"], {
      netns: netnsPath(l.router),
      input:
        `table ip ${corrupt} {\n\tchain c {\n\t\ttype filter hook prerouting priority 0; policy accept;\n` +
        `\t\tiifname "in0" ip daddr ${GROUP} @th,96,32 set 0x7fffffff\n\t}\n}\n`,
    });
    await stream(l.source, { group: GROUP, port: p, ttl: 8, ifaceAddr: unroutable, size: 3000 });
    await waitFor(async () => (await netstat(l.receivers[0]!, "UdpInCsumErrors")) >= 5, {
      message: "receiver never saw a bad UDP checksum",
    });
    expect(mr.sgCounters(rewritten, GROUP)!.packets).toBeGreaterThan(0n); // forwarded...
    expect(rcv.count).toBe(0); // ...but never delivered
  });

  it("rewriteSource also works for small datagrams (checksum offload path)", async () => {
    const l = await lab({ receivers: 1, rpFilter: 1 });
    const unroutable = "10.99.0.100";
    const rewritten = `10.${l.k}.0.51`;
    await ip(["addr", "add", `${unroutable}/32`, "dev", "eth0"], l.source);
    const mr = mrouter(l);
    mr.addMfc(rewritten, GROUP, 0, new Map([[1, 1]]));
    const p = nextPort();
    const rcv = await receiver(l, GROUP, p);
    const t = new NftRescueTable({ netns: netnsPath(l.router), tableName: uniqueTable() });
    await t.apply([{ iif: "in0", source: unroutable, group: GROUP, rewriteSource: rewritten }]);
    await stream(l.source, { group: GROUP, port: p, ttl: 8, ifaceAddr: unroutable, size: 64 });
    await rcv.waitForCount(10);
    expect((await rcv.stop()).from).toEqual([rewritten]);
  });

  it("setTtl makes a TTL-1 sender forwardable once the rule exists", async () => {
    const l = await lab({ receivers: 1 });
    const mr = mrouter(l);
    mr.addMfc(l.addrs.source, GROUP, 0, new Map([[1, 1]]));
    const p = nextPort();
    const rcv = await receiver(l, GROUP, p);
    await stream(l.source, { group: GROUP, port: p, ttl: 1, ifaceAddr: l.addrs.source });
    // The MFC entry sees the packets but forwards none (TTL 1 is not > threshold 1).
    await waitFor(() => (mr.sgCounters(l.addrs.source, GROUP)?.packets ?? 0n) >= 5n);
    expect(mr.vifCounters(1)?.outPackets).toBe(0n);
    expect(rcv.count).toBe(0);

    const t = new NftRescueTable({ netns: netnsPath(l.router), tableName: uniqueTable() });
    await t.apply([{ iif: "in0", source: l.addrs.source, group: GROUP, setTtl: 64 }]);
    await rcv.waitForCount(10);
    expect(mr.vifCounters(1)!.outPackets).toBeGreaterThan(0n);

    // Removing the table stops the rescue again: from then on nothing more leaves out1.
    await t.remove();
    const out = mr.vifCounters(1)!.outPackets;
    const seen = mr.sgCounters(l.addrs.source, GROUP)!.packets;
    await waitFor(() => mr.sgCounters(l.addrs.source, GROUP)!.packets >= seen + 5n);
    expect(mr.vifCounters(1)!.outPackets).toBe(out);
  });
});

describe("probeTtl", () => {
  it("tells a TTL-1 sender from a TTL-5 sender, sees TTLs before setTtl, and cleans up", async () => {
    const l = await lab({ receivers: 1 });
    const t = new NftRescueTable({ netns: netnsPath(l.router), tableName: uniqueTable() });
    const flow = { iif: "in0", source: l.addrs.source, group: GROUP };
    const p = nextPort();

    let s1: Stream | undefined;
    await arriving(l, async () => (s1 = await stream(l.source, { group: GROUP, port: p, ttl: 1, ifaceAddr: l.addrs.source })));
    // A rescue rule rewriting the TTL must not hide the sender's TTL from the probe.
    await t.apply([{ ...flow, setTtl: 64 }]);
    const low = await t.probeTtl(flow, PROBE_WINDOW_MS);
    await s1!.stop();
    expect(low.ttlLe1).toBeGreaterThan(0n);
    expect(low.ttlGt1).toBe(0n);
    expect(low.minTtlSeen).toBe(1);
    expect([...low.byTtl.keys()]).toEqual([1]);
    expect(low.byTtl.get(1)).toBe(low.ttlLe1);

    let s5: Stream | undefined;
    await arriving(l, async () => (s5 = await stream(l.source, { group: GROUP, port: p, ttl: 5, ifaceAddr: l.addrs.source })));
    const high = await t.probeTtl(flow, PROBE_WINDOW_MS);
    await s5!.stop();
    expect(high.ttlLe1).toBe(0n);
    expect(high.ttlGt1).toBeGreaterThan(0n);
    expect(high.minTtlSeen).toBe(5);
    expect(high.byTtl.get(5)).toBe(high.ttlGt1);

    // Another flow's packets (other group) are not counted.
    const other = await t.probeTtl({ ...flow, group: "239.7.7.8" }, 0);
    expect(other).toEqual({ ttlLe1: 0n, ttlGt1: 0n, byTtl: new Map() });

    expect(await tablesIn(l.router)).toEqual([t.tableName]);
  });

  it("aborting rejects with the signal's reason and removes the probe table", async () => {
    const ns = await plainNetns();
    const t = new NftRescueTable({ netns: netnsPath(ns), tableName: uniqueTable() });
    const ac = new AbortController();
    const reason = new Error("client went away");
    const p = t.probeTtl({ iif: "in0", source: "10.0.0.1", group: GROUP }, 60_000, ac.signal);
    await waitFor(async () => (await tablesIn(ns)).some((n) => n.startsWith(`${t.tableName}_probe_`)));
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(await tablesIn(ns)).toEqual([]);
    await expect(t.probeTtl({ iif: "in0", source: "10.0.0.1", group: GROUP }, 10, ac.signal)).rejects.toBe(reason);
  });
});

// kernel-needs: ipv4
// Self-test of the namespace lab helpers: topology, traffic scripts, kernel views, cleanup.
// Needs root (network namespaces); fails with a clear message otherwise.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ipMroute, netstat, readMrCache, readMrVif, readNetstat, readSysctl } from "./kernel-view.js";
import { createLab, withLab, type Lab } from "./lab.js";
import { ip, listNetns, netnsExists, ownedNamespaces, sweepStaleNamespaces } from "./netns.js";
import { sendMulticast, settle, startReceiver, startStream, waitFor, type Receiver } from "./traffic.js";
import { bound } from "./time-bounds.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "../..");

if (process.getuid?.() !== 0) {
  throw new Error("test/helpers/lab.test.ts needs root (it creates network namespaces)");
}

interface LinkInfo {
  ifname: string;
  flags: string[];
  operstate?: string;
}

async function links(ns: string): Promise<Map<string, LinkInfo>> {
  const list = JSON.parse(await ip(["-j", "link", "show"], ns)) as LinkInfo[];
  return new Map(list.map((l) => [l.ifname, l]));
}

async function addrsOf(ns: string, iface: string): Promise<string[]> {
  const list = JSON.parse(await ip(["-j", "-4", "addr", "show", "dev", iface], ns)) as {
    addr_info: { local: string; prefixlen: number }[];
  }[];
  return list.flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
}

function expectUpMulticast(l: LinkInfo | undefined, name: string): void {
  expect(l, name).toBeDefined();
  expect(l?.flags, name).toEqual(expect.arrayContaining(["UP", "LOWER_UP", "MULTICAST"]));
}

/** Stops receivers, even if a test failed before doing so. */
function receiverPool(): { add(r: Receiver): Receiver; stopAll(): Promise<void> } {
  const all: Receiver[] = [];
  return {
    add(r) {
      all.push(r);
      return r;
    },
    async stopAll() {
      await Promise.allSettled(all.splice(0).map((r) => r.stop()));
    },
  };
}

let port = 40_000 + (process.pid % 10_000);
const nextPort = (): number => ++port;

describe("lab (2 receivers, default options)", () => {
  let lab: Lab;
  const pool = receiverPool();

  beforeAll(async () => {
    lab = await createLab();
  });
  afterAll(async () => {
    await pool.stopAll();
    await lab?.cleanup();
  });

  it("has the documented topology, addresses, routes and rp_filter", async () => {
    expect(lab.receivers).toHaveLength(2);
    expect(lab.routerIfaces).toEqual({ in: "in0", outs: ["out1", "out2"], extra: [] });
    for (const ns of lab.namespaces) {
      expect(ns).toMatch(new RegExp(`^mfct-${process.pid}-\\d+-\\w+$`));
      expect(netnsExists(ns)).toBe(true);
    }

    const r = await links(lab.router);
    expectUpMulticast(r.get("in0"), "in0");
    expectUpMulticast(r.get("out1"), "out1");
    expectUpMulticast(r.get("out2"), "out2");
    expect(r.get("lo")?.flags).toContain("UP");
    expect(await addrsOf(lab.router, "in0")).toEqual([`${lab.addrs.routerIn}/24`]);
    expect(await addrsOf(lab.router, "out2")).toEqual([`${lab.addrs.routerOuts[1]}/24`]);

    expectUpMulticast((await links(lab.source)).get("eth0"), "source eth0");
    expect(await addrsOf(lab.source, "eth0")).toEqual([`${lab.addrs.source}/24`]);
    expect(await ip(["route", "show", "default"], lab.source)).toContain(`via ${lab.addrs.routerIn} dev eth0`);
    for (const [i, ns] of lab.receivers.entries()) {
      expectUpMulticast((await links(ns)).get("eth0"), `receiver ${i + 1} eth0`);
      expect(await addrsOf(ns, "eth0")).toEqual([`${lab.addrs.receivers[i]}/24`]);
    }

    for (const c of ["all", "default", "in0", "out1", "out2"]) {
      expect(await readSysctl(lab.router, `net.ipv4.conf.${c}.rp_filter`), c).toBe("0");
    }

    // Nothing of the lab is visible in the host namespace: no lab address, no route to it.
    const hostAddrs = await ip(["-4", "-o", "addr", "show"]);
    for (const a of [lab.addrs.source, lab.addrs.routerIn, ...lab.addrs.receivers, ...lab.addrs.routerOuts]) {
      expect(hostAddrs).not.toContain(` ${a}/`);
    }
    expect(await ip(["-4", "route", "show", "match", lab.addrs.source])).not.toMatch(new RegExp(`^10\\.${lab.k}\\.`, "m"));
  });

  it("kernel views work in a namespace without a multicast router", async () => {
    expect((await readMrCache(lab.router)).split("\n")[0]).toMatch(/^Group\s+Origin\s+Iif/);
    expect((await readMrVif(lab.router)).split("\n")[0]).toMatch(/^Interface\s+BytesIn/);
    expect((await ipMroute(lab.router)).trim()).toBe("");
    expect(await netstat(lab.router, "TcpExtIPReversePathFilter")).toBeGreaterThanOrEqual(0);
    const all = await readNetstat(lab.router);
    expect(all.IpExtInMcastPkts).toBeTypeOf("number");
    expect(all.UdpInDatagrams).toBeTypeOf("number");
    await expect(netstat(lab.router, "NoSuchCounter")).rejects.toThrow(/NoSuchCounter/);
  });

  it("without a multicast router nothing is forwarded, but the source's link receives it", async () => {
    const group = "239.10.0.1";
    const p = nextPort();
    const [rcv1, rcv2] = lab.receivers as [string, string];
    const far1 = pool.add(await startReceiver(rcv1, { group, port: p, ifaceAddr: lab.addrs.receivers[0]! }));
    const far2 = pool.add(await startReceiver(rcv2, { group, port: p, ifaceAddr: lab.addrs.receivers[1]! }));
    const near = pool.add(await startReceiver(lab.router, { group, port: p, ifaceAddr: lab.addrs.routerIn }));

    const sent = await sendMulticast(lab.source, {
      group,
      port: p,
      count: 20,
      intervalMs: 5,
      ttl: 8,
      ifaceAddr: lab.addrs.source,
    });
    expect(sent).toMatchObject({ sent: 20, errors: 0 });

    // Positive control: once the router's own socket on in0 has every datagram, a forwarded copy
    // would have reached the receivers too; a short grace period covers scheduling only.
    await near.waitForCount(20, { timeoutMs: 10_000 });
    await settle(bound(200));
    const [n, f1, f2] = await Promise.all([near.stop(), far1.stop(), far2.stop()]);
    expect(n.count).toBe(20);
    expect(n.seqs).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(n.from).toEqual([lab.addrs.source]);
    expect(f1).toEqual({ count: 0, seqs: [], from: [] });
    expect(f2).toEqual({ count: 0, seqs: [], from: [] });
  });

  it("source-specific receivers see only their source", async () => {
    const group = "232.10.0.1";
    const p = nextPort();
    const right = pool.add(
      await startReceiver(lab.router, { group, port: p, ifaceAddr: lab.addrs.routerIn, source: lab.addrs.source }),
    );
    const wrong = pool.add(
      await startReceiver(lab.router, { group, port: p, ifaceAddr: lab.addrs.routerIn, source: "10.255.0.99" }),
    );
    await sendMulticast(lab.source, { group, port: p, count: 10, intervalMs: 2, ttl: 8, ifaceAddr: lab.addrs.source });
    await right.waitForCount(10);
    await settle(bound(100));
    expect((await right.stop()).count).toBe(10);
    expect((await wrong.stop()).count).toBe(0);
  });

  it("streams steadily until stopped, and a stream ends by itself", async () => {
    const group = "239.10.0.2";
    const p = nextPort();
    const near = pool.add(await startReceiver(lab.router, { group, port: p, ifaceAddr: lab.addrs.routerIn }));
    const stream = await startStream(lab.source, {
      group,
      port: p,
      intervalMs: 5,
      ttl: 8,
      ifaceAddr: lab.addrs.source,
      size: 200,
    });
    await near.waitForCount(10);
    const summary = await stream.stop();
    expect(await stream.stop()).toBe(summary); // idempotent
    expect(summary.errors).toBe(0);
    expect(summary.sent).toBeGreaterThanOrEqual(10);
    await near.waitForCount(summary.sent);
    const got = await near.stop();
    expect(got.count).toBe(summary.sent);
    expect(got.seqs).toEqual(Array.from({ length: summary.sent }, (_, i) => i));

    const short = await startStream(lab.source, { group, port: p, intervalMs: 10, ttl: 8, durationMs: 100 });
    const done = await short.done;
    expect(done.sent).toBeGreaterThan(0);
    expect(done.sent).toBeLessThanOrEqual(11);
  });

  it("bad sender arguments and failed joins are reported", async () => {
    await expect(
      startReceiver(lab.router, { group: "239.10.0.3", port: nextPort(), ifaceAddr: "10.255.255.1" }),
    ).rejects.toThrow(/receiver in .* exited/);
    await expect(
      sendMulticast(lab.source, { group: "239.10.0.3", port: nextPort(), count: 1, ttl: 1, size: 4 }),
    ).rejects.toThrow(/--size/);
  });
});

describe("lab options and cleanup", () => {
  it("builds extra router links and applies rpFilter", async () => {
    await withLab({ receivers: 1, extraRouterLinks: 3, rpFilter: 2 }, async (lab) => {
      expect(lab.routerIfaces).toEqual({ in: "in0", outs: ["out1"], extra: ["x1", "x2", "x3"] });
      expect(lab.extraPeer).toBeDefined();
      expect(lab.namespaces).toHaveLength(4);
      const r = await links(lab.router);
      for (const x of ["in0", "out1", "x1", "x2", "x3"]) expectUpMulticast(r.get(x), x);
      expect(await addrsOf(lab.router, "x3")).toEqual([`${lab.addrs.routerExtra[2]}/24`]);
      const peers = await links(lab.extraPeer!);
      for (const x of ["p1", "p2", "p3"]) expectUpMulticast(peers.get(x), x);
      for (const c of ["all", "in0", "out1", "x2"]) {
        expect(await readSysctl(lab.router, `net.ipv4.conf.${c}.rp_filter`), c).toBe("2");
      }
    });
  });

  it("cleanup removes every namespace, is idempotent, and withLab cleans up on failure", async () => {
    const lab = await createLab({ receivers: 3 });
    const t0 = performance.now();
    await lab.cleanup();
    const ms = performance.now() - t0;
    await lab.cleanup();
    const left = listNetns().filter((n) => lab.namespaces.includes(n));
    expect(left).toEqual([]);
    expect(ownedNamespaces().filter((n) => lab.namespaces.includes(n))).toEqual([]);
    expect(ms).toBeGreaterThanOrEqual(0); // (timing is reported, not asserted)

    let seen: string[] = [];
    await expect(
      withLab({ receivers: 1 }, (l) => {
        seen = l.namespaces;
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(seen).toHaveLength(3);
    expect(listNetns().filter((n) => seen.includes(n))).toEqual([]);

    await expect(createLab({ receivers: 500 })).rejects.toThrow(RangeError);
  });

  it("labs in one process get distinct names and addresses", async () => {
    const [a, b] = await Promise.all([createLab({ receivers: 1 }), createLab({ receivers: 1 })]);
    try {
      expect(new Set([...a.namespaces, ...b.namespaces]).size).toBe(6);
      expect(a.addrs.source).not.toBe(b.addrs.source);
    } finally {
      await Promise.all([a.cleanup(), b.cleanup()]);
    }
  });

  // A child process builds a lab and then dies without calling cleanup().
  async function childLab(how: "exit" | "SIGTERM" | "SIGKILL"): Promise<{ names: string[]; pid: number }> {
    const code = `
      import { createLab } from ${JSON.stringify(path.join(HERE, "lab.ts"))};
      const lab = await createLab({ receivers: 1 });
      console.log(JSON.stringify(lab.namespaces));
      if (${JSON.stringify(how)} === "exit") process.exit(0);
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
    try {
      await waitFor(() => out.includes("\n") || child.exitCode !== null, {
        timeoutMs: 20_000,
        message: () => `child printed no namespaces; stderr: ${err}`,
      });
      const names = JSON.parse(out.split("\n")[0]!) as string[];
      expect(names).toHaveLength(3);
      if (how !== "exit") child.kill(how);
      await exited;
      return { names, pid: child.pid! };
    } finally {
      child.kill("SIGKILL");
    }
  }

  it("namespaces are removed when the owning process exits or gets SIGTERM", async () => {
    for (const how of ["exit", "SIGTERM"] as const) {
      const { names } = await childLab(how);
      expect(listNetns().filter((n) => names.includes(n)), how).toEqual([]);
    }
  });

  it("sweepStaleNamespaces removes namespaces of dead processes only", async () => {
    const { names, pid } = await childLab("SIGKILL");
    expect(listNetns().filter((n) => names.includes(n))).toEqual(names.slice().sort());
    const mine = await createLab({ receivers: 0 });
    try {
      // A dead pid (the SIGKILLed child) — make sure nobody reused it meanwhile.
      expect(() => process.kill(pid, 0)).toThrow();
      const swept = await sweepStaleNamespaces();
      expect(swept).toEqual(expect.arrayContaining(names));
      expect(listNetns().filter((n) => names.includes(n))).toEqual([]);
      for (const ns of mine.namespaces) expect(netnsExists(ns)).toBe(true);
    } finally {
      await mine.cleanup();
    }
  });
});

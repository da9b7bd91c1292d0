// kernel-needs: ipv4
// UpcallReader against the real kernel: NOCACHE and WRONGVIF upcalls read off the event loop
// from an MrouteSocket in a lab router namespace, real IGMP packets on the same socket skipped,
// when the kernel sends WRONGVIF at all, and shutdown. Each test builds its own lab
// (test/helpers/lab.ts) and removes it afterwards, also on failure. Needs root.
//
// "Nothing arrived" is never asserted by waiting: a later upcall that the kernel queues after
// the event in question (a barrier) shows that everything before it has been read.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { MrouteSocket } from "../../src/kernel/mroute/index.js";
import { type Upcall, UpcallReader } from "../../src/kernel/poll/index.js";
import { type Lab, createLab } from "../helpers/lab.js";
import { execIn, ip } from "../helpers/netns.js";
import { sendMulticast, startReceiver, waitFor } from "../helpers/traffic.js";
import { cleanupAfterEach } from "../helpers/cleanup-after-each.js";
import { bound } from "../helpers/time-bounds.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Undone in reverse order after each test (readers and sockets before their namespaces). */
const cleanups = cleanupAfterEach();

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("kernel tests need root (network namespaces, raw sockets)");
});

async function lab(receivers = 1): Promise<Lab> {
  const l = await createLab({ receivers });
  cleanups.push(() => l.cleanup());
  return l;
}

function nsFile(ns: string): string {
  return `/run/netns/${ns}`;
}

async function ifindex(ns: string, dev: string): Promise<number> {
  const [link] = JSON.parse(await ip(["-j", "link", "show", "dev", dev], ns)) as { ifindex: number }[];
  if (!link) throw new Error(`no ${dev} in ${ns}`);
  return link.ifindex;
}

/** MrouteSocket in the lab router with VIF 0 = in0, VIF i = out<i>. */
async function router(l: Lab): Promise<MrouteSocket> {
  const s = MrouteSocket.open({ netns: nsFile(l.router) });
  cleanups.push(() => s.close());
  s.addVif(0, await ifindex(l.router, "in0"));
  for (const [i, out] of l.routerIfaces.outs.entries()) s.addVif(i + 1, await ifindex(l.router, out));
  return s;
}

interface Watch {
  reader: UpcallReader;
  upcalls: Upcall[];
  errors: Error[];
}

async function watch(fd: number): Promise<Watch> {
  const upcalls: Upcall[] = [];
  const errors: Error[] = [];
  const reader = await UpcallReader.start({ fd, onUpcall: (u) => upcalls.push(u), onError: (e) => errors.push(e) });
  cleanups.push(() => reader.close());
  return { reader, upcalls, errors };
}

/** The first upcall matching, waiting generously (the timeout only bounds a hang). */
async function upcall(w: Watch, type: Upcall["type"], group: string): Promise<Upcall> {
  const found = await waitFor(
    () => {
      if (w.errors.length > 0) throw w.errors[0];
      return w.upcalls.find((u) => u.type === type && u.group === group);
    },
    { timeoutMs: 20_000, message: () => `${type} for ${group}; upcalls so far: ${JSON.stringify(w.upcalls)}` },
  );
  if (!found) throw new Error("unreachable");
  return found;
}

function send(l: Lab, group: string, count = 3): Promise<unknown> {
  return sendMulticast(l.source, { group, port: 5000, ttl: 8, ifaceAddr: l.addrs.source, count, intervalMs: 5 });
}

function openFdCount(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

/** Open descriptors of this process that refer to `target` (a readlink of /proc/self/fd/N). */
function fdsTo(target: string): number {
  let n = 0;
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === target) n++;
    } catch {
      // Closed meanwhile (e.g. the directory's own fd).
    }
  }
  return n;
}

// ---- upcalls ---------------------------------------------------------------------------------

describe("NOCACHE", () => {
  it("one upcall per new (S,G) with the arrival VIF; real IGMP packets on the socket are skipped", async () => {
    const l = await lab(1);
    const s = await router(l);
    const w = await watch(s.fd);

    // An IGMPv2 report for a routable group carries router alert and reaches the MRT_INIT
    // socket: it must be counted and skipped, not reported as an upcall.
    await execIn(l.receivers[0]!, ["sysctl", "-q", "-w", "net.ipv4.conf.eth0.force_igmp_version=2"]);
    const rcv = await startReceiver(l.receivers[0]!, { group: "239.7.0.99", port: 5000, ifaceAddr: l.addrs.receivers[0]! });
    cleanups.push(() => rcv.stop().catch(() => undefined));
    await waitFor(() => w.reader.stats.igmp >= 1, { timeoutMs: 20_000, message: () => JSON.stringify(w.reader.stats) });

    const t0 = Date.now();
    await send(l, "239.7.0.1");
    const u = await upcall(w, "nocache", "239.7.0.1");
    expect(u).toMatchObject({ type: "nocache", vif: 0, source: l.addrs.source, group: "239.7.0.1" });
    expect(u.at).toBeGreaterThanOrEqual(t0);
    expect(u.at).toBeLessThanOrEqual(Date.now());

    // Barrier: a second group's upcall is queued after every upcall of the first send.
    await send(l, "239.7.0.2", 1);
    await upcall(w, "nocache", "239.7.0.2");
    // The unresolved entry queues the later packets (it lives ~10 s): no second upcall.
    expect(w.upcalls.filter((x) => x.group === "239.7.0.1")).toHaveLength(1);
    expect(w.upcalls.every((x) => x.type === "nocache" && x.source === l.addrs.source)).toBe(true);
    expect(w.upcalls.some((x) => x.group === "239.7.0.99")).toBe(false);
    expect(w.reader.stats).toMatchObject({ nocache: w.upcalls.length, wrongvif: 0 });
    expect(w.errors).toEqual([]);
  });

  it("many unresolved (S,G) at once each get their upcall (older kernels capped them at 10)", async () => {
    const l = await lab(1);
    const s = await router(l);
    const w = await watch(s.fd);
    const groups = Array.from({ length: 16 }, (_, i) => `239.7.2.${i + 1}`);
    for (const g of groups) await send(l, g, 1); // one after the other, none resolved
    await waitFor(() => w.upcalls.length >= groups.length, { timeoutMs: 20_000, message: () => JSON.stringify(w.upcalls) });
    expect(w.upcalls.map((u) => u.group)).toEqual(groups);
  });

  it("an onUpcall that throws goes to onError and the reader goes on", async () => {
    const l = await lab(1);
    const s = await router(l);
    const seen: Upcall[] = [];
    const errors: Error[] = [];
    const reader = await UpcallReader.start({
      fd: s.fd,
      onUpcall: (u) => {
        seen.push(u);
        if (u.group === "239.7.1.1") throw new Error("boom");
      },
      onError: (e) => errors.push(e),
    });
    cleanups.push(() => reader.close());
    await send(l, "239.7.1.1", 1);
    await send(l, "239.7.1.2", 1);
    await waitFor(() => seen.some((u) => u.group === "239.7.1.2"), { timeoutMs: 20_000 });
    expect(errors.map((e) => e.message)).toEqual(["boom"]);
    expect(reader.closed).toBe(false);
  });
});

describe("WRONGVIF", () => {
  it("needs MRT_ASSERT and an entry that lists the arrival VIF as an oif", async () => {
    const l = await lab(2);
    const s = await router(l);
    const w = await watch(s.fd);
    const S = l.addrs.source;
    s.setAssert(true);
    // Entries expect the traffic on VIF 1 (out1); it arrives on VIF 0 (in0).
    s.addMfc(S, "239.8.0.1", 1, new Map([[0, 1], [2, 1]])); // in0 is an oif
    s.addMfc(S, "239.8.0.2", 1, new Map([[2, 1]])); // in0 is not

    // Not an oif: wrong_if counts, no upcall.
    await send(l, "239.8.0.2");
    await waitFor(() => (s.sgCounters(S, "239.8.0.2")?.wrongIf ?? 0n) >= 1n, { timeoutMs: 20_000 });
    // An oif: one WRONGVIF naming the arrival VIF. It is queued after anything the first send
    // could have caused, so it doubles as the barrier for that.
    await send(l, "239.8.0.1");
    const u = await upcall(w, "wrongvif", "239.8.0.1");
    expect(u).toMatchObject({ type: "wrongvif", vif: 0, source: S, group: "239.8.0.1" });
    expect(w.upcalls.filter((x) => x.group === "239.8.0.2")).toEqual([]);
    expect(s.sgCounters(S, "239.8.0.1")?.wrongIf).toBeGreaterThanOrEqual(1n);

    // MRT_ASSERT off: nothing, even for an entry that lists the arrival VIF.
    s.setAssert(false);
    s.addMfc(S, "239.8.0.3", 1, new Map([[0, 1], [2, 1]]));
    await send(l, "239.8.0.3");
    await waitFor(() => (s.sgCounters(S, "239.8.0.3")?.wrongIf ?? 0n) >= 1n, { timeoutMs: 20_000 });
    await send(l, "239.8.0.4", 1); // no entry: NOCACHE barrier
    await upcall(w, "nocache", "239.8.0.4");
    expect(w.upcalls.filter((x) => x.group === "239.8.0.3")).toEqual([]);
    // (One per entry per 3 s at most, so normally exactly one.)
    expect(w.upcalls.filter((x) => x.type === "wrongvif").every((x) => x.group === "239.8.0.1")).toBe(true);
    expect(w.errors).toEqual([]);
  });
});

// ---- lifecycle -------------------------------------------------------------------------------

describe("start and close", () => {
  it("close stops the worker and releases its descriptors; idempotent; nothing delivered after close", async () => {
    const l = await lab(1);
    const s = await router(l);
    const fds = openFdCount();
    const sock = fs.readlinkSync(`/proc/self/fd/${s.fd}`); // socket:[inode]
    expect(fdsTo(sock)).toBe(1);
    const w = await watch(s.fd);
    expect(fdsTo(sock)).toBe(2); // the reader's own duplicate
    const first = w.reader.close();
    expect(w.reader.close()).toBe(first);
    expect(w.reader.closed).toBe(true);
    await first;
    expect(fdsTo(sock)).toBe(1);
    expect(openFdCount()).toBe(fds);

    // Traffic after close: a new reader sees it, the closed one does not.
    const count = w.upcalls.length;
    const w2 = await watch(s.fd);
    await send(l, "239.9.0.1", 1);
    await upcall(w2, "nocache", "239.9.0.1");
    expect(w.upcalls.length).toBe(count);
  });

  it("start rejects a negative or closed fd and leaves nothing behind", async () => {
    const fds = openFdCount();
    await expect(UpcallReader.start({ fd: -1, onUpcall: () => undefined })).rejects.toBeInstanceOf(RangeError);
    await expect(UpcallReader.start({ fd: 999_999, onUpcall: () => undefined })).rejects.toMatchObject({
      name: "KernelError",
      code: "EBADF",
    });
    expect(openFdCount()).toBe(fds);
  });

  it("the MrouteSocket may close first: the table is released at once and the reader still closes", async () => {
    const l = await lab(1);
    const s = await router(l);
    const w = await watch(s.fd);
    s.close();
    // The reader's duplicate keeps the socket object alive, but MRT_DONE released the table:
    // another owner can take it right away, and the old reader sees none of its upcalls.
    const s2 = await router(l);
    const w2 = await watch(s2.fd);
    await send(l, "239.9.1.1", 1);
    await upcall(w2, "nocache", "239.9.1.1");
    expect(w.upcalls).toEqual([]);
    await w.reader.close();
    expect(w.errors).toEqual([]);
  });

  it("the process exits by itself after close, and with an unref()'d reader still running", async () => {
    const l = await lab(1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-upcall-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const script = path.join(dir, "exit.mts");
    const kernel = path.join(REPO_ROOT, "src/kernel");
    fs.writeFileSync(
      script,
      `import { MrouteSocket } from ${JSON.stringify(path.join(kernel, "mroute/index.ts"))};
       import { UpcallReader } from ${JSON.stringify(path.join(kernel, "poll/index.ts"))};
       const s = MrouteSocket.open({ netns: ${JSON.stringify(nsFile(l.router))} });
       const r = await UpcallReader.start({ fd: s.fd, onUpcall: () => undefined });
       await r.close();
       console.log("closed");
       // Blocked in poll() when the process ends: the exit hook must wake it.
       (await UpcallReader.start({ fd: s.fd, onUpcall: () => undefined })).unref();
       console.log("unref'd");\n`,
    );
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      // The timeout only bounds a hang (the failure this test looks for); it measures nothing.
      execFile(
        process.execPath,
        ["--import", "tsx", script],
        { cwd: REPO_ROOT, timeout: bound(60_000), killSignal: "SIGKILL", encoding: "utf8" },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr }),
      );
    });
    expect(out).toMatchObject({ code: 0, stdout: "closed\nunref'd\n" });
  });
});

// kernel-needs: none
// PollHub: every blocking reader shares one worker thread. Members join and leave at run time,
// a failure of one member's fd is reported to that member only, and the thread (with its
// eventfd) goes away with the last member. Most tests use a small handler over eventfds (no
// kernel features needed); the last one runs two real RtnetlinkMonitors in two namespaces on the
// one thread. Needs root for the namespaces.
import fs from "node:fs";
import os from "node:os";
import { beforeAll, describe, expect, it } from "vitest";
import { EFD_CLOEXEC, EFD_NONBLOCK, eventfd, write } from "../../src/kernel/ffi/index.js";
import { PollHub, type PollHubMember, type PollHubMessage } from "../../src/kernel/poll/poll-hub.js";
import { type RtnetlinkEvent, RtnetlinkMonitor } from "../../src/kernel/poll/index.js";
import { addNetns, delNetns, ip, uniqueName } from "../helpers/netns.js";
import { waitFor } from "../helpers/traffic.js";
import { workerExecArgv } from "../../src/kernel/poll/worker-module.js";
import type { TickData } from "./poll-hub-tick-handler.js";
import { cleanupAfterEach } from "../helpers/cleanup-after-each.js";

const cleanups = cleanupAfterEach();

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("kernel tests need root (network namespaces)");
});

// Reads the eventfd's counter and posts it; 13 is this handler's "the fd broke" (EIO), 99 a bug.
const TICK_HANDLER = new URL("./poll-hub-tick-handler.ts", import.meta.url);
// Threads a running hub adds: its own, plus tsx's module-hooks thread when its entry is
// TypeScript (as here, running from sources; the bundle adds only the hub's).
const HUB_THREADS = workerExecArgv(new URL("../../src/kernel/poll/poll-hub-worker.ts", import.meta.url)) ? 2 : 1;

type Tick = PollHubMessage & { value?: number };

interface Ticker {
  fd: number;
  member: PollHubMember<Tick>;
  ticks: number[];
  errors: Error[];
}

function openFdCount(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

function threadCount(): number {
  return fs.readdirSync("/proc/self/task").length;
}

function fdOpen(fd: number): boolean {
  return fs.existsSync(`/proc/self/fd/${fd}`);
}

function tick(t: Ticker, value: number): void {
  const buf = Buffer.alloc(8);
  if (os.endianness() === "LE") buf.writeBigUInt64LE(BigInt(value));
  else buf.writeBigUInt64BE(BigInt(value));
  write(t.fd, buf, "write(eventfd)");
}

async function ticker(failToStart = false): Promise<Ticker> {
  const fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  const ticks: number[] = [];
  const errors: Error[] = [];
  const member = await PollHub.join<Tick, TickData>({
    name: "ticker",
    handler: TICK_HANDLER,
    data: { fd, failToStart },
    ownedFds: [fd],
    onMessage: (m) => m.value !== undefined && ticks.push(m.value),
    onFail: (err) => errors.push(err),
  });
  cleanups.push(() => member.close());
  return { fd, member, ticks, errors };
}

async function sees(t: Ticker, value: number): Promise<void> {
  await waitFor(() => t.ticks.includes(value), { timeoutMs: 20_000, message: () => `ticks so far: ${t.ticks.join(",")}` });
}

describe("PollHub", () => {
  it("members join and leave at run time on one thread, each getting only its own fd's data", async () => {
    const a = await ticker();
    const threads = threadCount();
    const b = await ticker();
    const c = await ticker();
    expect(threadCount()).toBe(threads);
    tick(a, 1);
    tick(b, 2);
    tick(c, 3);
    await Promise.all([sees(a, 1), sees(b, 2), sees(c, 3)]);

    await b.member.close();
    expect(b.member.stopped).toBe(true);
    expect(fdOpen(b.fd)).toBe(false); // owned fds are closed once the hub no longer polls them
    const d = await ticker();
    tick(d, 4);
    tick(a, 5);
    await Promise.all([sees(d, 4), sees(a, 5)]);
    expect(threadCount()).toBe(threads);
    expect([a.ticks, b.ticks, c.ticks, d.ticks]).toEqual([[1, 5], [2], [3], [4]]);
    expect([...a.errors, ...b.errors, ...c.errors, ...d.errors]).toEqual([]);
  });

  it("a failing fd stops its member only; a handler's exception too", async () => {
    const a = await ticker();
    const b = await ticker();
    const c = await ticker();
    tick(a, 13);
    await waitFor(() => a.errors.length > 0, { timeoutMs: 20_000, message: () => "no error for a" });
    expect(a.errors[0]).toMatchObject({ name: "KernelError", code: "EIO", syscall: "tick" });
    expect(a.member.stopped).toBe(true);
    await a.member.close();
    expect(fdOpen(a.fd)).toBe(false);

    tick(c, 99);
    await waitFor(() => c.errors.length > 0, { timeoutMs: 20_000, message: () => "no error for c" });
    expect(c.errors[0]?.message).toMatch(/ticker stopped: TypeError: handler bug/);

    tick(b, 7);
    await sees(b, 7);
    expect(b.errors).toEqual([]);
    expect(b.member.stopped).toBe(false);
  });

  it("a handler that cannot start rejects its join only and leaves nothing behind", async () => {
    const a = await ticker();
    const fds = openFdCount();
    await expect(ticker(true)).rejects.toMatchObject({ name: "KernelError", code: "ENODEV" });
    expect(openFdCount()).toBe(fds);
    tick(a, 8);
    await sees(a, 8);
  });

  it("the thread and its eventfd go with the last member; the next join starts a new one", async () => {
    const fds = openFdCount();
    const threads = threadCount();
    const a = await ticker();
    const b = await ticker();
    expect(threadCount()).toBe(threads + HUB_THREADS);
    await a.member.close();
    await b.member.close();
    expect(openFdCount()).toBe(fds);
    await waitFor(() => threadCount() === threads, { timeoutMs: 20_000, message: () => `threads: ${threadCount()}` });

    const c = await ticker();
    tick(c, 9);
    await sees(c, 9);
  });

  it("monitors of two namespaces share the thread and each sees only its namespace", async () => {
    const names = [uniqueName("hub"), uniqueName("hub")];
    for (const name of names) {
      await addNetns(name);
      cleanups.push(() => delNetns(name));
    }
    const events: RtnetlinkEvent[][] = [[], []];
    const errors: Error[] = [];
    const start = (i: number) =>
      RtnetlinkMonitor.start({ netns: `/run/netns/${names[i]}`, onEvent: (e) => events[i]?.push(e), onError: (e) => errors.push(e) });
    const first = await start(0);
    cleanups.push(() => first.close());
    const threads = threadCount();
    const second = await start(1);
    cleanups.push(() => second.close());
    expect(threadCount()).toBe(threads);

    const linkNamed = (i: number, name: string) => () =>
      events[i]?.some((e) => e.kind === "link-new" && e.link.name === name) ?? false;
    await ip(["link", "add", "only1", "type", "veth", "peer", "name", "only1p"], names[1]);
    await ip(["link", "add", "only0", "type", "veth", "peer", "name", "only0p"], names[0]);
    await waitFor(linkNamed(1, "only1"), { timeoutMs: 20_000, message: () => "only1 not seen" });
    await waitFor(linkNamed(0, "only0"), { timeoutMs: 20_000, message: () => "only0 not seen" });
    // Seeing its own namespace's link shows where each socket is; the other's never shows up.
    expect(linkNamed(0, "only1")()).toBe(false);
    expect(linkNamed(1, "only0")()).toBe(false);
    expect(errors).toEqual([]);
  });
});

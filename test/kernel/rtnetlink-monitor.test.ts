// kernel-needs: ipv4 ipv6
// RtnetlinkMonitor and listLinks against the real kernel: link and MFC change notifications
// from a namespace, what the kernel reports for each kind of change, shutdown, and the link
// dump compared with `ip -j link show`. Each test builds its own namespaces (test/helpers) and
// removes them afterwards, also on failure. Needs root.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  inNetns,
  AF_INET,
  IPPROTO_IGMP,
  IPPROTO_IP,
  SOCK_CLOEXEC,
  SOCK_RAW,
  close,
  socket,
  trySetsockopt,
} from "../../src/kernel/ffi/index.js";
import { listLinks } from "../../src/kernel/netlink/index.js";
import { IPV4_STRUCTS, MRT_ADD_MFC, MRT_DEL_MFC, encodeMfcctl, type LinkInfo } from "../../src/kernel/abi/index.js";
import { MrouteSocket, Mroute6Socket } from "../../src/kernel/mroute/index.js";
import { type RtnetlinkEvent, RtnetlinkMonitor } from "../../src/kernel/poll/index.js";
import { addNetns, delNetns, ip, uniqueName } from "../helpers/netns.js";
import { waitFor } from "../helpers/traffic.js";
import { cleanupAfterEach } from "../helpers/cleanup-after-each.js";
import { bound } from "../helpers/time-bounds.js";

// ---- lab ------------------------------------------------------------------------------------

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Undone in reverse order after each test (monitors and sockets before their namespaces). */
const cleanups = cleanupAfterEach();

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("kernel tests need root (network namespaces, raw sockets)");
});

/** A fresh namespace (lo up); returns its name and /run/netns path. */
async function netns(role = "mon"): Promise<{ name: string; file: string }> {
  const name = uniqueName(role);
  await addNetns(name);
  cleanups.push(() => delNetns(name));
  await ip(["link", "set", "lo", "up"], name);
  return { name, file: `/run/netns/${name}` };
}

async function veth(ns: string, name: string, peer: string, up = true): Promise<void> {
  await ip(["link", "add", name, "type", "veth", "peer", "name", peer], ns);
  if (up) {
    await ip(["link", "set", name, "up"], ns);
    await ip(["link", "set", peer, "up"], ns);
  }
}

async function linkIndex(ns: string, name: string): Promise<number> {
  const [link] = JSON.parse(await ip(["-j", "link", "show", "dev", name], ns)) as { ifindex: number }[];
  if (!link) throw new Error(`no ${name} in ${ns}`);
  return link.ifindex;
}

interface Watch {
  mon: RtnetlinkMonitor;
  events: RtnetlinkEvent[];
  errors: Error[];
}

async function watch(file: string | undefined, rcvbufBytes?: number, dropOwnMfcUpdates = false): Promise<Watch> {
  const events: RtnetlinkEvent[] = [];
  const errors: Error[] = [];
  const mon = await RtnetlinkMonitor.start({
    netns: file,
    onEvent: (e) => events.push(e),
    onError: (e) => errors.push(e),
    rcvbufBytes,
    dropOwnMfcUpdates,
  });
  cleanups.push(() => mon.close());
  return { mon, events, errors };
}

/**
 * An owner that writes through its MRT_INIT socket only (survive: false): these tests are about
 * what the kernel reports for the owner's own writes (RTPROT_MROUTED) and for a second socket's
 * (RTPROT_STATIC). mfcd's own static writer is such a second socket, so its adds are reported.
 */
function openMroute(file: string, table?: number): MrouteSocket {
  const s = MrouteSocket.open({ netns: file, table, survive: false });
  cleanups.push(() => s.close());
  return s;
}

type MrouteEvent = Extract<RtnetlinkEvent, { kind: "mroute-new" | "mroute-del" }>;

/** The first event from index `from` on that satisfies `pred` (generous timeout, no timing claims). */
async function next<E extends RtnetlinkEvent>(w: Watch, from: number, pred: (e: RtnetlinkEvent) => e is E): Promise<E> {
  const found = await waitFor(
    () => {
      if (w.errors.length > 0) throw w.errors[0];
      return w.events.slice(from).find(pred);
    },
    { timeoutMs: 20_000, message: () => `events so far: ${describeEvents(w.events.slice(from))}` },
  );
  if (!found) throw new Error("unreachable: waitFor returns a found event");
  return found;
}

function linkEvent(kind: "link-new" | "link-del", ok: (l: LinkInfo) => boolean) {
  return (e: RtnetlinkEvent): e is Extract<RtnetlinkEvent, { kind: "link-new" | "link-del" }> =>
    e.kind === kind && ok(e.link);
}

function mrouteEvent(kind: "mroute-new" | "mroute-del", source: string, group: string) {
  return (e: RtnetlinkEvent): e is MrouteEvent => e.kind === kind && e.source === source && e.group === group;
}

function describeEvents(events: RtnetlinkEvent[]): string {
  return JSON.stringify(events.slice(-20), (_k, v: unknown) =>
    typeof v === "bigint" ? String(v) : v instanceof Map ? [...(v as Map<unknown, unknown>)] : v,
  );
}

function openFdCount(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

/** A raw IGMP socket in the namespace that never takes MRT_INIT. */
function rawIgmp(file: string): number {
  const fd = inNetns(file, () => socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_IGMP));
  cleanups.push(() => close(fd));
  return fd;
}

// ---- links ----------------------------------------------------------------------------------

describe("link events", () => {
  it("add, up, down, rename, delete", async () => {
    const { name: ns, file } = await netns();
    const w = await watch(file);

    let mark = w.events.length;
    await veth(ns, "v0", "v1", false);
    const idx = await linkIndex(ns, "v0");
    const added = await next(w, mark, linkEvent("link-new", (l) => l.name === "v0"));
    expect(added.link).toMatchObject({ ifindex: idx, name: "v0", up: false, running: false, multicast: true });

    // Up on one end only: IFF_UP, but no carrier until the peer is up too.
    mark = w.events.length;
    await ip(["link", "set", "v0", "up"], ns);
    const upNoCarrier = await next(w, mark, linkEvent("link-new", (l) => l.ifindex === idx && l.up));
    expect(upNoCarrier.link.running).toBe(false);
    await ip(["link", "set", "v1", "up"], ns);
    await next(w, mark, linkEvent("link-new", (l) => l.ifindex === idx && l.up && l.running));

    mark = w.events.length;
    await ip(["link", "set", "v0", "down"], ns);
    const down = await next(w, mark, linkEvent("link-new", (l) => l.ifindex === idx && !l.up));
    expect(down.link).toMatchObject({ name: "v0", running: false });

    // Renaming needs the link down; the kernel reports it as RTM_NEWLINK with the same ifindex.
    mark = w.events.length;
    await ip(["link", "set", "v0", "name", "w0"], ns);
    const renamed = await next(w, mark, linkEvent("link-new", (l) => l.ifindex === idx && l.name === "w0"));
    expect(renamed.link).toMatchObject({ up: false, multicast: true });

    // Deleting one end of a veth deletes both.
    mark = w.events.length;
    const peerIdx = await linkIndex(ns, "v1");
    await ip(["link", "del", "w0"], ns);
    const gone = await next(w, mark, linkEvent("link-del", (l) => l.ifindex === idx));
    expect(gone.link.name).toBe("w0");
    await next(w, mark, linkEvent("link-del", (l) => l.ifindex === peerIdx && l.name === "v1"));
    expect(w.events.some((e) => e.kind === "overrun")).toBe(false);
  });

  it("sees only its own namespace", async () => {
    const a = await netns("a");
    const b = await netns("b");
    const wa = await watch(a.file);
    const wb = await watch(b.file);
    await veth(b.name, "only_b", "peer_b", false);
    await next(wb, 0, linkEvent("link-new", (l) => l.name === "only_b"));
    // A change in a that happens after the one in b: once a reports it, a has seen nothing of b.
    await veth(a.name, "only_a", "peer_a", false);
    await next(wa, 0, linkEvent("link-new", (l) => l.name === "only_a"));
    expect(wa.events.some((e) => (e.kind === "link-new" || e.kind === "link-del") && e.link.name.endsWith("_b"))).toBe(false);
  });
});

// ---- MFC ------------------------------------------------------------------------------------

describe("mroute events", () => {
  it("MRT_ADD_MFC / replace / MRT_DEL_MFC: S, G, iif and oif ifindexes with TTLs", async () => {
    const { name: ns, file } = await netns();
    for (let i = 0; i < 3; i++) await veth(ns, `a${i}`, `b${i}`);
    const idx = await Promise.all([0, 1, 2].map((i) => linkIndex(ns, `a${i}`)));
    const [a0, a1, a2] = idx as [number, number, number];
    const w = await watch(file);
    const s = openMroute(file);
    idx.forEach((ifindex, vif) => s.addVif(vif, ifindex));

    let mark = w.events.length;
    // VIF 5 does not exist: the kernel drops that oif, and the event does not list it.
    s.addMfc("10.0.0.2", "239.1.1.1", 0, new Map([[1, 2], [2, 64], [5, 9]]));
    const added = await next(w, mark, mrouteEvent("mroute-new", "10.0.0.2", "239.1.1.1"));
    expect(added).toMatchObject({ table: 253, iifIndex: a0, unresolved: false, static: false, packets: 0n });
    expect(added.oifs).toEqual(new Map([[a1, 2], [a2, 64]]));

    // A replace in place is another RTM_NEWROUTE (never an error, never a delete first).
    mark = w.events.length;
    s.addMfc("10.0.0.2", "239.1.1.1", 2, new Map([[0, 3]]));
    const replaced = await next(w, mark, mrouteEvent("mroute-new", "10.0.0.2", "239.1.1.1"));
    expect(replaced.iifIndex).toBe(a2);
    expect(replaced.oifs).toEqual(new Map([[a0, 3]]));

    mark = w.events.length;
    s.delMfc("10.0.0.2", "239.1.1.1");
    const deleted = await next(w, mark, mrouteEvent("mroute-del", "10.0.0.2", "239.1.1.1"));
    expect(deleted).toMatchObject({ table: 253, iifIndex: a2, unresolved: false });
    expect(deleted.oifs).toEqual(new Map([[a0, 3]]));
    expect(w.events.slice(mark).filter((e) => e.kind === "mroute-new")).toEqual([]);

    // (*,G): source 0.0.0.0.
    mark = w.events.length;
    s.addMfc("0.0.0.0", "239.1.1.9", 1, new Map([[1, 1], [2, 1]]));
    const wildcard = await next(w, mark, mrouteEvent("mroute-new", "0.0.0.0", "239.1.1.9"));
    expect(wildcard.iifIndex).toBe(a1);
  });

  it("entries added or deleted by a second raw IGMP socket without MRT_INIT", async () => {
    const { name: ns, file } = await netns();
    await veth(ns, "a0", "b0");
    await veth(ns, "a1", "b1");
    const [a0, a1] = [await linkIndex(ns, "a0"), await linkIndex(ns, "a1")];
    const w = await watch(file);
    const s = openMroute(file);
    s.addVif(0, a0);
    s.addVif(1, a1);
    const other = rawIgmp(file);

    // Ours, deleted by the other socket.
    s.addMfc("10.0.0.2", "239.2.2.2", 0, new Map([[1, 1]]));
    let mark = w.events.length;
    expect(trySetsockopt(other, IPPROTO_IP, MRT_DEL_MFC, encodeMfcctl(IPV4_STRUCTS, { origin: "10.0.0.2", group: "239.2.2.2", parent: 0 }))).toBe(0);
    const deleted = await next(w, mark, mrouteEvent("mroute-del", "10.0.0.2", "239.2.2.2"));
    expect(deleted).toMatchObject({ iifIndex: a0, static: false });
    expect(deleted.oifs).toEqual(new Map([[a1, 1]]));

    // Added by the other socket: the kernel marks it static (rtm_protocol RTPROT_STATIC).
    mark = w.events.length;
    const ttls = new Map([[1, 4]]);
    expect(trySetsockopt(other, IPPROTO_IP, MRT_ADD_MFC, encodeMfcctl(IPV4_STRUCTS, { origin: "10.0.0.3", group: "239.2.2.3", parent: 0, oifs: ttls }))).toBe(0);
    const added = await next(w, mark, mrouteEvent("mroute-new", "10.0.0.3", "239.2.2.3"));
    expect(added).toMatchObject({ iifIndex: a0, static: true });
    expect(added.oifs).toEqual(new Map([[a1, 4]]));
    mark = w.events.length;
    expect(trySetsockopt(other, IPPROTO_IP, MRT_DEL_MFC, encodeMfcctl(IPV4_STRUCTS, { origin: "10.0.0.3", group: "239.2.2.3", parent: 0 }))).toBe(0);
    await next(w, mark, mrouteEvent("mroute-del", "10.0.0.3", "239.2.2.3"));
  });

  it("dropOwnMfcUpdates: the owner's own adds are not reported; foreign changes and all deletes are", async () => {
    const { name: ns, file } = await netns();
    await veth(ns, "a0", "b0");
    await veth(ns, "a1", "b1");
    const [a0, a1] = [await linkIndex(ns, "a0"), await linkIndex(ns, "a1")];
    const w = await watch(file, undefined, true);
    // Dropped in the kernel by a socket filter: the worker never even wakes up for them.
    expect(w.mon.ownMfcUpdatesFilter).toBe("kernel");
    const s = openMroute(file);
    s.addVif(0, a0);
    s.addVif(1, a1);
    const other = rawIgmp(file);
    const mark = w.events.length;
    for (let i = 1; i <= 50; i++) s.addMfc(`10.0.1.${i}`, "239.3.3.3", 0, new Map([[1, 1]]));
    // A foreign change of one of ours: reported (the kernel marks it static).
    expect(
      trySetsockopt(other, IPPROTO_IP, MRT_ADD_MFC, encodeMfcctl(IPV4_STRUCTS, { origin: "10.0.1.7", group: "239.3.3.3", parent: 1 })),
    ).toBe(0);
    const altered = await next(w, mark, mrouteEvent("mroute-new", "10.0.1.7", "239.3.3.3"));
    expect(altered).toMatchObject({ iifIndex: a1, static: true });
    // Our own delete is still reported (deletions are never dropped).
    s.delMfc("10.0.1.9", "239.3.3.3");
    await next(w, mark, mrouteEvent("mroute-del", "10.0.1.9", "239.3.3.3"));
    const ownAdds = w.events
      .slice(mark)
      .filter((e) => e.kind === "mroute-new" && !(e as MrouteEvent).static);
    expect(ownAdds).toEqual([]);
  });

  it("IPv6 (RTNLGRP_IPV6_MROUTE): add and delete are reported with family ipv6 and table 254; with dropOwnMfcUpdates own adds are not", async () => {
    const { name: ns, file } = await netns();
    await veth(ns, "a0", "b0");
    await veth(ns, "a1", "b1");
    const [a0, a1] = [await linkIndex(ns, "a0"), await linkIndex(ns, "a1")];
    const all = await watch(file);
    const filtered = await watch(file, undefined, true);
    const s = Mroute6Socket.open({ netns: file, survive: false });
    cleanups.push(() => s.close());
    s.addVif(0, a0);
    s.addVif(1, a1);
    const mark = all.events.length;
    const markFiltered = filtered.events.length;
    s.addMfc("2001:db8::2", "ff3e::1:1", 0, new Map([[1, 1]]));
    const added = await next(all, mark, mrouteEvent("mroute-new", "2001:db8::2", "ff3e::1:1"));
    expect(added).toMatchObject({ family: "ipv6", table: 254, iifIndex: a0, unresolved: false });
    expect(added.oifs).toEqual(new Map([[a1, 1]]));
    s.delMfc("2001:db8::2", "ff3e::1:1");
    const deleted = await next(all, mark, mrouteEvent("mroute-del", "2001:db8::2", "ff3e::1:1"));
    expect(deleted.family).toBe("ipv6");
    // The filtered monitor saw the delete (never dropped) but not our own add before it.
    await next(filtered, markFiltered, mrouteEvent("mroute-del", "2001:db8::2", "ff3e::1:1"));
    expect(filtered.events.slice(markFiltered).filter((e) => e.kind === "mroute-new")).toEqual([]);
    // IPv4 events still say ipv4.
    expect(all.events.slice(mark).every((e) => e.kind !== "mroute-new" || e.family === "ipv6")).toBe(true);
  });

  it("closing the MRT_INIT socket deletes its entries: one mroute-del each, VIFs already gone", async () => {
    const { name: ns, file } = await netns();
    await veth(ns, "a0", "b0");
    await veth(ns, "a1", "b1");
    const w = await watch(file);
    const s = openMroute(file);
    s.addVif(0, await linkIndex(ns, "a0"));
    s.addVif(1, await linkIndex(ns, "a1"));
    s.addMfc("10.0.0.2", "239.3.3.1", 0, new Map([[1, 1]]));
    s.addMfc("10.0.0.2", "239.3.3.2", 1, new Map([[0, 1]]));
    await next(w, 0, mrouteEvent("mroute-new", "10.0.0.2", "239.3.3.2"));
    const mark = w.events.length;
    s.close();
    const d1 = await next(w, mark, mrouteEvent("mroute-del", "10.0.0.2", "239.3.3.1"));
    const d2 = await next(w, mark, mrouteEvent("mroute-del", "10.0.0.2", "239.3.3.2"));
    // The kernel removes the VIFs before the entries, so the deletes carry no iif and no oifs.
    for (const d of [d1, d2]) {
      expect(d.iifIndex).toBe(0);
      expect(d.oifs.size).toBe(0);
    }
  });

  it("deleting a VIF sends no MFC event; the entry's next event lists only existing VIFs", async () => {
    const { name: ns, file } = await netns();
    await veth(ns, "a0", "b0");
    await veth(ns, "a1", "b1");
    await veth(ns, "a2", "b2");
    const [a0, , a2] = [await linkIndex(ns, "a0"), await linkIndex(ns, "a1"), await linkIndex(ns, "a2")];
    const w = await watch(file);
    const s = openMroute(file);
    s.addVif(0, a0);
    s.addVif(1, await linkIndex(ns, "a1"));
    s.addVif(2, a2);
    s.addMfc("10.0.0.2", "239.4.4.4", 0, new Map([[1, 1], [2, 1]]));
    await next(w, 0, mrouteEvent("mroute-new", "10.0.0.2", "239.4.4.4"));
    s.delVif(1);
    // A later change of the same entry (here: its delete) shows the entry without VIF 1.
    const mark = w.events.length;
    s.delMfc("10.0.0.2", "239.4.4.4");
    const del = await next(w, mark, mrouteEvent("mroute-del", "10.0.0.2", "239.4.4.4"));
    expect(del.oifs).toEqual(new Map([[a2, 1]]));
    expect(w.events.slice(0, mark).filter((e) => e.kind === "mroute-del")).toEqual([]);
  });

  it("other tables: the event carries the table id", async () => {
    const { name: ns, file } = await netns();
    await veth(ns, "a0", "b0");
    const w = await watch(file);
    const s = openMroute(file, 7);
    s.addVif(0, await linkIndex(ns, "a0"));
    s.addMfc("10.0.0.2", "239.7.7.7", 0, new Map());
    const added = await next(w, 0, mrouteEvent("mroute-new", "10.0.0.2", "239.7.7.7"));
    expect(added.table).toBe(7);
    expect(added.oifs.size).toBe(0);
  });

  it("a burst of 10k MRT_ADD_MFC arrives complete with the default receive buffer", async () => {
    const { name: ns, file } = await netns();
    await veth(ns, "a0", "b0");
    await veth(ns, "a1", "b1");
    const w = await watch(file);
    const s = openMroute(file);
    s.addVif(0, await linkIndex(ns, "a0"));
    s.addVif(1, await linkIndex(ns, "a1"));
    const oifs = new Map([[1, 1]]);
    const mark = w.events.length;
    for (let i = 0; i < 10_000; i++) s.addMfc(`10.5.${i >> 8}.${i & 255}`, "239.5.5.5", 0, oifs);
    await waitFor(() => w.events.length - mark >= 10_000, {
      timeoutMs: 30_000,
      message: () => `${w.events.length - mark} events`,
    });
    const got = w.events.slice(mark);
    expect(got.filter((e) => e.kind === "overrun")).toEqual([]);
    const sources = new Set(got.map((e) => (e.kind === "mroute-new" ? e.source : "?")));
    expect(sources.size).toBe(10_000);
    expect(sources.has("10.5.39.15")).toBe(true); // i = 9999
  });

  it("ENOBUFS: a receive buffer too small for a burst yields an overrun event, and events go on", async () => {
    const { name: ns, file } = await netns();
    await veth(ns, "a0", "b0");
    const w = await watch(file, 1); // the kernel raises it to its minimum (a few KiB)
    const s = openMroute(file);
    s.addVif(0, await linkIndex(ns, "a0"));
    for (let i = 0; i < 10_000; i++) s.addMfc(`10.6.${i >> 8}.${i & 255}`, "239.6.6.6", 0, new Map());
    await next(w, 0, (e): e is { kind: "overrun" } => e.kind === "overrun");
    expect(w.events.filter((e) => e.kind === "mroute-new").length).toBeLessThan(10_000);
    // Still subscribed after the overrun.
    const mark = w.events.length;
    s.delMfc("10.6.0.0", "239.6.6.6");
    await next(w, mark, mrouteEvent("mroute-del", "10.6.0.0", "239.6.6.6"));
    expect(w.errors).toEqual([]);
  });
});

// ---- lifecycle ------------------------------------------------------------------------------

describe("start and close", () => {
  it("close stops the worker and releases its fds; a second close is a no-op; no events after close", async () => {
    const { name: ns, file } = await netns();
    const fds = openFdCount();
    const events: RtnetlinkEvent[] = [];
    const mon = await RtnetlinkMonitor.start({ netns: file, onEvent: (e) => events.push(e) });
    cleanups.push(() => mon.close());
    expect(mon.closed).toBe(false);
    const first = mon.close();
    expect(mon.close()).toBe(first);
    expect(mon.closed).toBe(true);
    await first;
    await mon.close();
    expect(openFdCount()).toBe(fds);

    // A change after close: a second monitor sees it, the closed one never does.
    const count = events.length;
    const w2 = await watch(file);
    await veth(ns, "late0", "late1", false);
    await next(w2, 0, linkEvent("link-new", (l) => l.name === "late0"));
    expect(events.length).toBe(count);
  });

  it("start rejects with ENOENT for a missing namespace file and leaves nothing behind", async () => {
    const fds = openFdCount();
    const missing = `/run/netns/${uniqueName("missing")}`;
    await expect(RtnetlinkMonitor.start({ netns: missing, onEvent: () => undefined })).rejects.toMatchObject({
      name: "KernelError",
      code: "ENOENT",
    });
    expect(openFdCount()).toBe(fds);
  });

  it("the process exits by itself after close, and with an unref()'d monitor still running", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-monitor-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const script = path.join(dir, "exit.mts");
    const entry = path.join(REPO_ROOT, "src/kernel/index.ts");
    fs.writeFileSync(
      script,
      `import { RtnetlinkMonitor } from ${JSON.stringify(entry)};
       const m = await RtnetlinkMonitor.start({ onEvent: () => undefined });
       await m.close();
       console.log("closed");
       // Blocked in poll() when the process ends: the exit hook must wake it.
       (await RtnetlinkMonitor.start({ onEvent: () => undefined })).unref();
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

// ---- listLinks ------------------------------------------------------------------------------

describe("listLinks", () => {
  it("matches ip -j link show in the namespace", async () => {
    const { name: ns, file } = await netns();
    await veth(ns, "up0", "up1");
    await veth(ns, "down0", "down1", false);
    await ip(["link", "set", "down1", "up"], ns); // down0 admin down, its peer up without carrier
    await ip(["link", "set", "up1", "multicast", "off"], ns);
    // Carrier and operstate settle a moment after a link goes up (the kernel's linkwatch; until
    // then a link without carrier may still read RUNNING): compare once both reads agree, which
    // they must — a decoding error would never settle.
    type Shown = { ifindex: number; ifname: string; flags: string[] }[];
    let last = "";
    const links = await waitFor(async () => {
      const shown = JSON.parse(await ip(["-j", "link", "show"], ns)) as Shown;
      const expected = shown.map((l) => ({
        ifindex: l.ifindex,
        name: l.ifname,
        up: l.flags.includes("UP"),
        running: l.flags.includes("LOWER_UP"),
        multicast: l.flags.includes("MULTICAST"),
      }));
      const got = listLinks(file);
      const same = JSON.stringify(got.map(({ flags: _, ...l }) => l)) === JSON.stringify(expected);
      last = `ip: ${JSON.stringify(expected)} listLinks: ${JSON.stringify(got)}`;
      return same ? got : undefined;
    }, { message: () => `listLinks never matched ip -j link show: ${last}` });
    expect(links.map((l) => l.name).sort()).toEqual(["down0", "down1", "lo", "up0", "up1"]);
    expect(links.find((l) => l.name === "up1")?.multicast).toBe(false);
    expect(links.find((l) => l.name === "down1")).toMatchObject({ up: true, running: false });
  });

  it("without a namespace lists the calling thread's own links", () => {
    const own = fs.readdirSync("/sys/class/net").sort();
    expect(listLinks().map((l) => l.name).sort()).toEqual(own);
  });
});

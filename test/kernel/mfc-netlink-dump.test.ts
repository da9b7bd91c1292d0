// kernel-needs: ipv4 tables
// MfcNetlinkDumper and MrouteSocket.dumpMfc (rtnetlink RTM_GETROUTE dumps of the IPv4 MFC)
// against the real kernel: per-table filtering, VIF mapping, 10k entries, counters after real
// traffic, unresolved entries; plus the pure framing/codec code on crafted bytes. Each test
// builds its own namespaces (test/helpers) and removes them afterwards. Needs root.
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
import { MfcNetlinkDumper } from "../../src/kernel/netlink/index.js";
import {
  MRT_ADD_VIF,
  RT_TABLE_DEFAULT,
  encodeVifctl,
  IPV4_STRUCTS,
  type NetlinkMfcEntry,
  decodeMfcMessage,
  forEachNetlinkMessage,
} from "../../src/kernel/abi/index.js";
import { FOREIGN_VIF_BASE, MrouteSocket, parseIpMrCache } from "../../src/kernel/mroute/index.js";
import { type RtnetlinkEvent, RtnetlinkMonitor } from "../../src/kernel/poll/index.js";
import { readMrCache } from "../helpers/kernel-view.js";
import { createLab } from "../helpers/lab.js";
import { addNetns, delNetns, ip, ipBatch, uniqueName } from "../helpers/netns.js";
import { sendMulticast, waitFor } from "../helpers/traffic.js";
import { cleanupAfterEach } from "../helpers/cleanup-after-each.js";

// ---- lab ------------------------------------------------------------------------------------

const cleanups = cleanupAfterEach();

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("kernel tests need root (network namespaces, raw sockets)");
});

/** A namespace with veth pairs a<i>/b<i> (all up); returns its file and the a<i> ifindexes. */
async function router(links: number): Promise<{ ns: string; file: string; idx: number[] }> {
  const ns = uniqueName("dump");
  await addNetns(ns);
  cleanups.push(() => delNetns(ns));
  const lines = ["link set lo up"];
  for (let i = 0; i < links; i++) lines.push(`link add a${i} type veth peer name b${i}`, `link set a${i} up`, `link set b${i} up`);
  await ipBatch(lines, ns);
  const shown = JSON.parse(await ip(["-j", "link", "show"], ns)) as { ifindex: number; ifname: string }[];
  const idx = [...Array(links).keys()].map((i) => shown.find((l) => l.ifname === `a${i}`)?.ifindex ?? -1);
  return { ns, file: `/run/netns/${ns}`, idx };
}

function openMroute(file: string, table?: number): MrouteSocket {
  const s = MrouteSocket.open({ netns: file, table });
  cleanups.push(() => s.close());
  return s;
}

function openDumper(file: string): MfcNetlinkDumper {
  const d = MfcNetlinkDumper.open(file);
  cleanups.push(() => d.close());
  return d;
}

const key = (e: { source: string; group: string }): string => `${e.source}|${e.group}`;

function byKey(entries: NetlinkMfcEntry[]): Map<string, NetlinkMfcEntry> {
  return new Map(entries.map((e) => [key(e), e]));
}

// ---- tables ---------------------------------------------------------------------------------

describe("tables", () => {
  it("each table's dump shows only its own entries; dumpMfc of each socket likewise", async () => {
    const { file, idx } = await router(3);
    const [a0 = -1, a1 = -1, a2 = -1] = idx;
    const main = openMroute(file);
    const t7 = openMroute(file, 7);
    const t8 = openMroute(file, 8);
    for (const s of [main, t7, t8]) idx.forEach((ifindex, vif) => s.addVif(vif, ifindex));
    main.addMfc("10.0.0.2", "239.1.1.1", 0, new Map([[1, 1]]));
    main.addMfc("10.0.0.3", "239.1.1.1", 0, new Map([[2, 1]]));
    // The same (S,G) in table 7 with a different route.
    t7.addMfc("10.0.0.2", "239.1.1.1", 2, new Map([[0, 9], [1, 10]]));
    t8.addMfc("10.0.0.8", "239.8.8.8", 1, new Map());

    const d = openDumper(file);
    const all = d.dump();
    expect(all.map((e) => `${e.table}:${key(e)}`).sort()).toEqual([
      "253:10.0.0.2|239.1.1.1",
      "253:10.0.0.3|239.1.1.1",
      "7:10.0.0.2|239.1.1.1",
      "8:10.0.0.8|239.8.8.8",
    ]);
    const t7Only = d.dump({ table: 7 });
    expect(t7Only).toHaveLength(1);
    expect(t7Only[0]).toMatchObject({ table: 7, source: "10.0.0.2", group: "239.1.1.1", iifIndex: a2, unresolved: false });
    expect(t7Only[0]?.oifs).toEqual(new Map([[a0, 9], [a1, 10]]));
    expect(d.dump({ table: RT_TABLE_DEFAULT }).map(key).sort()).toEqual(["10.0.0.2|239.1.1.1", "10.0.0.3|239.1.1.1"]);
    expect(d.dump({ table: 99 })).toEqual([]); // no such table

    expect([...main.dumpMfc().keys()].sort()).toEqual(["10.0.0.2|239.1.1.1", "10.0.0.3|239.1.1.1"]);
    expect(main.dumpMfc().get("10.0.0.2|239.1.1.1")).toMatchObject({ parent: 0, oifs: new Map([[1, 1]]) });
    expect([...t7.dumpMfc().values()]).toEqual([
      {
        source: "10.0.0.2",
        group: "239.1.1.1",
        parent: 2,
        oifs: new Map([[0, 9], [1, 10]]),
        counters: { packets: 0n, bytes: 0n, wrongIf: 0n },
      },
    ]);
    expect([...t8.dumpMfc().keys()]).toEqual(["10.0.0.8|239.8.8.8"]);

    // Closing table 7's owner empties that table only.
    t7.close();
    expect(d.dump({ table: 7 })).toEqual([]);
    expect(d.dump()).toHaveLength(3);
  });

  it("dumpMfc maps interfaces that are not this socket's VIFs to FOREIGN_VIF_BASE + ifindex", async () => {
    const { ns, file, idx } = await router(4);
    const [a0 = -1, a1 = -1, a2 = -1, a3 = -1] = idx;
    const s = openMroute(file);
    s.addVif(0, a0);
    s.addVif(1, a1);
    s.addVif(3, a3);
    // A static VIF from another socket (no MRT_INIT; needs CAP_NET_ADMIN) in slot 5.
    const other = inNetns(file, () => socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_IGMP));
    cleanups.push(() => close(other));
    expect(trySetsockopt(other, IPPROTO_IP, MRT_ADD_VIF, encodeVifctl(IPV4_STRUCTS, { vif: 5, ifindex: a2 }))).toBe(0);

    s.addMfc("10.0.0.2", "239.1.1.1", 0, new Map([[1, 1], [5, 7]]));
    s.addMfc("10.0.0.2", "239.1.1.2", 5, new Map([[0, 1]]));
    s.addMfc("10.0.0.2", "239.1.1.3", 3, new Map([[1, 2]]));
    let dump = s.dumpMfc();
    expect(dump.get("10.0.0.2|239.1.1.1")).toMatchObject({ parent: 0, oifs: new Map([[1, 1], [FOREIGN_VIF_BASE + a2, 7]]) });
    expect(dump.get("10.0.0.2|239.1.1.2")).toMatchObject({ parent: FOREIGN_VIF_BASE + a2, oifs: new Map([[0, 1]]) });
    expect(dump.get("10.0.0.2|239.1.1.3")).toMatchObject({ parent: 3, oifs: new Map([[1, 2]]) });

    // The input interface goes away: the kernel drops VIF 3 and then reports no iif at all
    // (/proc still prints the stale VIF number).
    await ip(["link", "del", "a3"], ns);
    dump = s.dumpMfc();
    expect(dump.get("10.0.0.2|239.1.1.3")).toMatchObject({ parent: FOREIGN_VIF_BASE, oifs: new Map([[1, 2]]) });
    const proc = parseIpMrCache(await readMrCache(ns)).find((e) => e.group === "239.1.1.3");
    expect(proc?.parent).toBe(3);

    // A deleted VIF disappears from the oifs; the entries keep its TTL slot, though, and show
    // it again as soon as the slot holds a VIF again (kernel-facts.md: VIF index reuse hazard).
    s.delVif(1);
    dump = s.dumpMfc();
    expect(dump.get("10.0.0.2|239.1.1.1")?.oifs).toEqual(new Map([[FOREIGN_VIF_BASE + a2, 7]]));
    expect(dump.get("10.0.0.2|239.1.1.3")?.oifs).toEqual(new Map());
    s.addVif(1, a1);
    dump = s.dumpMfc();
    expect(dump.get("10.0.0.2|239.1.1.1")?.oifs).toEqual(new Map([[1, 1], [FOREIGN_VIF_BASE + a2, 7]]));
    expect(dump.get("10.0.0.2|239.1.1.3")?.oifs).toEqual(new Map([[1, 2]]));
  });
});

// ---- size -----------------------------------------------------------------------------------

describe("size", () => {
  it("10k entries round-trip (dump, dumpMfc, /proc agree); deletes are seen", async () => {
    const { ns, file, idx } = await router(4);
    const s = openMroute(file);
    idx.forEach((ifindex, vif) => s.addVif(vif, ifindex));
    const expected = new Map<string, { parent: number; oifs: Map<number, number> }>();
    for (let i = 0; i < 10_000; i++) {
      const source = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const group = `239.${i % 7}.1.${i % 200}`;
      const parent = i % 4;
      const oifs = new Map([[(parent + 1) % 4, 1 + (i % 254)]]);
      if (i % 3 === 0) oifs.set((parent + 2) % 4, 200);
      s.addMfc(source, group, parent, oifs);
      expected.set(`${source}|${group}`, { parent, oifs });
    }
    const d = openDumper(file);
    const entries = d.dump({ table: RT_TABLE_DEFAULT });
    expect(entries).toHaveLength(10_000);
    const got = byKey(entries);
    for (const [k, want] of expected) {
      const e = got.get(k);
      expect(e?.iifIndex, k).toBe(idx[want.parent]);
      expect(e?.oifs, k).toEqual(new Map([...want.oifs].map(([vif, ttl]) => [idx[vif], ttl])));
    }
    const mapped = s.dumpMfc();
    expect(new Map([...mapped].map(([k, e]) => [k, { parent: e.parent, oifs: e.oifs }]))).toEqual(expected);
    const proc = new Map(parseIpMrCache(await readMrCache(ns)).map(({ unresolved: _, ...e }) => [key(e), e]));
    expect(mapped).toEqual(proc);

    expect(s.sgCountersAll().size).toBe(10_000);

    let deleted = 0;
    for (const k of expected.keys()) {
      if (deleted++ % 2 === 0) {
        const [source = "", group = ""] = k.split("|");
        s.delMfc(source, group);
        expected.delete(k);
      }
    }
    const after = s.dumpMfc();
    expect(after.size).toBe(5_000);
    expect([...after.keys()].sort()).toEqual([...expected.keys()].sort());

    // The bulk counter read, refilling the same table in place, knows exactly the entries left.
    const all = s.sgCountersAll();
    expect(all.size).toBe(5_000);
    for (const k of mapped.keys()) {
      const [source = "", group = ""] = k.split("|");
      expect(all.get(source, group), k).toEqual(expected.has(k) ? { packets: 0n, bytes: 0n, wrongIf: 0n } : undefined);
    }
  });
});

// ---- traffic --------------------------------------------------------------------------------

describe("with traffic", () => {
  it("counters equal SIOCGETSGCNT; unresolved entries are marked and skipped unless asked for", async () => {
    const lab = await createLab({ receivers: 2 });
    cleanups.push(() => lab.cleanup());
    const file = `/run/netns/${lab.router}`;
    const s = openMroute(file);
    const names = [lab.routerIfaces.in, ...lab.routerIfaces.outs];
    const idx = names.map((n) => s.ifindex(n) ?? -1);
    idx.forEach((ifindex, vif) => s.addVif(vif, ifindex));
    const events: RtnetlinkEvent[] = [];
    const mon = await RtnetlinkMonitor.start({ netns: file, onEvent: (e) => events.push(e) });
    cleanups.push(() => mon.close());

    const S = lab.addrs.source;
    s.addMfc(S, "239.10.0.1", 0, new Map([[1, 1], [2, 1]]));
    const sent = await sendMulticast(lab.source, {
      group: "239.10.0.1",
      port: 5000,
      ttl: 8,
      ifaceAddr: S,
      count: 20,
      intervalMs: 0,
      size: 100,
    });
    expect(sent.sent).toBe(20);
    await waitFor(() => s.sgCounters(S, "239.10.0.1")?.packets === 20n, {
      message: () => `counters ${String(s.sgCounters(S, "239.10.0.1")?.packets)}`,
    });
    const ioctl = s.sgCounters(S, "239.10.0.1");
    expect(ioctl).toEqual({ packets: 20n, bytes: 20n * 128n, wrongIf: 0n }); // 100 + UDP + IP headers
    const d = openDumper(file);
    const [entry] = d.dump({ table: RT_TABLE_DEFAULT });
    expect(entry && { packets: entry.packets, bytes: entry.bytes, wrongIf: entry.wrongIf }).toEqual(ioctl);
    expect(s.dumpMfc().get(`${S}|239.10.0.1`)?.counters).toEqual(ioctl);
    expect(s.sgCountersAll().get(S, "239.10.0.1")).toEqual(ioctl);

    // No entry for this group: a NOCACHE upcall leaves an unresolved entry behind.
    await sendMulticast(lab.source, { group: "239.10.0.2", port: 5000, ttl: 8, ifaceAddr: S, count: 2, intervalMs: 0 });
    const unresolved = await waitFor(() => d.dump({ includeUnresolved: true }).find((e) => e.group === "239.10.0.2"));
    if (!unresolved) throw new Error("unreachable: waitFor returns a found entry");
    expect(unresolved).toMatchObject({ source: S, table: RT_TABLE_DEFAULT, unresolved: true, iifIndex: 0, packets: 0n });
    expect(unresolved.oifs.size).toBe(0);
    expect(d.dump().map((e) => e.group)).toEqual(["239.10.0.1"]);
    expect([...s.dumpMfc().keys()]).toEqual([`${S}|239.10.0.1`]);
    expect(s.sgCountersAll().size).toBe(1);
    expect(s.sgCountersAll().get(S, "239.10.0.2")).toBeUndefined();
    expect(s.sgCounters(S, "239.10.0.2")).toBeUndefined();
    // The event comes through the poll thread: it may land after the dump already shows the entry.
    const upcallEvent = await waitFor(() => events.find((e) => e.kind === "mroute-new" && e.group === "239.10.0.2"));
    expect(upcallEvent).toMatchObject({ unresolved: true, iifIndex: 0 });

    // Resolving it: one RTM_NEWROUTE for the real entry; the queued packets are forwarded.
    const mark = events.length;
    s.addMfc(S, "239.10.0.2", 0, new Map([[1, 1]]));
    const resolved = await waitFor(() =>
      events.slice(mark).find((e): e is Extract<RtnetlinkEvent, { kind: "mroute-new" }> => e.kind === "mroute-new" && e.group === "239.10.0.2"),
    );
    expect(resolved).toMatchObject({ unresolved: false, iifIndex: idx[0] });
    expect(d.dump({ includeUnresolved: true }).filter((e) => e.group === "239.10.0.2")).toMatchObject([{ unresolved: false }]);
  });
});

describe("bulk counters (sgCountersAll)", () => {
  it("equal /proc/net/ip_mr_cache and SIOCGETSGCNT after real traffic, per entry and table", async () => {
    const lab = await createLab({ receivers: 2 });
    cleanups.push(() => lab.cleanup());
    const file = `/run/netns/${lab.router}`;
    const s = openMroute(file);
    const t9 = openMroute(file, 9);
    const names = [lab.routerIfaces.in, ...lab.routerIfaces.outs];
    names.forEach((n, vif) => s.addVif(vif, s.ifindex(n) ?? -1));
    t9.addVif(0, t9.ifindex(lab.routerIfaces.in) ?? -1);
    const S = lab.addrs.source;
    // Three entries with different traffic; one whose iif is wrong (counts wrong_if only);
    // one idle entry; the same (S,G) in table 9 (no traffic reaches table 9).
    s.addMfc(S, "239.11.0.1", 0, new Map([[1, 1]]));
    s.addMfc(S, "239.11.0.2", 0, new Map([[1, 1], [2, 1]]));
    s.addMfc(S, "239.11.0.3", 1, new Map([[2, 1]]));
    s.addMfc("10.99.0.1", "239.11.0.4", 0, new Map([[1, 1]]));
    t9.addMfc(S, "239.11.0.1", 0, new Map());
    const send = (group: string, count: number, size: number) =>
      sendMulticast(lab.source, { group, port: 5000, ttl: 8, ifaceAddr: S, count, intervalMs: 0, size });
    expect((await send("239.11.0.1", 7, 100)).sent).toBe(7);
    expect((await send("239.11.0.2", 13, 300)).sent).toBe(13);
    expect((await send("239.11.0.3", 5, 50)).sent).toBe(5);
    await waitFor(() => s.sgCounters(S, "239.11.0.3")?.wrongIf === 5n && s.sgCounters(S, "239.11.0.2")?.packets === 13n);

    const all = s.sgCountersAll();
    const proc = parseIpMrCache(await readMrCache(lab.router)).filter((e) => !e.unresolved);
    expect(proc).toHaveLength(4);
    expect(all.size).toBe(4);
    for (const e of proc) {
      expect(all.get(e.source, e.group), `${e.source},${e.group}`).toEqual(e.counters);
      expect(all.get(e.source, e.group)).toEqual(s.sgCounters(e.source, e.group));
    }
    expect(all.get(S, "239.11.0.1")).toEqual({ packets: 7n, bytes: 7n * 128n, wrongIf: 0n });
    expect(all.get(S, "239.11.0.3")).toMatchObject({ packets: 5n, wrongIf: 5n });
    expect(all.get("10.99.0.1", "239.11.0.4")).toEqual({ packets: 0n, bytes: 0n, wrongIf: 0n });
    expect(all.get(S, "239.11.0.9")).toBeUndefined();
    expect(all.get("not an address", "239.11.0.1")).toBeUndefined();
    // Table 9 holds only its own entry, without the default table's traffic.
    const other = t9.sgCountersAll();
    expect(other.size).toBe(1);
    expect(other.get(S, "239.11.0.1")).toEqual(t9.sgCounters(S, "239.11.0.1"));
    expect(other.get(S, "239.11.0.2")).toBeUndefined();
  });
});

// ---- framing and codec on crafted bytes -----------------------------------------------------

describe("codec", () => {
  function mfcMessage(family: number, attrs: [number, Buffer][], flags = 0): Buffer {
    const rtmsg = Buffer.alloc(12);
    rtmsg[0] = family;
    rtmsg[4] = 253;
    rtmsg[5] = 17;
    rtmsg.writeUInt32LE(flags, 8);
    const parts: Buffer[] = [rtmsg];
    for (const [type, payload] of attrs) {
      const hdr = Buffer.alloc(4);
      hdr.writeUInt16LE(4 + payload.length, 0);
      hdr.writeUInt16LE(type, 2);
      parts.push(hdr, payload, Buffer.alloc(((payload.length + 3) & ~3) - payload.length));
    }
    return Buffer.concat(parts);
  }

  function nexthop(ifindex: number, hops: number): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(8, 0);
    b[3] = hops;
    b.writeInt32LE(ifindex, 4);
    return b;
  }

  it("decodes an entry; the first of two oifs on one device wins; other families are ignored", () => {
    const u32 = (v: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v, 0);
      return b;
    };
    const msg = mfcMessage(128, [
      [15, u32(1234567)],
      [2, Buffer.from([10, 0, 0, 2])],
      [1, Buffer.from([239, 1, 2, 3])],
      [3, u32(7)],
      [9, Buffer.concat([nexthop(4, 1), nexthop(4, 9), nexthop(5, 254)])],
      [99, Buffer.from([1, 2, 3])], // unknown attribute: skipped
    ]);
    expect(decodeMfcMessage(msg, 0, msg.length)).toEqual({
      table: 1234567,
      source: "10.0.0.2",
      group: "239.1.2.3",
      iifIndex: 7,
      oifs: new Map([[4, 1], [5, 254]]),
      packets: 0n,
      bytes: 0n,
      wrongIf: 0n,
      unresolved: false,
      static: false,
    });
    expect(decodeMfcMessage(mfcMessage(2, []), 0, 12)).toBeUndefined();
    expect(decodeMfcMessage(msg, 0, 8)).toBeUndefined();
    const unres = mfcMessage(128, [], 0x20);
    expect(decodeMfcMessage(unres, 0, unres.length)).toMatchObject({ unresolved: true, table: 253 });
  });

  it("walks messages and stops at a malformed header", () => {
    const msg = (type: number, payload: number): Buffer => {
      const b = Buffer.alloc(16 + payload);
      b.writeUInt32LE(16 + payload, 0);
      b.writeUInt16LE(type, 4);
      b.writeUInt32LE(type * 10, 8);
      return b;
    };
    const bad = msg(3, 0);
    bad.writeUInt32LE(1000, 0); // claims more than is there
    const buf = Buffer.concat([msg(24, 6), Buffer.alloc(2), msg(25, 0), bad, msg(26, 0)]);
    const seen: [number, number, number, number][] = [];
    expect(forEachNetlinkMessage(buf, buf.length, (t, _f, seq, s, e) => void seen.push([t, seq, s, e]))).toBe(true);
    expect(seen).toEqual([
      [24, 240, 16, 22], // 22 bytes, then 2 bytes of alignment padding
      [25, 250, 40, 40],
    ]);
  });

  it("dump after close: EBADF; close is idempotent", () => {
    const d = MfcNetlinkDumper.open();
    d.close();
    d.close();
    expect(d.closed).toBe(true);
    expect(() => d.dump()).toThrow(expect.objectContaining({ code: "EBADF" }) as Error);
  });
});

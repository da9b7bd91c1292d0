// kernel-needs: ipv4
// RouteInspector against the real kernel: RTM_GETROUTE answers compared with `ip route get`,
// the address dump with `ip addr`, the reverse-path model's verdicts, and — end to end — those
// verdicts against what the kernel actually does to multicast arriving at a lab router (MFC
// counters for accepted packets, TcpExtIPReversePathFilter for dropped ones). Builds its own
// namespaces and removes them afterwards. Needs root.
import { beforeAll, describe, expect, it } from "vitest";
import { MrouteSocket } from "../../src/kernel/mroute/index.js";
import { readNetstat, rpFilter } from "../../src/kernel/system/index.js";
import {
  type RouteFound,
  RouteInspector,
  type RpfVerdictCode,
  isRouteError,
  localAddresses,
  reversePathOk,
  routeLookup,
} from "../../src/kernel/netlink/route-lookup.js";
import { createLab } from "../helpers/lab.js";
import { addNetns, delNetns, execIn, ip, ipBatch, uniqueName } from "../helpers/netns.js";
import { sendMulticast, waitFor } from "../helpers/traffic.js";
import { cleanupAfterEach } from "../helpers/cleanup-after-each.js";

const cleanups = cleanupAfterEach();

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("kernel tests need root (network namespaces, raw sockets)");
});

interface Net {
  name: string;
  file: string;
  idx: Record<string, number>;
}

/**
 * v0 10.9.0.1/24 and w0 10.8.0.1/24 (peers v1, w1 without addresses), plus
 *   blackhole 10.50/16, unreachable 10.51/16, prohibit 10.52/16,
 *   10.60/16 multipath via 10.9.0.2 (v0) and 10.8.0.2 (w0, weight 3),
 *   10.61/16 via 10.9.0.7, 10.62/16 dev v1 in table 100 (rule: to 10.62/16 lookup 100).
 */
async function net(): Promise<Net> {
  const name = uniqueName("rt");
  await addNetns(name);
  cleanups.push(() => delNetns(name));
  await ipBatch(
    [
      "link set lo up",
      "link add v0 type veth peer name v1",
      "link add w0 type veth peer name w1",
      "addr add 10.9.0.1/24 dev v0",
      "addr add 10.8.0.1/24 dev w0",
      "addr add 10.9.0.200/32 dev w0 label w0:1",
      ...["v0", "v1", "w0", "w1"].map((l) => `link set ${l} up`),
      "route add blackhole 10.50.0.0/16",
      "route add unreachable 10.51.0.0/16",
      "route add prohibit 10.52.0.0/16",
      "route add 10.60.0.0/16 nexthop via 10.9.0.2 dev v0 nexthop via 10.8.0.2 dev w0 weight 3",
      "route add 10.61.0.0/16 via 10.9.0.7",
      "route add 10.62.0.0/16 dev v1 table 100",
      "rule add to 10.62.0.0/16 lookup 100",
    ],
    name,
  );
  const links = JSON.parse(await ip(["-j", "link", "show"], name)) as { ifindex: number; ifname: string }[];
  return { name, file: `/run/netns/${name}`, idx: Object.fromEntries(links.map((l) => [l.ifname, l.ifindex])) };
}

interface IpRouteGet {
  type?: string;
  dev?: string;
  gateway?: string;
  prefsrc?: string;
}

async function ipRouteGet(ns: string, args: string[]): Promise<IpRouteGet> {
  const [r] = JSON.parse(await ip(["-j", "route", "get", ...args], ns)) as IpRouteGet[];
  if (!r) throw new Error(`no answer to ip route get ${args.join(" ")}`);
  return r;
}

describe("routeLookup", () => {
  it("answers like ip route get: unicast, gateway, local, other tables, and the error routes", async () => {
    const n = await net();
    const ri = RouteInspector.open(n.file);
    cleanups.push(() => ri.close());

    expect(ri.lookup({ destination: "10.9.0.5" })).toMatchObject({ type: "unicast", table: 254, oif: n.idx.v0, prefsrc: "10.9.0.1" });
    expect(ri.lookup({ destination: "10.61.1.1" })).toMatchObject({ type: "unicast", oif: n.idx.v0, gateway: "10.9.0.7" });
    expect(ri.lookup({ destination: "10.9.0.1" })).toMatchObject({ type: "local", table: 255 });
    expect(ri.lookup({ destination: "10.62.0.1" })).toMatchObject({ type: "unicast", table: 100, oif: n.idx.v1 });
    // The kernel answers error routes with an errno; an output lookup maps it back to the type.
    expect(ri.lookup({ destination: "10.50.0.1" })).toEqual({ type: "blackhole", errno: "EINVAL" });
    expect(ri.lookup({ destination: "10.51.0.1" })).toEqual({ type: "unreachable", errno: "EHOSTUNREACH" });
    expect(ri.lookup({ destination: "10.52.0.1" })).toEqual({ type: "prohibit", errno: "EACCES" });
    const none = ri.lookup({ destination: "10.53.0.1" });
    expect(none).toMatchObject({ error: "ENETUNREACH" });
    expect(isRouteError(none)).toBe(true);

    // Cross-check oif / gateway / prefsrc of the routes ip can show.
    const names = Object.fromEntries(Object.entries(n.idx).map(([k, v]) => [v, k]));
    for (const d of ["10.9.0.5", "10.61.1.1", "10.62.0.1", "10.60.1.1", "10.8.0.9"]) {
      const mine = ri.lookup({ destination: d }) as RouteFound;
      const theirs = await ipRouteGet(n.name, [d]);
      expect({ dev: names[mine.oif!], gateway: mine.gateway, prefsrc: mine.prefsrc }).toEqual({
        dev: theirs.dev,
        gateway: theirs.gateway,
        prefsrc: theirs.prefsrc,
      });
    }

    // One-shot form, and malformed input.
    expect(routeLookup({ destination: "10.9.0.5" }, n.file)).toMatchObject({ oif: n.idx.v0 });
    expect(() => ri.lookup({ destination: "10.9.0" })).toThrow();
    expect(() => ri.lookup({ destination: "10.9.0.5", iif: 0 })).toThrow(RangeError);
  });

  it("fibMatch reports the matched prefix and every nexthop of a multipath route", async () => {
    const n = await net();
    const ri = RouteInspector.open(n.file);
    cleanups.push(() => ri.close());
    expect(ri.lookup({ destination: "10.60.1.1", fibMatch: true })).toMatchObject({
      type: "unicast",
      dst: "10.60.0.0",
      dstLen: 16,
      nexthops: [
        { oif: n.idx.v0, gateway: "10.9.0.2", weight: 1 },
        { oif: n.idx.w0, gateway: "10.8.0.2", weight: 3 },
      ],
    });
    expect(ri.lookup({ destination: "10.9.0.5", fibMatch: true })).toMatchObject({ dst: "10.9.0.0", dstLen: 24, oif: n.idx.v0 });
  });

  it("iif simulates a received packet (input route), as ip route get ... iif", async () => {
    const n = await net();
    const ri = RouteInspector.open(n.file);
    cleanups.push(() => ri.close());
    await execIn(n.name, ["sysctl", "-q", "-w", "net.ipv4.conf.all.forwarding=1"]);
    const r = ri.lookup({ destination: "10.8.0.9", source: "10.9.0.7", iif: n.idx.v0! });
    expect(r).toMatchObject({ type: "unicast", oif: n.idx.w0 });
    const theirs = await ipRouteGet(n.name, ["10.8.0.9", "from", "10.9.0.7", "iif", "v0"]);
    expect(theirs.dev).toBe("w0");
    // Not forwarding: the kernel refuses the input route.
    await execIn(n.name, ["sysctl", "-q", "-w", "net.ipv4.conf.all.forwarding=0"]);
    expect(ri.lookup({ destination: "10.8.0.9", source: "10.9.0.7", iif: n.idx.v0! })).toMatchObject({ error: "EHOSTUNREACH" });
  });
});

describe("localAddresses", () => {
  it("matches ip -4 addr show", async () => {
    const n = await net();
    const shown = JSON.parse(await ip(["-j", "-4", "addr", "show"], n.name)) as {
      ifindex: number;
      addr_info: { local: string; prefixlen: number; label: string }[];
    }[];
    const expected = shown.flatMap((l) =>
      l.addr_info.map((a) => ({ ifindex: l.ifindex, address: a.local, prefixlen: a.prefixlen, label: a.label })),
    );
    const mine = localAddresses(n.file).map(({ scope: _, ...a }) => a);
    expect(mine).toEqual(expected);
    expect(mine.map((a) => a.address).sort()).toEqual(["10.8.0.1", "10.9.0.1", "10.9.0.200", "127.0.0.1"]);
  });
});

describe("reverse path verdicts", () => {
  it("match, strict / loose, no route, martian source, arrival interface without address, multipath", async () => {
    const n = await net();
    const ri = RouteInspector.open(n.file);
    cleanups.push(() => ri.close());
    const { v0, v1, w0 } = n.idx as { v0: number; v1: number; w0: number };
    const verdict = (src: string, iif: number, mode: number) => {
      const { ok, code, counted } = ri.reversePath(src, iif, mode);
      return { ok, code, counted };
    };
    expect(verdict("10.9.0.7", v0, 1)).toEqual({ ok: true, code: "match", counted: false });
    expect(verdict("10.9.0.7", w0, 1)).toEqual({ ok: false, code: "wrong-iif", counted: true });
    expect(verdict("10.9.0.7", w0, 2)).toEqual({ ok: true, code: "loose", counted: false });
    expect(verdict("10.9.0.7", w0, 0)).toEqual({ ok: true, code: "rpf-off", counted: false });
    // Any nexthop of a multipath route counts as the route back.
    expect(verdict("10.60.1.1", w0, 1)).toEqual({ ok: true, code: "match", counted: false });
    expect(verdict("10.60.1.1", v0, 1)).toEqual({ ok: true, code: "match", counted: false });
    for (const src of ["10.50.0.1", "10.51.0.1", "10.52.0.1", "10.53.0.1"]) {
      expect(verdict(src, v0, 2)).toEqual({ ok: false, code: "no-route", counted: true });
      expect(verdict(src, v0, 0)).toEqual({ ok: true, code: "rpf-off", counted: false });
    }
    for (const mode of [0, 1, 2]) {
      expect(verdict("10.9.0.1", v0, mode)).toEqual({ ok: false, code: "local-source", counted: false });
      expect(verdict("10.9.0.200", v0, mode)).toEqual({ ok: false, code: "local-source", counted: false });
    }
    expect(ri.reversePath("10.9.0.1", v0, 1, { acceptLocal: true }).ok).toBe(true);
    // v1 has no IPv4 address: even loose mode needs the route back to use it.
    expect(verdict("10.9.0.7", v1, 2)).toEqual({ ok: false, code: "iif-no-address", counted: true });
    expect(verdict("10.62.0.1", v1, 1)).toEqual({ ok: true, code: "match", counted: false });
    expect(reversePathOk("10.9.0.7", w0, 1, { netns: n.file })).toMatchObject({
      ok: false,
      route: { type: "unicast", oif: v0 },
    });
  });

  it("agree with the kernel: accepted packets reach the MFC, refused ones count as TcpExtIPReversePathFilter", async () => {
    const lab = await createLab({ receivers: 1, rpFilter: 1 });
    cleanups.push(() => lab.cleanup());
    const file = `/run/netns/${lab.router}`;
    const S = lab.addrs.source;
    const G = "239.5.0.1";
    const s = MrouteSocket.open({ netns: file });
    cleanups.push(() => s.close());
    const in0 = s.ifindex("in0")!;
    s.addVif(0, in0);
    s.addVif(1, s.ifindex("out1")!);
    s.addMfc(S, G, 0, new Map([[1, 1]]));
    const ri = RouteInspector.open(file);
    cleanups.push(() => ri.close());

    /** Sends 3 packets; waits until the kernel has accounted for all of them one way or the other. */
    const check = async (mode: number, code: RpfVerdictCode): Promise<void> => {
      expect(rpFilter("in0", { netns: file })!.effective).toBe(mode);
      const verdict = ri.reversePath(S, in0, mode);
      expect(verdict.code, verdict.reason).toBe(code);
      const pkts = s.sgCounters(S, G)!.packets;
      const before = readNetstat({ netns: file });
      await sendMulticast(lab.source, { group: G, port: 5000, ttl: 8, ifaceAddr: S, count: 3, intervalMs: 5 });
      if (verdict.ok) {
        await waitFor(() => s.sgCounters(S, G)!.packets >= pkts + 3n, { timeoutMs: 20_000 });
        expect(readNetstat({ netns: file }).TcpExtIPReversePathFilter).toBe(before.TcpExtIPReversePathFilter);
      } else {
        const rpf = before.TcpExtIPReversePathFilter!;
        await waitFor(() => readNetstat({ netns: file }).TcpExtIPReversePathFilter! >= rpf + 3, { timeoutMs: 20_000 });
        expect(verdict.counted).toBe(true);
        expect(s.sgCounters(S, G)!.packets).toBe(pkts);
        expect(readNetstat({ netns: file }).IpExtInMcastPkts).toBe(before.IpExtInMcastPkts);
      }
    };

    await check(1, "match"); // strict, route back via in0
    await ip(["route", "add", `${S}/32`, "via", lab.addrs.receivers[0]!, "dev", "out1"], lab.router);
    await check(1, "wrong-iif"); // strict, route back via out1
    // effective = max(all, in0): raising only `all` is enough.
    await execIn(lab.router, ["sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=2"]);
    await check(2, "loose");
    await ip(["addr", "flush", "dev", "in0"], lab.router);
    await check(2, "iif-no-address"); // loose, but in0 has no IPv4 address
    await ip(["route", "replace", "blackhole", `${S}/32`], lab.router);
    await ip(["addr", "add", `${lab.addrs.routerIn}/24`, "dev", "in0"], lab.router);
    await check(2, "no-route"); // loose, the route back is a blackhole
    await execIn(lab.router, ["sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.in0.rp_filter=0"]);
    await check(0, "rpf-off");
  });
});

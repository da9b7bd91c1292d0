// kernel-needs: ipv4 tables nft
// End-to-end: Diagnose names the one fault that is really there, from kernel evidence gathered
// while real multicast streams through the lab.
//
//   src (eth0 10.k.0.2 [+ 10.99.0.100/32]) —in0— router (mfcd) —out1— rcv1
//                                                              —out2— rcv2
//                                                              —x1—   xtra (p1 10.k.129.2)
//
// Each test injects ONE cause and asserts that its finding is present and that no other
// error or warning is reported (a fault that is not there must not be named). Traffic is sent
// during the Diagnose window: either a steady stream started before the call, or — where the
// finding must quote an exact count — a counted burst sent once mfcd's TTL probe table (which
// lives exactly for the window) is in place, so the burst falls inside the window by
// construction, not by timing.
//
// One lab and one daemon for the file; every test uses its own groups, restores what it broke
// (links, sysctls) in `finally`, and leaves no route behind (afterEach).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Severity, type DiagnoseRequest, type DiagnoseResponse, type Finding } from "../../src/gen/mfc.js";
import { MfcError, RouteState, Status } from "../../src/sdk/index.js";
import { parseIpMrCache } from "../../src/kernel/mroute/index.js";
import { netstat, readMrCache } from "../helpers/kernel-view.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { deleteAllRoutes, kernelRoute, startMfcd, StopList, type MfcdProcess } from "../helpers/mfcd-process.js";
import { execIn, ip } from "../helpers/netns.js";
import { bound } from "../helpers/time-bounds.js";
import { sendMulticast, startStream, waitFor, type Stream } from "../helpers/traffic.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT, nft)");

const PORT = 5000;
/** Diagnose window while a stream (started before the call) runs. */
const WINDOW_MS = 1500;
/**
 * Diagnose window that must contain a counted burst (diagnoseAround): the test polls for the
 * probe table, starts a sender process and checks the table is still there, which takes seconds
 * where processes start slowly. A bound (time-bounds.ts), capped at Diagnose's 30 s maximum.
 */
const BURST_WINDOW_MS = Math.min(bound(1500), 30_000);
/** A sender address the router has no route back to. */
const CAMERA = "10.99.0.100";
const N = 20;

let lab: Lab;
let mfcd: MfcdProcess;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 2, extraRouterLinks: 1 });
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
const peer = () => lab.addrs.extraPeers[0]!;

async function addRoute(source: string, group: string, iif = "in0", oifs = ["out1"]) {
  const { route } = await mfcd.client.addRoute({ route: { source, group, iif, oifs } });
  return route;
}

/** A steady stream (one datagram every 10 ms) from the source namespace, stopped after the test. */
async function stream(group: string, opts: { ttl?: number; from?: string; ns?: string } = {}): Promise<Stream> {
  return stops.add(
    await startStream(opts.ns ?? lab.source, {
      group,
      port: PORT,
      ttl: opts.ttl ?? 8,
      ifaceAddr: opts.from ?? src(),
      intervalMs: 10,
      size: 64,
      durationMs: bound(30_000),
    }),
  );
}

async function burst(group: string, opts: { ttl: number; from: string }): Promise<void> {
  const res = await sendMulticast(lab.source, { group, port: PORT, ttl: opts.ttl, ifaceAddr: opts.from, count: N, intervalMs: 1 });
  expect(res).toMatchObject({ sent: N, errors: 0 });
}

function diagnose(source: string, group: string, extra: Partial<DiagnoseRequest> = {}): Promise<DiagnoseResponse> {
  return mfcd.client.diagnose({ source, group, windowMs: WINDOW_MS, ...extra });
}

/** Names of every nftables table in the router namespace. */
async function routerTables(): Promise<string[]> {
  const doc = JSON.parse(await execIn(lab.router, ["nft", "-j", "list", "tables"])) as { nftables: Record<string, unknown>[] };
  return doc.nftables.flatMap((o) => {
    const t = o.table as { name?: string } | undefined;
    return t?.name === undefined ? [] : [t.name];
  });
}
const isProbeTable = (name: string) => /^mfcd_probe_\d+_\d+$/.test(name);

/**
 * Diagnose with `during` run inside the window: mfcd installs its TTL probe table right after it
 * took the "before" readings and deletes it once the window is over, so whatever `during` sends
 * between the table's appearance and `during` returning (while the table still exists) is
 * counted by every probe of the window.
 */
async function diagnoseAround(req: Partial<DiagnoseRequest>, during: () => Promise<void>): Promise<DiagnoseResponse> {
  expect((await routerTables()).filter(isProbeTable)).toEqual([]);
  const call = mfcd.client.diagnose(req);
  call.catch(() => undefined);
  await waitFor(async () => (await routerTables()).some(isProbeTable), { message: "mfcd's TTL probe table never appeared" });
  await during();
  // Still inside the window (the table lives exactly as long as it), or the counts are not comparable.
  expect((await routerTables()).some(isProbeTable), "the burst outlasted the Diagnose window").toBe(true);
  return call;
}

/** `code` is reported, every finding is in the text, and no other error/warning appears. */
function expectOnly(res: DiagnoseResponse, code: string, opts: { severity?: Severity } = {}): Finding {
  const codes = res.findings.map((f) => f.code);
  expect(codes, res.text).toContain(code);
  const found = res.findings.find((f) => f.code === code)!;
  if (opts.severity !== undefined) expect(found.severity, res.text).toBe(opts.severity);
  const others = res.findings.filter((f) => f.code !== code && f.severity !== Severity.SEVERITY_INFO).map((f) => f.code);
  expect(others, `unexpected findings besides ${code}:\n${res.text}`).toEqual([]);
  for (const f of res.findings) expect(res.text).toContain(f.code);
  return found;
}

function evidence(f: Finding, name: string): string | undefined {
  return f.evidence.find((e) => e.name === name)?.value;
}

async function sysctl(...settings: string[]): Promise<void> {
  await execIn(lab.router, ["sysctl", "-q", "-w", ...settings]);
}

describe("Diagnose (real kernel, real traffic)", () => {
  it("a healthy flow: only FORWARDING_OK (info), with the oif's packets", async () => {
    const G = "239.81.1.1";
    await addRoute(src(), G);
    await stream(G);
    const res = await diagnose(src(), G);
    expect(res.findings.map((f) => f.code), res.text).toEqual(["FORWARDING_OK"]);
    const ok = res.findings[0]!;
    expect(ok.severity).toBe(Severity.SEVERITY_INFO);
    const out = Number(/out on out1 \+(\d+)/.exec(ok.explanation)?.[1]);
    expect(out, ok.explanation).toBeGreaterThan(0);
    expect(res).toMatchObject({ source: src(), group: G, iif: "in0", windowMs: WINDOW_MS });
    expect(res.text).toContain("FORWARDING_OK");
  });

  it("no route while traffic arrives: NO_ROUTE naming the arrival interface (NOCACHE upcalls)", async () => {
    const G = "239.81.2.1";
    // in0 must be a VIF for the kernel to send NOCACHE upcalls: another flow's route gives it one.
    await addRoute(src(), "239.81.2.99", "in0", ["out2"]);
    await stream(G);
    // The kernel has sent its NOCACHE upcall once the unresolved entry exists (one upcall per
    // unresolved (S,G), which then lives ~10 s): from here on the stream just keeps arriving.
    await waitFor(async () => (await kernelRoutesAll()).some((e) => e.source === src() && e.group === G && e.unresolved), {
      message: "no unresolved kernel entry for the stream",
    });
    const res = await diagnose(src(), G);
    const f = expectOnly(res, "NO_ROUTE", { severity: Severity.SEVERITY_ERROR });
    expect(f.explanation, res.text).toMatch(/arrives on in0 \(\d+\)/);
    expect(f.fix).toContain("iif: in0");
  });

  it("table 7 (traffic steered there by an mrule): NO_ROUTE from that table's own NOCACHE upcalls", async () => {
    const G = "239.81.2.7";
    // in0 gets a VIF in table 7 through another flow's route; in0's multicast goes to table 7.
    await mfcd.client.addRoute({ route: { source: src(), group: "239.81.2.97", iif: "in0", oifs: ["out2"], table: 7 } });
    await ip(["mrule", "add", "iif", "in0", "lookup", "7"], lab.router);
    try {
      await stream(G);
      // One NOCACHE upcall per unresolved (S,G), read on table 7's socket. Diagnose of table 0
      // must not see it (VIF numbers are per table), Diagnose of table 7 must.
      let res: DiagnoseResponse | undefined;
      await waitFor(
        async () => {
          res = await diagnose(src(), G, { table: 7 });
          return res.findings.some((f) => f.code === "NO_ROUTE" && /arrives on in0/.test(f.explanation));
        },
        { timeoutMs: 20_000, message: () => `Diagnose of table 7 never saw the flow arrive:\n${res?.text ?? ""}` },
      );
      const f = expectOnly(res!, "NO_ROUTE", { severity: Severity.SEVERITY_ERROR });
      expect(f.explanation, res!.text).toMatch(/arrives on in0 \(\d+\)/);
      // Table 0 has no route either, but saw nothing arrive.
      const inTable0 = await diagnose(src(), G);
      expect(inTable0.text).toContain("NO_ROUTE");
      expect(inTable0.text).not.toMatch(/arrives on/);
    } finally {
      await ip(["mrule", "del", "iif", "in0", "lookup", "7"], lab.router).catch(() => undefined);
      await mfcd.client.delRoute({ source: src(), group: "239.81.2.97", table: 7 }).catch(() => undefined);
    }
  });

  it("rp_filter=1 and an unroutable source: RP_FILTER_DROP with the exact TcpExtIPReversePathFilter delta", async () => {
    const G = "239.81.3.1";
    await addRoute(CAMERA, G);
    await sysctl("net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.in0.rp_filter=1");
    try {
      const before = await netstat(lab.router, "TcpExtIPReversePathFilter");
      const res = await diagnoseAround({ source: CAMERA, group: G, windowMs: BURST_WINDOW_MS }, () => burst(G, { ttl: 8, from: CAMERA }));
      const delta = (await netstat(lab.router, "TcpExtIPReversePathFilter")) - before;
      const f = expectOnly(res, "RP_FILTER_DROP", { severity: Severity.SEVERITY_ERROR });
      const said = Number(/^(\d+) packets dropped by rp_filter=1 on in0/.exec(f.explanation)?.[1]);
      expect(delta).toBe(N);
      expect(said, f.explanation).toBe(delta);
      expect(evidence(f, "TcpExtIPReversePathFilter delta")).toBe(String(delta));
      expect(evidence(f, "mfc packets delta")).toBe("0");
      expect(f.explanation).toContain(`no route back to ${CAMERA} via in0`);
    } finally {
      await sysctl("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.in0.rp_filter=0");
    }
  });

  it("a TTL-1 sender: TTL_TOO_LOW with the counts nft observed", async () => {
    const G = "239.81.4.1";
    await addRoute(src(), G);
    const before = (await kernelRoute(lab.router, src(), G))?.counters.packets ?? 0n;
    const res = await diagnoseAround({ source: src(), group: G, windowMs: BURST_WINDOW_MS }, () => burst(G, { ttl: 1, from: src() }));
    const mfcDelta = Number(((await kernelRoute(lab.router, src(), G))?.counters.packets ?? 0n) - before);
    const f = expectOnly(res, "TTL_TOO_LOW", { severity: Severity.SEVERITY_ERROR });
    expect(evidence(f, "nft counter ttl<=1")).toBe(String(N));
    expect(evidence(f, "nft counter ttl>1")).toBe("0");
    expect(evidence(f, "mfc packets delta")).toBe(String(mfcDelta));
    expect(mfcDelta).toBe(N); // the kernel counts them on the entry but forwards none
    expect(evidence(f, "vif out1 out delta")).toBe("0");
    expect(f.explanation).toMatch(new RegExp(`^${N} packets of .* arrived on in0 .* with TTL ≤ 1 \\(0 with TTL > 1\\)`));
  });

  it("traffic on another interface that has a VIF: WRONG_IIF", async () => {
    const G = "239.81.5.1";
    await addRoute(peer(), G, "in0", ["out1"]);
    // x1 gets a VIF through another route, so the kernel hands its traffic to the MFC.
    await addRoute(peer(), "239.81.5.99", "x1", ["out2"]);
    await stream(G, { ns: lab.extraPeer!, from: peer() });
    const res = await diagnose(peer(), G);
    const f = expectOnly(res, "WRONG_IIF", { severity: Severity.SEVERITY_ERROR });
    expect(f.explanation).toContain("the route expects in0");
    expect(Number(evidence(f, "mfc wrong_if delta"))).toBeGreaterThan(0);
  });

  it("a link-local group (224.0.0.x): LINK_LOCAL_GROUP", async () => {
    const G = "224.0.0.77";
    await stream(G);
    const res = await diagnose(src(), G);
    const f = expectOnly(res, "LINK_LOCAL_GROUP", { severity: Severity.SEVERITY_ERROR });
    expect(f.explanation).toContain("224.0.0.0/24");
  });

  it("iif administratively down: IIF_DOWN", async () => {
    const G = "239.81.6.1";
    await addRoute(src(), G);
    await stream(G);
    await ip(["link", "set", "in0", "down"], lab.router);
    try {
      const res = await diagnose(src(), G);
      expect(expectOnly(res, "IIF_DOWN", { severity: Severity.SEVERITY_ERROR }).explanation).toContain("in0");
    } finally {
      await ip(["link", "set", "in0", "up"], lab.router);
    }
  });

  it("oif administratively down: OIF_DOWN", async () => {
    const G = "239.81.7.1";
    await addRoute(src(), G);
    await stream(G);
    await ip(["link", "set", "out1", "down"], lab.router);
    try {
      const res = await diagnose(src(), G);
      expect(expectOnly(res, "OIF_DOWN", { severity: Severity.SEVERITY_ERROR }).explanation).toContain("out1");
    } finally {
      await ip(["link", "set", "out1", "up"], lab.router);
    }
  });

  it("oif up without carrier (its veth peer is down): OIF_NO_CARRIER", async () => {
    const G = "239.81.8.1";
    await addRoute(src(), G);
    await stream(G);
    const rcv1 = lab.receivers[0]!;
    await ip(["link", "set", "eth0", "down"], rcv1);
    try {
      await waitFor(async () => (await ip(["-o", "link", "show", "out1"], lab.router)).includes("NO-CARRIER"));
      const res = await diagnose(src(), G);
      expect(expectOnly(res, "OIF_NO_CARRIER", { severity: Severity.SEVERITY_ERROR }).explanation).toContain("out1");
    } finally {
      await ip(["link", "set", "eth0", "up"], rcv1);
      await ip(["route", "replace", "default", "via", lab.addrs.routerOuts[0]!, "dev", "eth0"], rcv1);
    }
  });

  it("oif without the MULTICAST flag: OIF_NO_MULTICAST", async () => {
    const G = "239.81.9.1";
    await addRoute(src(), G);
    await stream(G);
    await ip(["link", "set", "out1", "multicast", "off"], lab.router);
    try {
      const res = await diagnose(src(), G);
      expect(expectOnly(res, "OIF_NO_MULTICAST", { severity: Severity.SEVERITY_WARNING }).explanation).toContain("out1");
    } finally {
      await ip(["link", "set", "out1", "multicast", "on"], lab.router);
    }
  });

  it("a PENDING route (its iif does not exist): ROUTE_PENDING", async () => {
    const G = "239.81.10.1";
    const route = await addRoute(src(), G, "nosuch0", ["out1"]);
    expect(route?.state).toBe(RouteState.ROUTE_STATE_PENDING);
    await stream(G);
    const res = await diagnose(src(), G);
    const f = expectOnly(res, "ROUTE_PENDING", { severity: Severity.SEVERITY_ERROR });
    expect(evidence(f, "missing interfaces")).toBe("nosuch0");
    expect(res.iif).toBe("nosuch0");
  });

  it("an invalid window_ms is INVALID_ARGUMENT naming window_ms", async () => {
    for (const windowMs of [50, 30_001]) {
      const err = await diagnose(src(), "239.81.11.1", { windowMs }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MfcError);
      const e = err as MfcError;
      expect(e.code).toBe(Status.INVALID_ARGUMENT);
      expect(e.fieldViolations.map((v) => v.field)).toEqual(["window_ms"]);
      expect(e.fieldViolations[0]!.description).toContain(String(windowMs));
    }
  });
});

describe("Diagnose: the iif's link flags, WRONGVIF upcalls, the default window", () => {
  it("iif up without carrier (the sender's end of the veth is down): IIF_NO_CARRIER", async () => {
    const G = "239.81.12.1";
    await addRoute(src(), G);
    await ip(["link", "set", "eth0", "down"], lab.source);
    try {
      await waitFor(async () => (await ip(["-o", "link", "show", "in0"], lab.router)).includes("NO-CARRIER"));
      const res = await diagnose(src(), G);
      const f = expectOnly(res, "IIF_NO_CARRIER", { severity: Severity.SEVERITY_ERROR });
      expect(f.explanation).toContain("iif in0");
      expect(evidence(f, "link in0")).toContain("no carrier");
    } finally {
      await ip(["link", "set", "eth0", "up"], lab.source);
      await ip(["route", "replace", "default", "via", lab.addrs.routerIn, "dev", "eth0"], lab.source);
    }
  });

  it("iif without the MULTICAST flag: IIF_NO_MULTICAST", async () => {
    const G = "239.81.13.1";
    await addRoute(src(), G);
    await stream(G);
    await ip(["link", "set", "in0", "multicast", "off"], lab.router);
    try {
      const res = await diagnose(src(), G);
      const f = expectOnly(res, "IIF_NO_MULTICAST", { severity: Severity.SEVERITY_WARNING });
      expect(f.explanation).toContain("iif in0");
    } finally {
      await ip(["link", "set", "in0", "multicast", "on"], lab.router);
    }
  });

  it("traffic arriving on one of the route's oifs: WRONG_IIF names that interface from the kernel's WRONGVIF upcall", async () => {
    const G = "239.81.14.1";
    // x1 is an oif of the route, so the kernel (MRT_ASSERT on) reports the wrong arrival as a
    // WRONGVIF upcall naming x1's VIF; the route is new, so its first wrong packet is reported.
    await addRoute(peer(), G, "in0", ["out1", "x1"]);
    const res = await diagnoseAround({ source: peer(), group: G, windowMs: BURST_WINDOW_MS }, async () => {
      const sent = await sendMulticast(lab.extraPeer!, { group: G, port: PORT, ttl: 8, ifaceAddr: peer(), count: N, intervalMs: 1 });
      expect(sent).toMatchObject({ sent: N, errors: 0 });
    });
    const f = expectOnly(res, "WRONG_IIF", { severity: Severity.SEVERITY_ERROR });
    expect(f.explanation, res.text).toMatch(/arrives on x1 \(\d+\), but the route expects in0/);
    expect(Number(evidence(f, "upcalls WRONGVIF"))).toBeGreaterThan(0);
    expect(evidence(f, "mfc wrong_if delta")).toBe(String(N));
  });

  it("window_ms left out: the default window of 2 s", async () => {
    const G = "239.81.15.1";
    await addRoute(src(), G);
    await stream(G);
    const res = await mfcd.client.diagnose({ source: src(), group: G });
    expect(res.windowMs).toBe(2000);
    expect(res.findings.map((f) => f.code), res.text).toEqual(["FORWARDING_OK"]);
    expect(res.findings[0]!.explanation).toContain(" in 2.0 s, ");
  });
});

describe("Diagnose with templates: 'no route' means no route and no template matches", () => {
  /** Runs `fn` with the template (*, group) in0 → out1 in place, and deletes it afterwards. */
  async function withTemplate(group: string, iif: string, fn: () => Promise<void>): Promise<void> {
    await mfcd.client.addRoute({ route: { source: "", group, iif, oifs: ["out1"] } });
    try {
      await fn();
    } finally {
      await stops.stopAll();
      await mfcd.client.delRoute({ source: "", group, iif });
    }
  }

  it("a flow learned from a template is routed: FORWARDING_OK only (no NO_ROUTE, no FOREIGN_ENTRY)", async () => {
    const G = "239.81.16.1";
    await withTemplate(G, "in0", async () => {
      await stream(G);
      await waitFor(async () => (await kernelRoutesAll()).some((e) => e.source === src() && e.group === G && e.oifs.size === 1), {
        message: "the flow was never learned from the template",
      });
      const res = await diagnose(src(), G);
      expect(res.findings.map((f) => f.code), res.text).toEqual(["FORWARDING_OK"]);
      expect(res.iif).toBe("in0");
      expect(res.findings[0]!.explanation).toMatch(/out on out1 \+\d+/);
      expect(res.findings[0]!.explanation).toContain("template (*, 239.81.16.1) from in0");
    });
  });

  it("a template that would match, but no packet yet: NO_TRAFFIC, not NO_ROUTE", async () => {
    const G = "239.81.17.1";
    await withTemplate(G, "in0", async () => {
      const res = await diagnose(src(), G);
      expectOnly(res, "NO_TRAFFIC", { severity: Severity.SEVERITY_WARNING });
      expect(res.iif).toBe("in0");
    });
  });

  it("traffic no template matches on its iif (mfcd's stop filter): NO_ROUTE naming in0, no FOREIGN_ENTRY", async () => {
    const G = "239.81.18.1";
    // The template only allows x1: (src, G) arriving on in0 gets a stop filter (no oifs).
    await withTemplate(G, "x1", async () => {
      await addRoute(src(), "239.81.18.99", "in0", ["out2"]); // in0 needs a VIF for the upcall
      await stream(G);
      await waitFor(async () => (await kernelRoutesAll()).some((e) => e.source === src() && e.group === G && !e.unresolved && e.oifs.size === 0), {
        message: "no stop filter for the stream",
      });
      const res = await diagnose(src(), G);
      const f = expectOnly(res, "NO_ROUTE", { severity: Severity.SEVERITY_ERROR });
      expect(f.explanation, res.text).toMatch(/arrives on in0/);
      expect(f.explanation).toContain("no route or template matches");
      expect(f.explanation).toContain("stop filter");
      expect(evidence(f, "stop filter (no oifs) on")).toBe("in0");
      expect(f.fix).toContain("iif: in0");
    });
  });
});

/** Every row of /proc/net/ip_mr_cache in the router, unresolved upcall queues included. */
async function kernelRoutesAll() {
  return parseIpMrCache(await readMrCache(lab.router));
}

import { describe, expect, it } from "vitest";
import type { RouteView, VifView } from "../../src/engine/route-engine.js";
import { renderMetrics, RpcStats } from "../../src/server/metrics/index.js";
import { PrometheusText } from "../../src/server/metrics/prometheus-text.js";

const counters = (packets: bigint, bytes = packets * 100n, wrongIf = 0n) => ({ packets, bytes, wrongIf });
const route = (over: Partial<RouteView> & { source: string; group: string }): RouteView => ({
  spec: { family: "ipv4", table: 0, source: over.source, group: over.group, iif: "eth0", oifs: ["eth1"] },
  owner: "api",
  state: "installed",
  reason: "",
  counters: counters(0n),
  missing: [],
  down: [],
  driftRepairs: 0,
  lastDrift: "",
  ...over,
});
const vif: VifView = {
  family: "ipv4", table: 0, vif: 0, name: "eth0", ifindex: 2, refs: 1, up: true, running: true,
  counters: { inPackets: 5n, inBytes: 500n, outPackets: 0n, outBytes: 0n },
};

function input(routes: RouteView[], includeLearned = false) {
  return { routes, vifs: [vif], foreignEntries: 2, upcalls: [{ family: "ipv4", type: "nocache", count: 7 }], learnFailures: 3, rpc: new RpcStats(), includeLearned };
}

/** sample lines → map "name{labels}" → value */
function samples(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

describe("renderMetrics", () => {
  const routes = [
    route({ source: "10.0.0.1", group: "239.1.1.1", counters: counters(10n, 1000n, 2n) }),
    route({ source: "", group: "239.2.0.0/16" }),
    route({ source: "10.0.0.9", group: "239.2.0.1", learned: true, template: "*,239.2.0.0/16@eth0", counters: counters(3n) }),
    route({ source: "10.0.0.8", group: "239.2.0.2", learned: true, template: "*,239.2.0.0/16@eth0", counters: counters(4n) }),
    route({ source: "10.0.0.7", group: "239.9.9.9", stopFilter: true, counters: counters(1n) }),
    route({ source: "10.0.0.2", group: "239.1.1.2", state: "pending", reason: "eth1 missing" }),
  ];

  it("exports per-route counters for configured routes only, learned ones summed per template", () => {
    const s = samples(renderMetrics(input(routes)));
    const l = 'family="ipv4",table="0",source="10.0.0.1",group="239.1.1.1",iif="eth0",kind="static"';
    expect(s.get(`mfcd_route_packets_total{${l}}`)).toBe("10");
    expect(s.get(`mfcd_route_bytes_total{${l}}`)).toBe("1000");
    expect(s.get(`mfcd_route_wrong_if_total{${l}}`)).toBe("2");
    expect([...s.keys()].some((k) => k.includes("10.0.0.9"))).toBe(false);
    expect(s.get('mfcd_learned_packets_total{family="ipv4",table="0",template="*,239.2.0.0/16@eth0"}')).toBe("7");
    expect(s.get('mfcd_learned_packets_total{family="ipv4",table="0",template="(stop filters)"}')).toBe("1");
    expect(s.get('mfcd_routes{state="installed",kind="static"}')).toBe("1");
    expect(s.get('mfcd_routes{state="pending",kind="static"}')).toBe("1");
    expect(s.get('mfcd_routes{state="installed",kind="learned"}')).toBe("2");
    expect(s.get('mfcd_routes{state="installed",kind="template"}')).toBe("1");
    expect(s.get('mfcd_route_state{family="ipv4",table="0",source="10.0.0.2",group="239.1.1.2",iif="eth0",owner="api",state="pending"}')).toBe("1");
    expect(s.get('mfcd_vif_in_packets_total{family="ipv4",table="0",vif="0",interface="eth0"}')).toBe("5");
    expect(s.get('mfcd_vif_up{family="ipv4",table="0",vif="0",interface="eth0"}')).toBe("1");
    expect(s.get("mfcd_foreign_entries")).toBe("2");
    expect(s.get('mfcd_upcalls_total{family="ipv4",type="nocache"}')).toBe("7");
    // Learned entries the kernel refused were swallowed without a trace before issue 11.
    expect(s.get("mfcd_learn_failures_total")).toBe("3");
    expect(Number(s.get("process_resident_memory_bytes"))).toBeGreaterThan(0);
  });

  it("--metrics-learned breaks learned entries out, with their template", () => {
    const s = samples(renderMetrics(input(routes, true)));
    expect(s.get('mfcd_route_packets_total{family="ipv4",table="0",source="10.0.0.9",group="239.2.0.1",iif="eth0",kind="learned",template="*,239.2.0.0/16@eth0"}')).toBe("3");
  });

  it("exports one 0/1 gauge per kernel capability, with HELP and TYPE", () => {
    const text = renderMetrics({
      ...input(routes),
      kernelCapabilities: [
        { name: "ipv4", available: true },
        { name: "ipv6-tables", available: false },
      ],
    });
    const s = samples(text);
    expect(s.get('mfcd_kernel_capability{name="ipv4"}')).toBe("1");
    expect(s.get('mfcd_kernel_capability{name="ipv6-tables"}')).toBe("0");
    const lines = text.split("\n");
    const type = lines.indexOf("# TYPE mfcd_kernel_capability gauge");
    expect(lines[type - 1]).toMatch(/^# HELP mfcd_kernel_capability \S/);
    expect(lines[type + 1]).toBe('mfcd_kernel_capability{name="ipv4"} 1');
  });

  it("writes HELP and TYPE once per family, before its samples", () => {
    const text = renderMetrics(input(routes));
    for (const family of ["mfcd_route_packets_total", "mfcd_routes", "mfcd_rpc_requests_total"]) {
      expect(text.split("\n").filter((l) => l === `# TYPE ${family} ${family === "mfcd_routes" ? "gauge" : "counter"}`)).toHaveLength(1);
    }
  });
});

describe("PrometheusText", () => {
  it("escapes label values", () => {
    const t = new PrometheusText().family("x", "gauge", "h").sample("x", { a: 'q"\\\n' }, 1).toString();
    expect(t).toContain('x{a="q\\"\\\\\\n"} 1');
  });
});

describe("RpcStats", () => {
  it("counts by method and code, and keeps cumulative histogram buckets", () => {
    const r = new RpcStats();
    r.record("/mfc.v1.MfcService/AddRoute", "OK", 0.0002);
    r.record("/mfc.v1.MfcService/AddRoute", "OK", 0.003);
    r.record("/mfc.v1.MfcService/AddRoute", "INVALID_ARGUMENT", 0.00005);
    const s = samples(renderMetrics({ ...input([]), rpc: r }));
    const m = 'method="/mfc.v1.MfcService/AddRoute"';
    expect(s.get(`mfcd_rpc_requests_total{${m},code="OK"}`)).toBe("2");
    expect(s.get(`mfcd_rpc_requests_total{${m},code="INVALID_ARGUMENT"}`)).toBe("1");
    expect(s.get(`mfcd_rpc_duration_seconds_bucket{${m},le="0.0001"}`)).toBe("1");
    expect(s.get(`mfcd_rpc_duration_seconds_bucket{${m},le="0.00025"}`)).toBe("2");
    expect(s.get(`mfcd_rpc_duration_seconds_bucket{${m},le="0.005"}`)).toBe("3");
    expect(s.get(`mfcd_rpc_duration_seconds_bucket{${m},le="+Inf"}`)).toBe("3");
    expect(s.get(`mfcd_rpc_duration_seconds_count{${m}}`)).toBe("3");
  });
});

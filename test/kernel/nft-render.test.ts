// kernel-needs: nft
// Pure parts of the nft layer, no kernel needed: the ruleset text mfcd loads (and that nothing a
// caller passes can inject into it), and the parsers for nft's trace and monitor output, fed with
// lines recorded from nftables 1.0.6 on Linux 6.18.
import { describe, expect, it } from "vitest";
import { NftRescueTable, renderRescueTable } from "../../src/kernel/nft/nft-rescue-table.js";
import { NftRulesetIndex } from "../../src/kernel/nft/nft-ruleset-index.js";
import { parseNftTraceLine } from "../../src/kernel/nft/nft-trace-line.js";
import { renderTraceTable } from "../../src/kernel/nft/nft-trace.js";
import { parseTtlProbe, renderTtlProbe } from "../../src/kernel/nft/nft-ttl-probe.js";

describe("renderRescueTable", () => {
  it("renders an atomic replace of the whole table", () => {
    const text = renderRescueTable("mfcd", [
      { iif: "in0", source: "10.99.0.100", group: "239.1.1.1", rewriteSource: "10.1.0.50" },
      { iif: "eth1.100", source: "10.1.0.2", group: "239.1.1.2", setTtl: 64 },
      { iif: "in2", source: "10.2.0.2", group: "239.2.2.2", setTtl: 8, rewriteSource: "10.2.0.9" },
    ]);
    expect(text).toBe(
      [
        "table ip mfcd {}",
        "delete table ip mfcd",
        "table ip mfcd {",
        "\tchain rescue {",
        "\t\ttype filter hook prerouting priority raw; policy accept;",
        '\t\tiifname "in0" ip saddr 10.99.0.100 ip daddr 239.1.1.1 ip daddr != 224.0.0.0/24 meta l4proto != igmp ip saddr set 10.1.0.50 counter',
        '\t\tiifname "eth1.100" ip saddr 10.1.0.2 ip daddr 239.1.1.2 ip daddr != 224.0.0.0/24 meta l4proto != igmp ip ttl set 64 counter',
        '\t\tiifname "in2" ip saddr 10.2.0.2 ip daddr 239.2.2.2 ip daddr != 224.0.0.0/24 meta l4proto != igmp ip ttl set 8 ip saddr set 10.2.0.9 counter',
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("renders an empty chain for no rules", () => {
    expect(new NftRescueTable({ tableName: "t1" }).render([])).toBe(
      "table ip t1 {}\ndelete table ip t1\ntable ip t1 {\n\tchain rescue {\n" +
        "\t\ttype filter hook prerouting priority raw; policy accept;\n\t}\n}\n",
    );
  });

  const ok = { iif: "in0", source: "10.0.0.1", group: "239.1.1.1" };
  it.each([
    ["iif with a quote", { ...ok, iif: 'in0" accept' }],
    ["iif with a wildcard", { ...ok, iif: "eth*" }],
    ["iif with a space", { ...ok, iif: "in 0" }],
    ["iif with a newline", { ...ok, iif: "in0\nflush" }],
    ["iif too long", { ...ok, iif: "a".repeat(16) }],
    ["iif empty", { ...ok, iif: "" }],
    ["iif ..", { ...ok, iif: ".." }],
    ["source with a statement", { ...ok, source: "10.0.0.1 drop" }],
    ["source as a prefix", { ...ok, source: "10.0.0.0/8" }],
    ["source with leading zeros", { ...ok, source: "010.0.0.1" }],
    ["source octet > 255", { ...ok, source: "10.0.0.256" }],
    ["group with a brace", { ...ok, group: "239.1.1.1 }" }],
    ["group IPv6", { ...ok, group: "ff0e::1" }],
    ["new source as a set", { ...ok, rewriteSource: "{ 10.0.0.2 }" }],
    ["TTL 0", { ...ok, setTtl: 0 }],
    ["TTL 256", { ...ok, setTtl: 256 }],
    ["TTL 1.5", { ...ok, setTtl: 1.5 }],
    ["TTL NaN", { ...ok, setTtl: Number.NaN }],
    ["non-string source", { ...ok, source: 167772161 as unknown as string }],
  ])("rejects %s", (_what, rule) => {
    expect(() => renderRescueTable("mfcd", [rule])).toThrow(TypeError);
  });

  it("rejects bad table names and duplicate flows", () => {
    for (const name of ["", "mfcd; flush ruleset", "1abc", "a b", "a-b", "x".repeat(65)]) {
      expect(() => renderRescueTable(name, [])).toThrow(TypeError);
      expect(() => new NftRescueTable({ tableName: name })).toThrow(TypeError);
    }
    expect(() => renderRescueTable("mfcd", [ok, { ...ok, setTtl: 3 }])).toThrow(/two rescue rules/);
  });
});

describe("renderTtlProbe / renderTraceTable", () => {
  const flow = { iif: "in0", source: "10.1.0.2", group: "239.1.1.1" };

  it("probe: one TTL histogram set (every TTL fits), before the rescue chain", () => {
    const text = renderTtlProbe("mfcd_probe_1_1", flow);
    const m = 'iifname "in0" ip saddr 10.1.0.2 ip daddr 239.1.1.1 meta l4proto != igmp';
    expect(text).toBe(
      "table ip mfcd_probe_1_1 {}\ndelete table ip mfcd_probe_1_1\ntable ip mfcd_probe_1_1 {\n" +
        "\tset ttls {\n\t\ttypeof ip ttl\n\t\tsize 256\n\t\tflags dynamic\n\t\tcounter\n\t}\n" +
        "\tchain probe {\n\t\ttype filter hook prerouting priority -350; policy accept;\n" +
        `\t\t${m} add @ttls { ip ttl }\n\t}\n}\n`,
    );
    expect(() => renderTtlProbe("p", { ...flow, iif: 'x"' })).toThrow(TypeError);
  });

  it("trace: marks the flow (rate-limited) and hooks an empty chain on every forwarding hook", () => {
    const text = renderTraceTable("mfcd_trace_1_1", flow);
    expect(text).toContain(
      '\t\tiifname "in0" ip saddr 10.1.0.2 ip daddr 239.1.1.1 limit rate 10/second meta nftrace set 1\n',
    );
    for (const hook of ["prerouting", "input", "forward", "postrouting"]) {
      expect(text).toContain(`\tchain ${hook} {\n\t\ttype filter hook ${hook} priority -1000; policy accept;\n`);
    }
    expect(renderTraceTable("t", flow, 0)).toContain("239.1.1.1 meta nftrace set 1\n");
    expect(() => renderTraceTable("t", flow, -1)).toThrow(TypeError);
    expect(() => renderTraceTable("t", { ...flow, group: "239.1.1.1;" })).toThrow(TypeError);
  });
});

describe("parseTtlProbe", () => {
  it("reads the histogram from nft -j output; the totals are its sums, so they always agree", () => {
    // Recorded: 3 packets with TTL 1, 2 with TTL 0 and 6 with TTL 5 (fields not read are trimmed).
    const doc = {
      nftables: [
        { metainfo: { version: "1.0.6" } },
        { table: { family: "ip", name: "p", handle: 5 } },
        {
          set: {
            family: "ip", name: "ttls", table: "p", type: "integer", handle: 2, size: 256,
            elem: [
              { elem: { val: 1, counter: { packets: 3, bytes: 276 } } },
              { elem: { val: 5, counter: { packets: 6, bytes: 552 } } },
              { elem: { val: 0, counter: { packets: 2, bytes: 184 } } },
            ],
          },
        },
        { chain: { family: "ip", table: "p", name: "probe", hook: "prerouting", prio: -350 } },
      ],
    };
    expect(parseTtlProbe(doc)).toEqual({
      ttlLe1: 5n,
      ttlGt1: 6n,
      minTtlSeen: 0,
      byTtl: new Map([[1, 3n], [5, 6n], [0, 2n]]),
    });
    expect(parseTtlProbe({ nftables: [] })).toEqual({ ttlLe1: 0n, ttlGt1: 0n, byTtl: new Map() });
  });
});

describe("parseNftTraceLine", () => {
  it("parses packet, rule, verdict and policy lines", () => {
    const pkt =
      'trace id e801e617 ip tr forward packet: iif "in0" oif "out1" ether saddr 4a:dc:bf:4b:68:3f ' +
      "ether daddr 01:00:5e:01:01:01 ip saddr 10.200.0.2 ip daddr 239.1.1.1 ip dscp cs0 ip ecn not-ect " +
      "ip ttl 4 ip id 8017 ip length 92 udp sport 46023 udp dport 5000 udp length 72 @th,64,96 0x4d4643540000000000000000 ";
    expect(parseNftTraceLine(pkt)).toEqual({
      id: "e801e617", family: "ip", table: "tr", chain: "forward", type: "packet", raw: pkt,
      packet: { iif: "in0", oif: "out1", saddr: "10.200.0.2", daddr: "239.1.1.1", ttl: 4 },
    });
    const post =
      'trace id e801e617 ip tr postrouting packet: oif "out1" @ll,0,112 0x1005e0101014adcbf4b683f0800 ' +
      "ip saddr 10.200.0.2 ip daddr 239.1.1.1 ip dscp cs0 ip ecn not-ect ip ttl 4 ip id 8017";
    expect(parseNftTraceLine(post)?.packet).toEqual({ oif: "out1", saddr: "10.200.0.2", daddr: "239.1.1.1", ttl: 4 });

    const rule =
      'trace id e801e617 ip tr prerouting rule iifname "in0" ip saddr 10.200.0.2 ip daddr 239.1.1.1 meta nftrace set 1 (verdict continue)';
    expect(parseNftTraceLine(rule)).toMatchObject({
      type: "rule", chain: "prerouting",
      rule: 'iifname "in0" ip saddr 10.200.0.2 ip daddr 239.1.1.1 meta nftrace set 1', verdict: "continue",
    });
    expect(parseNftTraceLine("trace id 0000abcd inet filter input rule jump foo (verdict jump foo)")).toMatchObject({
      family: "inet", table: "filter", chain: "input", type: "rule", rule: "jump foo", verdict: "jump foo",
    });
    expect(parseNftTraceLine("trace id e801e617 ip tr prerouting policy accept ")).toMatchObject({
      type: "policy", verdict: "accept",
    });
    expect(parseNftTraceLine("trace id e801e617 ip tr foo verdict return")).toMatchObject({ type: "verdict", verdict: "return" });
    // With nft -a (as NftTrace runs it): a handle, possibly after a comment that looks like one.
    expect(
      parseNftTraceLine(
        'trace id 25b4ad6d ip tr prerouting rule meta nftrace set 1 comment "a # handle 7" # handle 3 (verdict continue)',
      ),
    ).toMatchObject({ type: "rule", rule: 'meta nftrace set 1 comment "a # handle 7"', handle: 3, verdict: "continue" });
    expect(
      parseNftTraceLine("trace id 25b4ad6d ip tr sub rule counter packets 0 bytes 0 # handle 5 (verdict continue)"),
    ).toMatchObject({ type: "rule", rule: "counter", handle: 5 });
    const unknown = parseNftTraceLine("trace id 9fe1a514 ip mfct_1174_1 prerouting unknown rule handle 5 (verdict continue)");
    expect(unknown).toMatchObject({ type: "rule", handle: 5, verdict: "continue" });
    expect(unknown?.rule).toBeUndefined();
  });

  it("ignores non-trace lines", () => {
    for (const l of ["add table ip zz", "# new generation 6 by process 12920 (nft)", "", "trace id"]) {
      expect(parseNftTraceLine(l)).toBeUndefined();
    }
  });
});

describe("NftRulesetIndex", () => {
  // Recorded `nft -a list ruleset` output (a comment that looks like a handle included).
  const listing = [
    "table ip pre { # handle 1",
    "\tset blocked { # handle 3",
    "\t\ttype ipv4_addr",
    "\t\telements = { 1.2.3.4 }",
    "\t}",
    "",
    "\tchain c { # handle 1",
    "\t\ttype filter hook prerouting priority filter; policy accept;",
    "\t\tcounter packets 12 bytes 960 # handle 3",
    "\t\tjump sub # handle 4",
    "\t}",
    "",
    "\tchain sub { # handle 2",
    '\t\tip saddr 1.2.3.4 counter packets 0 bytes 0 comment "x # handle 9" # handle 5',
    "\t}",
    "}",
    "table netdev nd { # handle 2",
    "\tchain ing { # handle 1",
    '\t\ttype filter hook ingress device "eth0" priority filter; policy accept;',
    "\t}",
    "}",
    "",
  ].join("\n");

  it("reads hooks and rule texts from nft -a list ruleset", () => {
    const x = new NftRulesetIndex();
    x.load(listing);
    expect(x.hook("ip", "pre", "c")).toBe("prerouting");
    expect(x.hook("ip", "pre", "sub")).toBeNull();
    expect(x.hook("ip", "pre", "blocked")).toBeUndefined();
    expect(x.hook("netdev", "nd", "ing")).toBe("ingress");
    expect(x.rule("ip", "pre", "c", 3)).toBe("counter");
    expect(x.rule("ip", "pre", "c", 4)).toBe("jump sub");
    expect(x.rule("ip", "pre", "sub", 5)).toBe('ip saddr 1.2.3.4 counter comment "x # handle 9"');
    expect(x.rule("ip", "pre", "sub", 9)).toBeUndefined();
  });

  it("follows nft -a monitor lines", () => {
    const x = new NftRulesetIndex();
    x.load(listing);
    // Recorded from `nft -a monitor` while a table was replaced and a rule added.
    for (const l of [
      "add table ip zz # handle 2",
      "add chain ip zz prerouting { type filter hook prerouting priority -350; policy accept; } # handle 1",
      "add chain ip zz j # handle 2",
      'add rule ip zz prerouting iifname "in0" ip saddr 10.200.0.2 meta nftrace set 1 # handle 2',
      "add rule ip zz prerouting counter packets 0 bytes 0 # handle 3",
    ]) {
      expect(x.onMonitorLine(l), l).toBe(l.startsWith("add table") ? false : true);
    }
    expect(x.hook("ip", "zz", "prerouting")).toBe("prerouting");
    expect(x.hook("ip", "zz", "j")).toBeNull();
    expect(x.rule("ip", "zz", "prerouting", 2)).toBe('iifname "in0" ip saddr 10.200.0.2 meta nftrace set 1');
    expect(x.rule("ip", "zz", "prerouting", 3)).toBe("counter");
    x.onMonitorLine("delete rule ip zz prerouting handle 3");
    expect(x.rule("ip", "zz", "prerouting", 3)).toBeUndefined();
    x.onMonitorLine("delete chain ip zz j");
    expect(x.hook("ip", "zz", "j")).toBeUndefined();
    x.onMonitorLine("delete table ip zz");
    expect(x.hook("ip", "zz", "prerouting")).toBeUndefined();
    expect(x.hook("ip", "pre", "c")).toBe("prerouting");
    expect(x.onMonitorLine("# new generation 4 by process 1867 (nft)")).toBe(false);
  });
});

// kernel-needs: none
// The rescue table read back at start (issue 12, "the nft rescue table is adopted"): the decoder of
// `nft -j list table ip mfcd` (recorded from nftables 1.0.6 after loading renderRescueTable's
// output) and RescueSync's choice between adopting a table a previous mfcd left, replacing it in
// one transaction, or removing it — and whether the table outlives mfcd's exit.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RouteEngine, type RouteSpec } from "../../src/engine/route-engine.js";
import { parseRescueTable } from "../../src/kernel/nft/nft-rescue-read.js";
import type { NftJsonDoc } from "../../src/kernel/nft/nft-transaction.js";
import { RescueSync } from "../../src/server/nft/index.js";
import type { InstalledRescueRules, RescueRuleData, RescueTablePort } from "../../src/server/nft/rescue-sync.js";
import { FakeKernel } from "./fake-kernel.js";

/** `nft -j list table ip mfcd` after loading renderRescueTable("mfcd", RULES) (nftables 1.0.6). */
const RECORDED = JSON.stringify({"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "mfcd", "handle": 2}}, {"chain": {"family": "ip", "table": "mfcd", "name": "rescue", "handle": 1, "type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}}, {"rule": {"family": "ip", "table": "mfcd", "chain": "rescue", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "in0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.99.0.100"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "239.1.1.1"}}, {"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "224.0.0.0", "len": 24}}}}, {"match": {"op": "!=", "left": {"meta": {"key": "l4proto"}}, "right": "igmp"}}, {"mangle": {"key": {"payload": {"protocol": "ip", "field": "ttl"}}, "value": 64}}, {"mangle": {"key": {"payload": {"protocol": "ip", "field": "saddr"}}, "value": "10.1.0.50"}}, {"counter": {"packets": 0, "bytes": 0}}]}}, {"rule": {"family": "ip", "table": "mfcd", "chain": "rescue", "handle": 3, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "in1"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.1.0.2"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "239.1.1.2"}}, {"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "224.0.0.0", "len": 24}}}}, {"match": {"op": "!=", "left": {"meta": {"key": "l4proto"}}, "right": "igmp"}}, {"mangle": {"key": {"payload": {"protocol": "ip", "field": "ttl"}}, "value": 8}}, {"counter": {"packets": 0, "bytes": 0}}]}}, {"rule": {"family": "ip", "table": "mfcd", "chain": "rescue", "handle": 4, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "in2"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.2.0.2"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "239.1.1.3"}}, {"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "224.0.0.0", "len": 24}}}}, {"match": {"op": "!=", "left": {"meta": {"key": "l4proto"}}, "right": "igmp"}}, {"counter": {"packets": 0, "bytes": 0}}]}}]});
const RULES: RescueRuleData[] = [
  { iif: "in0", source: "10.99.0.100", group: "239.1.1.1", rewriteSource: "10.1.0.50", setTtl: 64 },
  { iif: "in1", source: "10.1.0.2", group: "239.1.1.2", setTtl: 8 },
  { iif: "in2", source: "10.2.0.2", group: "239.1.1.3" },
];
type Obj = Record<string, unknown>;
/** A copy of the recorded listing, changed by `edit`. */
function recorded(edit: (objs: Obj[]) => void = () => undefined): NftJsonDoc {
  const doc = JSON.parse(RECORDED) as { nftables: Obj[] };
  edit(doc.nftables);
  return doc;
}
const ofKind = (objs: Obj[], kind: string): Obj[] => objs.filter((o) => kind in o).map((o) => o[kind] as Obj);
const exprOf = (objs: Obj[], i: number): unknown[] => ofKind(objs, "rule")[i]!.expr as unknown[];

describe("parseRescueTable", () => {
  it("decodes mfcd's own table into its rules, in table order, with handles and counters", () => {
    const doc = recorded((objs) => {
      const counter = exprOf(objs, 0).at(-1) as { counter: { packets: number; bytes: number } };
      counter.counter = { packets: 20, bytes: 1640 };
    });
    expect(parseRescueTable(doc, "mfcd", "rescue")).toEqual({
      tableHandle: 2,
      chainHandle: 1,
      rules: [
        { ...RULES[0], handle: 2, packets: 20n, bytes: 1640n },
        { ...RULES[1], handle: 3, packets: 0n, bytes: 0n },
        { ...RULES[2], handle: 4, packets: 0n, bytes: 0n },
      ],
    });
  });

  it("an empty chain is mfcd's table with no rules; no such table is undefined", () => {
    const empty = recorded((objs) => objs.splice(3));
    expect(parseRescueTable(empty, "mfcd", "rescue")).toEqual({ tableHandle: 2, chainHandle: 1, rules: [] });
    expect(parseRescueTable(recorded(), "other", "rescue")).toBeUndefined();
    expect(parseRescueTable(recorded((objs) => objs.splice(1)), "mfcd", "rescue")).toBeUndefined();
  });

  it.each<[string, (objs: Obj[]) => void, RegExp]>([
    ["a set", (objs) => objs.push({ set: { family: "ip", name: "s", table: "mfcd", type: "ipv4_addr", handle: 5 } }), /holds a set/],
    ["a dormant table (nft 1.0.6 prints its flags as \"ip\")", (objs) => void (ofKind(objs, "table")[0]!.flags = "ip"), /flags/],
    ["a second chain", (objs) => objs.push({ chain: { family: "ip", table: "mfcd", name: "other", handle: 9 } }), /chains/],
    ["another priority", (objs) => void (ofKind(objs, "chain")[0]!.prio = -200), /not a filter chain at prerouting/],
    ["a policy drop", (objs) => void (ofKind(objs, "chain")[0]!.policy = "drop"), /not a filter chain at prerouting/],
    ["a rule with a comment", (objs) => void (ofKind(objs, "rule")[1]!.comment = "x"), /rule handle 3 has a comment/],
    ["a verdict after the counter", (objs) => void exprOf(objs, 2).push({ accept: null }), /rule handle 4 has statements/],
    ["no counter", (objs) => void exprOf(objs, 2).pop(), /rule handle 4 has no counter/],
    ["the mangles swapped", (objs) => void exprOf(objs, 0).splice(5, 2, exprOf(objs, 0)[6], exprOf(objs, 0)[5]), /rule handle 2 has no counter/],
    ["no IGMP exclusion", (objs) => void exprOf(objs, 1).splice(4, 1), /rule handle 3 lacks the link-local and IGMP/],
    ["a prefix source", (objs) => void ((exprOf(objs, 1)[1] as { match: Obj }).match.right = { prefix: { addr: "10.1.0.0", len: 24 } }), /rule handle 3 does not match one flow/],
    ["another match operator", (objs) => void ((exprOf(objs, 1)[0] as { match: Obj }).match.op = "!="), /rule handle 3 does not match one flow/],
  ])("%s: not mfcd's table (the caller replaces it)", (_what, edit, why) => {
    const parsed = parseRescueTable(recorded(edit), "mfcd", "rescue");
    expect(parsed).toMatchObject({ tableHandle: 2 });
    expect(parsed && "notMfcds" in parsed && parsed.notMfcds).toMatch(why);
  });
});

/** A RescueTablePort holding a table in memory, recording every call. */
class FakeTable implements RescueTablePort {
  calls: string[] = [];
  constructor(public held: InstalledRescueRules | undefined) {}
  apply(rules: readonly RescueRuleData[]): Promise<void> {
    this.calls.push(`apply ${rules.length}`);
    this.held = { tableHandle: (this.held?.tableHandle ?? 0) + 1, rules: rules.map((r, i) => ({ ...r, handle: i + 2 })) };
    return Promise.resolve();
  }
  remove(): Promise<void> {
    this.calls.push("remove");
    this.held = undefined;
    return Promise.resolve();
  }
  installed(): Promise<InstalledRescueRules | undefined> {
    this.calls.push("installed");
    return Promise.resolve(this.held);
  }
}

const spec = (r: RescueRuleData): RouteSpec => ({ family: "ipv4", table: 0, ...r, oifs: ["out1"] });

/** The RescueSync of a restarted mfcd whose state file held routes with `rules`, and its log. */
function restarted(rules: RescueRuleData[], table: FakeTable) {
  const kernel = new FakeKernel();
  for (const [i, name] of ["in0", "in1", "in2", "out1"].entries()) kernel.addInterface(name, 10 + i);
  const engine = new RouteEngine(() => kernel);
  engine.restore(rules.map((r) => ({ spec: spec(r), owner: "api" })));
  const lines: Obj[] = [];
  const logger = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l) as Obj) });
  return { rescue: new RescueSync(engine, table, "", logger), lines, engine };
}
/** Rules of routes with rescue options, in the order RescueSync writes them (by source/group). */
const SYNCED: RescueRuleData[] = [
  { iif: "in1", source: "10.1.0.2", group: "239.1.1.2", setTtl: 8 },
  { iif: "in2", source: "10.2.0.2", group: "239.1.1.3", rewriteSource: "10.2.0.9" },
  { iif: "in0", source: "10.99.0.100", group: "239.1.1.1", rewriteSource: "10.1.0.50", setTtl: 64 },
];
const left = (rules: RescueRuleData[]): InstalledRescueRules => ({ tableHandle: 7, rules: rules.map((r, i) => ({ ...r, handle: 10 + i })) });

describe("RescueSync across a restart", () => {
  it("adopts a table that holds exactly the restored routes' rules: no write, logged with its handles", async () => {
    const table = new FakeTable(left(SYNCED));
    const { rescue, lines } = restarted(SYNCED, table);
    await rescue.sync();
    expect(table.calls).toEqual(["installed"]);
    expect(lines.find((l) => l.msg === "nftables rescue table adopted")).toMatchObject({ rules: 3, tableHandle: 7, handles: [10, 11, 12] });
    await rescue.sync(); // and knows it holds them: nothing more
    expect(table.calls).toEqual(["installed"]);
  });

  it("a table that differs (another TTL, a missing or an extra rule, another order, not mfcd's) is replaced by one apply, never removed first", async () => {
    const [r0, r1, r2] = SYNCED as [RescueRuleData, RescueRuleData, RescueRuleData];
    const { rewriteSource: _dropped, ...r2WithoutRewrite } = r2;
    for (const found of [
      left([r0, r1, { ...r2, setTtl: 63 }]),
      left([r0, r1, r2WithoutRewrite]),
      left([r0, { ...r1, iif: "in0" }, r2]),
      left([r0, r2]),
      left([...SYNCED, { iif: "in0", source: "10.99.9.9", group: "239.9.9.9", setTtl: 2 }]),
      left([r1, r0, r2]),
      { tableHandle: 7, notMfcds: "it holds a set" },
    ]) {
      const table = new FakeTable(found);
      const { rescue } = restarted(SYNCED, table);
      await rescue.sync();
      expect(table.calls, JSON.stringify(found)).toEqual(["installed", "apply 3"]);
    }
  });

  it("no table left: the rules are written; no restored rescue route: a leftover table is removed unread", async () => {
    const none = new FakeTable(undefined);
    await restarted(SYNCED, none).rescue.sync();
    expect(none.calls).toEqual(["installed", "apply 3"]);
    const leftover = new FakeTable(left(SYNCED));
    await restarted([], leftover).rescue.sync();
    expect(leftover.calls).toEqual(["remove"]);
  });

  it("the table is known to be absent (startup listing): written without reading it", async () => {
    const table = new FakeTable(undefined);
    const { rescue } = restarted(SYNCED, table);
    rescue.noTable();
    await rescue.sync();
    expect(table.calls).toEqual(["apply 3"]);
  });

  it("a table that cannot be read is replaced", async () => {
    const table = new FakeTable(left(SYNCED));
    table.installed = () => Promise.reject(new Error("nft: Error: something"));
    const { rescue } = restarted(SYNCED, table);
    await rescue.sync();
    expect(table.calls).toEqual(["apply 3"]);
  });

  it("stop(keepForwarding): the table stays for the next mfcd; a plain stop removes it", async () => {
    const kept = new FakeTable(left(SYNCED));
    const a = restarted(SYNCED, kept);
    await a.rescue.sync();
    await a.rescue.stop(true);
    expect(kept.calls).toEqual(["installed"]);
    expect(kept.held).toEqual(left(SYNCED));
    expect(a.lines.some((l) => l.msg === "nftables rescue table kept for the next mfcd")).toBe(true);

    const removed = new FakeTable(left(SYNCED));
    const b = restarted(SYNCED, removed);
    await b.rescue.sync();
    await b.rescue.stop(false);
    expect(removed.calls).toEqual(["installed", "remove"]);
    expect(removed.held).toBeUndefined();
  });
});

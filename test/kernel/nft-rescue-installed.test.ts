// kernel-needs: nft
// NftRescueTable.installed() against the real kernel and nft: what apply() wrote reads back as
// exactly those rules (what a restarted mfcd compares with its restored routes to adopt the table),
// with handles and counters; a missing table is undefined; anything mfcd never writes is reported.
// Needs root (a network namespace of its own); no multicast routing.
import { describe, expect, it } from "vitest";
import { NftRescueTable, type RescueRule } from "../../src/kernel/nft/nft-rescue-table.js";
import { cleanupAfterEach } from "../helpers/cleanup-after-each.js";
import { addNetns, delNetns, execIn, uniqueName } from "../helpers/netns.js";

if (process.getuid?.() !== 0) throw new Error("test/kernel/nft-rescue-installed.test.ts needs root (network namespaces, nftables)");

const cleanups = cleanupAfterEach();
let seq = 0;

async function table(): Promise<{ ns: string; t: NftRescueTable }> {
  const ns = uniqueName("nft");
  await addNetns(ns);
  cleanups.push(() => delNetns(ns));
  return { ns, t: new NftRescueTable({ netns: `/run/netns/${ns}`, tableName: `mfct_${process.pid}_${++seq}` }) };
}

const RULES: RescueRule[] = [
  { iif: "in0", source: "10.99.0.100", group: "239.1.1.1", rewriteSource: "10.1.0.50", setTtl: 64 },
  { iif: "eth0.100", source: "10.1.0.2", group: "239.1.1.2", setTtl: 1 },
  { iif: "a.b@c+d-e_f", source: "192.168.255.254", group: "224.0.1.1", rewriteSource: "192.168.0.1" },
  { iif: "x", source: "0.0.0.0", group: "239.255.255.255", setTtl: 255 },
  { iif: "in9", source: "10.9.9.9", group: "239.9.9.9" },
];

describe("NftRescueTable.installed", () => {
  it("reads back exactly the rules apply() wrote, in order, with handles and zero counters", async () => {
    const { t } = await table();
    expect(await t.installed()).toBeUndefined();
    await t.apply(RULES);
    const found = await t.installed();
    expect(found && "rules" in found, JSON.stringify(found, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).toBe(true);
    if (!found || !("rules" in found)) return;
    expect(found.rules.map(({ handle: _h, packets: _p, bytes: _b, ...rule }) => rule)).toEqual(RULES);
    expect(found.rules.map((r) => [r.packets, r.bytes])).toEqual(RULES.map(() => [0n, 0n]));
    const handles = found.rules.map((r) => r.handle);
    expect(new Set(handles).size).toBe(RULES.length);
    expect([...handles].sort((a, b) => a - b)).toEqual(handles);

    // Reading changes nothing: the same again. A new apply() is a new table (new table handle).
    expect(await t.installed()).toEqual(found);
    await t.apply(RULES);
    expect((await t.installed())?.tableHandle).not.toBe(found.tableHandle);

    await t.apply([]);
    expect(await t.installed()).toMatchObject({ rules: [] });
    await t.remove();
    expect(await t.installed()).toBeUndefined();
  });

  it("a table holding what mfcd does not write is reported as such, with the reason", async () => {
    const { ns, t } = await table();
    await t.apply(RULES.slice(0, 1));
    await execIn(ns, ["nft", `add rule ip ${t.tableName} rescue iifname "in1" counter accept`]);
    expect(await t.installed()).toMatchObject({ notMfcds: expect.stringMatching(/^rule handle \d+ does not match one flow/) as unknown });
    await t.apply(RULES.slice(0, 1));
    await execIn(ns, ["nft", `add chain ip ${t.tableName} extra`]);
    expect(await t.installed()).toMatchObject({ notMfcds: expect.stringMatching(/chains/) as unknown });
  });
});

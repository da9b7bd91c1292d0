// /proc/net/ip_mr_cache and ip_mr_vif parsers on text captured from Linux 6.18 (x86_64) in a
// namespace: VIFs a0/a1/a2 as 0/1/3, traffic from 10.0.0.2 via a0, two unresolved groups.
import os from "node:os";
import { describe, expect, it } from "vitest";
import { parseIpMrCache, parseIpMrVif, scanIpMrCache } from "../../src/kernel/mroute/proc-mroute.js";
import { parseIp6MrCache, parseIp6MrVif } from "../../src/kernel/mroute/proc-mroute6.js";

// Trailing blanks are part of the kernel's " %2d:%-3d" oif format.
const CACHE = [
  "Group    Origin   Iif     Pkts    Bytes    Wrong Oifs",
  "010101EF 0200000A 0          7      896        0  1:1    3:5  ",
  "020101EF 0200000A 0          3     3084        0",
  "0100FFEF 6300000A 1          0        0        0  0:1    3:254",
  "030101EF 00000000 0          0        0        0  0:1    1:1  ",
  "030201E8 0200000A 3          0        0        0",
  "080707EF 0200000A -1         0        0        0",
  "070707EF 0200000A -1         0        0        0",
  "",
].join("\n");

// VIF 0/1 by ifindex, 2 by local address (flags 0), 5 static (added without MRT_INIT).
const VIF = [
  "Interface      BytesIn  PktsIn  BytesOut PktsOut Flags Local    Remote",
  " 0 a0             3980      10         0       0 00008 00000002 00000000",
  " 1 a1                0       0       896       7 00008 00000003 00000000",
  " 2 a0                0       0         0       0 00000 0100000A 00000000",
  " 5 a2                0       0         0       0 08008 00000004 00000000",
  "",
].join("\n");

const isLE = os.endianness() === "LE";

describe("parseIpMrCache", () => {
  it.runIf(isLE)("decodes raw be32 addresses, iif, counters and vif:ttl oifs", () => {
    const rows = parseIpMrCache(CACHE);
    expect(rows).toHaveLength(7);
    expect(rows[0]).toEqual({
      source: "10.0.0.2",
      group: "239.1.1.1",
      parent: 0,
      oifs: new Map([
        [1, 1],
        [3, 5],
      ]),
      counters: { packets: 7n, bytes: 896n, wrongIf: 0n },
      unresolved: false,
    });
    expect(rows[1]).toMatchObject({ group: "239.1.1.2", oifs: new Map(), counters: { packets: 3n, bytes: 3084n } });
    expect(rows[2]).toMatchObject({ source: "10.0.0.99", group: "239.255.0.1", parent: 1 });
    expect(rows[2]?.oifs).toEqual(
      new Map([
        [0, 1],
        [3, 254],
      ]),
    );
    expect(rows[3]).toMatchObject({ source: "0.0.0.0", group: "239.1.1.3" });
    expect(rows[4]).toMatchObject({ group: "232.1.2.3", parent: 3, unresolved: false });
  });

  it.runIf(isLE)("flags unresolved rows (iif -1, after the resolved ones) instead of dropping them", () => {
    const unresolved = parseIpMrCache(CACHE).filter((r) => r.unresolved);
    expect(unresolved.map((r) => [r.source, r.group, r.parent, r.oifs.size])).toEqual([
      ["10.0.0.2", "239.7.7.8", -1, 0],
      ["10.0.0.2", "239.7.7.7", -1, 0],
    ]);
  });

  it("accepts the raw bytes, a missing final newline and a header-only file", () => {
    expect(parseIpMrCache(Buffer.from(CACHE, "latin1"))).toEqual(parseIpMrCache(CACHE));
    expect(parseIpMrCache(CACHE.trimEnd())).toEqual(parseIpMrCache(CACHE));
    expect(parseIpMrCache(CACHE.split("\n")[0] + "\n")).toEqual([]);
    expect(parseIpMrCache("")).toEqual([]);
  });

  it("keeps counters exact beyond 2^53", () => {
    const [row] = parseIpMrCache("010101EF 0200000A 0   18446744073709551615 9007199254740993 0\n");
    expect(row?.counters).toEqual({ packets: 2n ** 64n - 1n, bytes: 2n ** 53n + 1n, wrongIf: 0n });
  });

  it("streams rows in kernel order", () => {
    const groups: string[] = [];
    scanIpMrCache(CACHE, (e) => groups.push(e.group));
    expect(groups).toEqual(parseIpMrCache(CACHE).map((e) => e.group));
  });

  it.each([
    ["bad address", "01010XEF 0200000A 0 0 0 0\n"],
    ["missing counters", "010101EF 0200000A 0 7\n"],
    ["bad oif", "010101EF 0200000A 0 0 0 0  1-1\n"],
    ["bad iif", "010101EF 0200000A x 0 0 0\n"],
  ])("throws on a malformed row (%s)", (_what, text) => {
    expect(() => parseIpMrCache(text)).toThrow(/bad .* in \/proc row/);
  });

  // How fast is measured in bench/, not here (a timed assertion fails on a slow machine).
  it("parses 10k rows", () => {
    const rows = ["Group    Origin   Iif     Pkts    Bytes    Wrong Oifs"];
    for (let i = 0; i < 10_000; i++) {
      const hex = (v: number) => v.toString(16).toUpperCase().padStart(8, "0");
      rows.push(`${hex(0x0000_01ef + (i << 16))} ${hex(0x0100_000a + (i << 8))} 0   ${i}  ${i * 100}  0  1:1    3:1  `);
    }
    const bytes = Buffer.from(rows.join("\n") + "\n", "latin1");
    const parsed = parseIpMrCache(bytes);
    expect(parsed).toHaveLength(10_000);
    // The last row: 0x270F01EF and 0x01270F0A (i = 9999 = 0x270F) in host (little-endian) order.
    expect(parsed[9_999]).toMatchObject({ group: "239.1.15.39", source: "10.15.39.1", parent: 0 });
    expect(parsed[9_999]!.counters).toMatchObject({ packets: 9_999n, bytes: 999_900n });
    expect([...parsed[9_999]!.oifs.keys()]).toEqual([1, 3]);
  });
});

describe("parseIpMrVif", () => {
  it("decodes counters, flags, and the ifindex stored in Local with VIFF_USE_IFINDEX", () => {
    const vifs = parseIpMrVif(VIF);
    expect(vifs).toEqual([
      {
        vif: 0,
        name: "a0",
        ifindex: 2,
        flags: 0x8,
        counters: { inBytes: 3980n, inPackets: 10n, outBytes: 0n, outPackets: 0n },
      },
      {
        vif: 1,
        name: "a1",
        ifindex: 3,
        flags: 0x8,
        counters: { inBytes: 0n, inPackets: 0n, outBytes: 896n, outPackets: 7n },
      },
      // Added by local address: Local is 10.0.0.1, not an ifindex.
      { vif: 2, name: "a0", ifindex: 0, flags: 0, counters: expect.anything() },
      { vif: 5, name: "a2", ifindex: 4, flags: 0x8008, counters: expect.anything() },
    ]);
  });

  it("handles 15-character names that overflow the %-10s column", () => {
    const text = " 7 abcdefghijklmno        1       2         3       4 00008 0000002A 00000000\n";
    expect(parseIpMrVif(text)).toEqual([
      {
        vif: 7,
        name: "abcdefghijklmno",
        ifindex: 42,
        flags: 8,
        counters: { inBytes: 1n, inPackets: 2n, outBytes: 3n, outPackets: 4n },
      },
    ]);
  });

  it("returns [] for a header-only file and throws on garbage", () => {
    expect(parseIpMrVif(VIF.split("\n")[0] + "\n")).toEqual([]);
    expect(() => parseIpMrVif(" 0 a0 1 2 3\n")).toThrow(/bad/);
  });
});

describe("/proc/net/ip6_mr_cache and ip6_mr_vif", () => {
  // Captured from Linux 6.18 (trailing spaces included).
  const cache =
    "Group                            Origin                           Iif      Pkts  Bytes     Wrong  Oifs\n" +
    "ff3e:0000:0000:0000:0000:0000:0000:4321 fd00:0001:0000:0000:0000:0000:0000:0002 0          2      296        0  1:1  \n" +
    "ff3e:0000:0000:0000:0000:0000:0000:0009 fd00:0001:0000:0000:0000:0000:0000:0002 -1         0        0        0\n";
  const vif =
    "Interface      BytesIn  PktsIn  BytesOut PktsOut Flags\n" +
    " 0 a0                0       0         0       0 00000\n" +
    " 1 a1              296       2         0       0 00000\n";

  it("parses resolved and unresolved rows with canonical addresses", () => {
    expect(parseIp6MrCache(cache)).toEqual([
      {
        source: "fd00:1::2",
        group: "ff3e::4321",
        parent: 0,
        oifs: new Map([[1, 1]]),
        counters: { packets: 2n, bytes: 296n, wrongIf: 0n },
        unresolved: false,
      },
      {
        source: "fd00:1::2",
        group: "ff3e::9",
        parent: -1,
        oifs: new Map(),
        counters: { packets: 0n, bytes: 0n, wrongIf: 0n },
        unresolved: true,
      },
    ]);
    expect(parseIp6MrCache(Buffer.from(cache))).toEqual(parseIp6MrCache(cache));
    expect(parseIp6MrCache(cache.split("\n")[0] + "\n")).toEqual([]);
  });

  it("parses MIF rows", () => {
    expect(parseIp6MrVif(vif)).toEqual([
      { vif: 0, name: "a0", ifindex: 0, flags: 0, counters: { inBytes: 0n, inPackets: 0n, outBytes: 0n, outPackets: 0n } },
      { vif: 1, name: "a1", ifindex: 0, flags: 0, counters: { inBytes: 296n, inPackets: 2n, outBytes: 0n, outPackets: 0n } },
    ]);
  });

  it("throws on malformed rows rather than guessing", () => {
    expect(() => parseIp6MrCache("ff3e::1 zz 0 0 0 0\n")).toThrow(/address/);
    expect(() => parseIp6MrCache("ff3e::1 :: 0 x 0 0\n")).toThrow(/counter/);
    expect(() => parseIp6MrCache("ff3e::1 :: 0 0 0 0 1-1\n")).toThrow(/oif/);
  });
});

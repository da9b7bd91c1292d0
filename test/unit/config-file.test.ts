import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigFileError, loadConfigFile, parseConfig } from "../../src/shared/route-file.js";
import { didYouMean } from "../../src/shared/did-you-mean.js";

const YAML_FILE = `# /etc/mfcd/routes.yaml
version: 1
routes:
  - source: 10.0.0.1        # sender's unicast address (strict dotted quad)
    group: 239.1.1.1
    iif: eth0
    oifs: [eth1, eth2]
  - { source: 10.0.0.2, group: 239.1.1.2, iif: eth0, oifs: [eth1] }
`;

const JSON_FILE = `{
  "version": 1,
  "routes": [
    { "source": "10.0.0.1", "group": "239.1.1.1", "iif": "eth0",
      "oifs": ["eth1", "eth2"] },
    { "source": "10.0.0.2", "group": "239.1.1.2", "iif": "eth0", "oifs": ["eth1"] }
  ]
}
`;

const EXPECTED = [
  { family: "ipv4", source: "10.0.0.1", group: "239.1.1.1", iif: "eth0", oifs: ["eth1", "eth2"], table: 0 },
  { family: "ipv4", source: "10.0.0.2", group: "239.1.1.2", iif: "eth0", oifs: ["eth1"], table: 0 },
];

/** The ConfigFileError parseConfig throws for `text` (fails the test when it does not throw). */
function errorOf(text: string): ConfigFileError {
  try {
    parseConfig(text, "routes.yaml");
  } catch (err) {
    if (err instanceof ConfigFileError) return err;
    throw err;
  }
  throw new Error("parseConfig accepted the file");
}

/**
 * A one-route file with known positions; values are inserted verbatim. Lines: 3 source (value at
 * column 13), 4 group (12), 5 iif (10), 6 oifs (11), 7 extra (table: 12).
 */
function oneRoute(fields: { source?: string; group?: string; iif?: string; oifs?: string; extra?: string } = {}): string {
  return [
    "version: 1",
    "routes:",
    `  - source: ${fields.source ?? "10.0.0.1"}`,
    `    group: ${fields.group ?? "239.1.1.1"}`,
    `    iif: ${fields.iif ?? "eth0"}`,
    `    oifs: ${fields.oifs ?? "[eth1, eth2]"}`,
    ...(fields.extra === undefined ? [] : [`    ${fields.extra}`]),
    "",
  ].join("\n");
}

describe("parseConfig: valid files", () => {
  it("reads block and flow style YAML with the line each route starts on", () => {
    const routes = parseConfig(YAML_FILE, "routes.yaml");
    expect(routes).toEqual([
      { ...EXPECTED[0], line: 4 },
      { ...EXPECTED[1], line: 8 },
    ]);
  });

  it("reads the equivalent JSON to the same routes", () => {
    const routes = parseConfig(JSON_FILE, "routes.json");
    expect(routes.map(({ line: _line, ...r }) => r)).toEqual(EXPECTED);
    expect(routes.map((r) => r.line)).toEqual([4, 6]);
  });

  it("reads JSON as JSON.stringify writes it, with spaces or tabs, whatever the file is called", () => {
    const doc = { version: 1, routes: EXPECTED.map(({ table: _t, family: _f, ...r }) => r) };
    for (const indent of [2, "\t"]) {
      const routes = parseConfig(JSON.stringify(doc, null, indent), "routes.conf");
      expect(routes.map(({ line: _line, ...r }) => r)).toEqual(EXPECTED);
    }
    expect(parseConfig(JSON.stringify(doc), "x")).toHaveLength(2);
  });

  it("carries an explicit table through", () => {
    const [route] = parseConfig(oneRoute({ extra: "table: 7" }), "routes.yaml");
    expect(route?.table).toBe(7);
  });

  it("accepts `routes: []` as the explicit empty set", () => {
    expect(parseConfig("version: 1\nroutes: []\n", "routes.yaml")).toEqual([]);
    expect(parseConfig('{"version": 1, "routes": []}', "routes.json")).toEqual([]);
  });

  it("resolves YAML aliases, e.g. one oifs list shared by two routes", () => {
    const text = `version: 1
routes:
  - { source: 10.0.0.1, group: 239.1.1.1, iif: eth0, oifs: &downstream [eth1, eth2] }
  - { source: 10.0.0.1, group: 239.1.1.2, iif: eth0, oifs: *downstream }
`;
    expect(parseConfig(text, "routes.yaml").map((r) => r.oifs)).toEqual([
      ["eth1", "eth2"],
      ["eth1", "eth2"],
    ]);
  });
});

describe("parseConfig: field validation at the offending value", () => {
  const manyOifs = `[${Array.from({ length: 32 }, (_, i) => `e${i + 1}`).join(", ")}]`;
  it.each([
    ["shorthand source", { source: "10.1" }, "3:13: routes[0].source: \"10.1\" is not a dotted-quad IPv4 address"],
    ["octal-looking source", { source: "010.0.0.1" }, "3:13: routes[0].source: \"010.0.0.1\" is not a dotted-quad"],
    ["multicast source", { source: "239.0.0.1" }, "3:13: routes[0].source: \"239.0.0.1\" is not a unicast host address"],
    ["source with no value", { source: "" }, "3:5: routes[0].source has no value: write the sender's address, or \"\" for any source (a template)"],
    ["source as a list", { source: "[10.0.0.1]" }, "3:13: routes[0].source must be an address, not a list"],
    ["unicast group", { group: "10.0.0.9" }, "4:12: routes[0].group: \"10.0.0.9\" is not a multicast group"],
    ["link-local group", { group: "224.0.0.5" }, "4:12: routes[0].group: \"224.0.0.5\" is in 224.0.0.0/24"],
    ["null group", { group: "null" }, "4:12: routes[0].group: group is required"],
    ["numeric iif", { iif: "1" }, "5:10: routes[0].iif must be an interface name, not the number 1 (quote it"],
    ["iif as a list", { iif: "[eth0]" }, "5:10: routes[0].iif must be an interface name, not a list"],
    ["long iif", { iif: "a-very-long-interface" }, "5:10: routes[0].iif: \"a-very-long-interface\" is 21 bytes"],
    ["empty oifs", { oifs: "[]" }, "6:11: routes[0].oifs: at least one output interface is required"],
    ["oifs as a string", { oifs: "eth1" }, "6:11: routes[0].oifs must be a list of interface names, not \"eth1\" (write [eth1] for one)"],
    ["oif listed twice", { oifs: "[eth1, eth2, eth1]" }, "6:24: routes[0].oifs[2]: \"eth1\" is listed twice (also oifs[0])"],
    ["iif among the oifs", { oifs: "[eth1, eth0]" }, "6:18: routes[0].oifs[1]: \"eth0\" is the input interface"],
    ["bad oif name", { oifs: "[eth1, a:b]" }, "6:18: routes[0].oifs[1]: \"a:b\" is not a valid interface name"],
    ["numeric oif", { oifs: "[eth1, 2]" }, "6:18: routes[0].oifs[1] must be an interface name, not the number 2"],
    ["32 oifs", { oifs: manyOifs }, "6:11: routes[0].oifs: 32 output interfaces; at most 31"],
    ["negative table", { extra: "table: -1" }, "7:12: routes[0].table must be an unsigned 32-bit integer (a kernel table id), not the number -1"],
    ["string table", { extra: "table: main" }, "7:12: routes[0].table must be an unsigned 32-bit integer (a kernel table id), not \"main\""],
    ["fractional table", { extra: "table: 1.5" }, "7:12: routes[0].table must be an unsigned 32-bit integer"],
  ])("%s", (_name, fields, expected) => {
    const err = errorOf(oneRoute(fields));
    expect(err.problems).toHaveLength(1);
    expect(err.message).toContain(`routes.yaml:${expected}`);
  });

  it("accepts a quoted numeric interface name", () => {
    expect(parseConfig(oneRoute({ iif: '"1"' }), "routes.yaml")[0]?.iif).toBe("1");
  });

  it("names missing keys at the route", () => {
    const err = errorOf("version: 1\nroutes:\n  - { source: 10.0.0.1, group: 239.1.1.1 }\n");
    expect(err.message).toBe("routes.yaml:3:5: routes[0]: missing `iif`, `oifs`");
  });

  it("rejects a route that is not a map", () => {
    const err = errorOf("version: 1\nroutes:\n  - 10.0.0.1 239.1.1.1 eth0 eth1\n");
    expect(err.message).toBe("routes.yaml:3:5: routes[0] must be a map with `source`, `group`, `iif`, `oifs`, not \"10.0.0.1 239.1.1.1 eth0 eth1\"");
  });

  it("rejects a key given twice in one route, naming the first", () => {
    const err = errorOf(oneRoute({ extra: "group: 239.1.1.2" }));
    expect(err.message).toBe("routes.yaml:7:5: routes[0]: `group` is given twice (first at line 4)");
  });
});

describe("parseConfig: unknown keys", () => {
  it("suggests the key a route key misspells, without also calling it missing", () => {
    const err = errorOf(oneRoute().replace("oifs:", "oif:"));
    expect(err.message).toBe("routes.yaml:6:5: routes[0]: unknown key `oif` (did you mean `oifs`?)");
  });

  it("suggests top-level keys", () => {
    const err = errorOf("version: 1\nrotues: []\n");
    expect(err.message).toBe("routes.yaml:2:1: unknown key `rotues` (did you mean `routes`?)");
    expect(errorOf("Version: 1\nroutes: []\n").message).toBe("routes.yaml:1:1: unknown key `Version` (did you mean `version`?)");
  });

  it("lists the valid keys when nothing is close", () => {
    const err = errorOf(oneRoute({ extra: "comment: uplink" }));
    expect(err.message).toBe("routes.yaml:7:5: routes[0]: unknown key `comment` (expected `source`, `group`, `iif`, `oifs`, `table`, `oif_ttl`, `rewrite_source`, `set_ttl`)");
  });

  it("rejects non-string keys", () => {
    expect(errorOf("version: 1\nroutes: []\n1: x\n").message).toBe("routes.yaml:3:1: keys must be plain names (`version`, `routes`)");
  });
});

describe("parseConfig: duplicates", () => {
  it("rejects the same (source, group, table) twice, naming both lines", () => {
    const text = `version: 1
routes:
  - { source: 10.0.0.1, group: 239.1.1.1, iif: eth0, oifs: [eth1] }
  - { source: 10.0.0.1, group: 239.1.1.2, iif: eth0, oifs: [eth1] }
  - { source: 10.0.0.1, group: 239.1.1.1, iif: eth3, oifs: [eth4] }
`;
    expect(errorOf(text).message).toBe(
      "routes.yaml:5:5: routes[2]: duplicate route (source 10.0.0.1, group 239.1.1.1, table 0) at lines 3 and 5; " +
        "each (source, group, table) may appear only once",
    );
  });

  it("allows the same (source, group) in different tables", () => {
    const text = `version: 1
routes:
  - { source: 10.0.0.1, group: 239.1.1.1, iif: eth0, oifs: [eth1] }
  - { source: 10.0.0.1, group: 239.1.1.1, iif: eth0, oifs: [eth1], table: 1 }
`;
    expect(parseConfig(text, "routes.yaml").map((r) => r.table)).toEqual([0, 1]);
  });
});

describe("parseConfig: everything AddRoute accepts (one schema with the RPC)", () => {
  const file = (...routes: string[]) => ["version: 1", "routes:", ...routes.map((r) => `  - ${r}`), ""].join("\n");

  it("reads an IPv6 route, canonical like the RPC's", () => {
    const [route] = parseConfig(file("{ source: 2001:DB8::0001, group: ff05::1:3, iif: eth0, oifs: [eth1] }"), "r.yaml");
    expect(route).toEqual({ family: "ipv6", table: 0, source: "2001:db8::1", group: "ff05::1:3", iif: "eth0", oifs: ["eth1"], line: 3 });
  });

  it("reads templates: any-source and prefixes, one per iif", () => {
    const routes = parseConfig(
      file(
        '{ source: "", group: 239.2.0.0/16, iif: eth0, oifs: [eth1] }',
        '{ source: "", group: 239.2.0.0/16, iif: eth2, oifs: [eth1] }',
        "{ source: 10.0.0.5/8, group: 239.3.3.3, iif: eth0, oifs: [eth1] }",
        '{ source: "", group: ff05::/16, iif: eth0, oifs: [eth1] }',
      ),
      "r.yaml",
    );
    expect(routes.map((r) => [r.family, r.source, r.group, r.iif])).toEqual([
      ["ipv4", "", "239.2.0.0/16", "eth0"],
      ["ipv4", "", "239.2.0.0/16", "eth2"],
      ["ipv4", "10.0.0.0/8", "239.3.3.3", "eth0"],
      ["ipv6", "", "ff05::/16", "eth0"],
    ]);
  });

  it("reads oif_ttl, table and the rescue options", () => {
    const [route] = parseConfig(
      oneRoute({ extra: "table: 7\n    oif_ttl: { eth1: 16, eth2: 1 }\n    rewrite_source: 10.9.9.9\n    set_ttl: 64" }),
      "r.yaml",
    );
    expect(route).toEqual({
      family: "ipv4",
      table: 7,
      source: "10.0.0.1",
      group: "239.1.1.1",
      iif: "eth0",
      oifs: ["eth1", "eth2"],
      oifTtl: { eth1: 16 },
      rewriteSource: "10.9.9.9",
      setTtl: 64,
      line: 3,
    });
  });

  it.each([
    ["an IPv6 link-local group", "{ source: 2001:db8::1, group: ff02::1, iif: eth0, oifs: [eth1] }", "3:35: routes[0].group: \"ff02::1\" has link-local (ffx2::) scope"],
    ["mixed families", "{ source: 10.0.0.1, group: ff05::1, iif: eth0, oifs: [eth1] }", "3:15: routes[0].source: \"10.0.0.1\" is IPv4 but the group is IPv6"],
    ["an oif_ttl of an interface that is no oif", "{ source: 10.0.0.1, group: 239.1.1.1, iif: eth0, oifs: [eth1], oif_ttl: { eth9: 2 } }", "3:79: routes[0].oif_ttl[eth9]: \"eth9\" is not one of the oifs"],
    ["an oif_ttl out of range", "{ source: 10.0.0.1, group: 239.1.1.1, iif: eth0, oifs: [eth1], oif_ttl: { eth1: 255 } }", "3:79: routes[0].oif_ttl[eth1]: 255: a TTL threshold is 1..254"],
    ["an oif_ttl that is no number", "{ source: 10.0.0.1, group: 239.1.1.1, iif: eth0, oifs: [eth1], oif_ttl: { eth1: x } }", "3:85: routes[0].oif_ttl[eth1] must be a number, not \"x\""],
    ["an IPv6 TTL threshold", "{ source: 2001:db8::1, group: ff05::1, iif: eth0, oifs: [eth1], oif_ttl: { eth1: 3 } }", "3:80: routes[0].oif_ttl[eth1]: IPv6 multicast routes have no TTL thresholds"],
    ["the default table's kernel id", "{ source: 10.0.0.1, group: 239.1.1.1, iif: eth0, oifs: [eth1], table: 253 }", "3:75: routes[0].table: 253 is the kernel's id of the default ipv4 table: use 0 for it"],
    ["rescue on a template", '{ source: "", group: 239.1.1.1, iif: eth0, oifs: [eth1], set_ttl: 9 }', "3:71: routes[0].set_ttl: rescue options need a concrete (source, group)"],
    ["a rewrite_source that is no unicast address", "{ source: 10.0.0.1, group: 239.1.1.1, iif: eth0, oifs: [eth1], rewrite_source: 239.0.0.1 }", "3:84: routes[0].rewrite_source: \"239.0.0.1\" is not a unicast dotted-quad IPv4 address"],
    ["a set_ttl of 1", "{ source: 10.0.0.1, group: 239.1.1.1, iif: eth0, oifs: [eth1], set_ttl: 1 }", "3:77: routes[0].set_ttl: 1 is not a useful TTL"],
    ["a set_ttl that is no integer", "{ source: 10.0.0.1, group: 239.1.1.1, iif: eth0, oifs: [eth1], set_ttl: 2.5 }", "3:77: routes[0].set_ttl must be an integer 0..255 (a TTL), not the number 2.5"],
  ])("names file, line, column and field for %s", (_name, route, expected) => {
    const err = errorOf(file(route));
    expect(err.problems).toHaveLength(1);
    expect(err.message).toContain(`routes.yaml:${expected}`);
  });

  it("rejects the same template twice on one iif, naming both lines", () => {
    const t = '{ source: "", group: 239.2.0.0/16, iif: eth0, oifs: [eth1] }';
    expect(errorOf(file(t, t)).message).toContain("routes.yaml:4:5: routes[1]: duplicate route");
  });
});

describe("parseConfig: file structure", () => {
  it("requires a routes key: a file without one must not empty the router", () => {
    expect(errorOf("version: 1\n").message).toBe(
      "routes.yaml:1:1: missing `routes`: list the routes, or write `routes: []` to remove all config routes",
    );
  });

  it("rejects `routes:` with nothing after it (e.g. every route commented out)", () => {
    const err = errorOf("version: 1\nroutes:\n#  - { source: 10.0.0.1 }\n");
    expect(err.message).toBe(
      "routes.yaml:2:1: `routes` has no value: list the routes under it, or write `routes: []` to remove all config routes",
    );
  });

  it("rejects routes that is not a list", () => {
    expect(errorOf("version: 1\nroutes: { source: 10.0.0.1 }\n").message).toBe(
      "routes.yaml:2:9: `routes` must be a list of routes, not a map",
    );
  });

  it.each([
    ["version: 2\nroutes: []\n", "routes.yaml:1:10: unsupported version 2: this mfcd reads version 1"],
    ['version: "1"\nroutes: []\n', 'routes.yaml:1:10: `version` must be the number 1, not "1"'],
    ["routes: []\n", "routes.yaml:1:1: missing `version: 1` (the schema version the file is written for)"],
  ])("checks the version: %j", (text, expected) => {
    expect(errorOf(text).message).toBe(expected);
  });

  it.each([
    ["", "routes.yaml:1:1: the file is empty: expected `version: 1` and `routes`"],
    ["# nothing yet\n", "routes.yaml:1:1: the file is empty: expected `version: 1` and `routes`"],
    ["- source: 10.0.0.1\n", "routes.yaml:1:1: the file must be a map with `version` and `routes`, not a list"],
  ])("rejects a file without the top-level map: %j", (text, expected) => {
    expect(errorOf(text).message).toBe(expected);
  });

  it("reports YAML syntax errors with their position", () => {
    const err = errorOf("version: 1\nroutes:\n  - source: 10.0.0.1\n   group: 239.1.1.1\n");
    expect(err.message).toBe("routes.yaml:4:1: YAML: Sequence item without - indicator");
    expect(err.problems).toEqual([{ line: 4, column: 1, message: "YAML: Sequence item without - indicator" }]);
  });

  it("reports JSON syntax errors with their position", () => {
    const err = errorOf('{\n  "version": 1,\n  "routes": [\n    { "source": "10.0.0.1",, }\n  ]\n}\n');
    expect(err.message).toMatch(/^routes\.yaml:4:28: YAML: /m);
  });

  it("rejects a second YAML document", () => {
    const err = errorOf("version: 1\nroutes: []\n---\nversion: 1\n");
    expect(err.message).toBe("routes.yaml:3:1: YAML: a second document starts here; the file must hold exactly one");
  });

  it("reports every problem at once, in file order", () => {
    const text = `version: 3
routes:
  - source: 10.1
    group: 239.1.1.1
    iif: eth0
    oif: [eth1]
  - { source: 10.0.0.2, group: 10.0.0.3, iif: eth0, oifs: [eth0] }
  - { source: 10.0.0.4, group: 239.1.1.4, iif: eth0, oifs: [eth1], tabel: 2 }
`;
    const err = errorOf(text);
    expect(err.path).toBe("routes.yaml");
    expect(err.problems.map((p) => `${p.line}:${p.column}`)).toEqual(["1:10", "3:13", "6:5", "7:32", "7:60", "8:68"]);
    expect(err.message.split("\n")).toEqual([
      "routes.yaml:1:10: unsupported version 3: this mfcd reads version 1",
      'routes.yaml:3:13: routes[0].source: "10.1" is not a dotted-quad IPv4 address (four decimal octets such as 10.0.0.1; shorthand like 10.1 is not accepted)',
      "routes.yaml:6:5: routes[0]: unknown key `oif` (did you mean `oifs`?)",
      'routes.yaml:7:32: routes[1].group: "10.0.0.3" is not a multicast group (must be in 224.0.0.0/4)',
      'routes.yaml:7:60: routes[1].oifs[0]: "eth0" is the input interface; forwarding back out of the iif is not allowed',
      "routes.yaml:8:68: routes[2]: unknown key `tabel` (did you mean `table`?)",
    ]);
  });
});

describe("loadConfigFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "mfcd-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads and parses a file", () => {
    const path = join(dir, "routes.yaml");
    writeFileSync(path, YAML_FILE);
    expect(loadConfigFile(path)).toHaveLength(2);
  });

  it("names the file in parse errors", () => {
    const path = join(dir, "broken.json");
    writeFileSync(path, '{"version": 1}');
    expect(() => loadConfigFile(path)).toThrow(`${path}:1:1: missing \`routes\``);
  });

  it("turns a missing file into a ConfigFileError naming it", () => {
    const path = join(dir, "absent.yaml");
    let caught: unknown;
    try {
      loadConfigFile(path);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigFileError);
    expect((caught as ConfigFileError).message).toBe(`${path}: cannot read config file: no such file`);
    expect((caught as ConfigFileError).problems).toEqual([{ line: 0, column: 0, message: "cannot read config file: no such file" }]);
  });

  it("rejects a directory", () => {
    expect(() => loadConfigFile(dir)).toThrow(`${dir}: cannot read config file: it is a directory`);
  });
});

describe("didYouMean", () => {
  const routeKeys = ["source", "group", "iif", "oifs", "table"];
  it.each([
    ["oif", new Set(["iif"]), "oifs"],
    ["sorce", new Set<string>(), "source"],
    ["gruop", new Set<string>(), "group"],
    ["Table", new Set<string>(), "table"],
    ["comment", new Set<string>(), undefined],
    ["src", new Set<string>(), undefined],
  ])("%s → %s", (word, taken, expected) => {
    expect(didYouMean(word, routeKeys, taken)).toBe(expected);
  });
});

// Pure rendering of mfcctl: tables, `ls`, the watch screen and its plain fallback, rates, JSON,
// and how RPC errors are printed.
import { describe, expect, it } from "vitest";
import { BadRequest, ErrorInfo, PreconditionFailure, RichClientError } from "nice-grpc-error-details";
import { describeError } from "../../src/cli/describe-error.js";
import { formatBitRate, formatSi } from "../../src/cli/format-quantity.js";
import { formatUptime, renderInfo } from "../../src/cli/render-info.js";
import { renderRouteList } from "../../src/cli/render-route-list.js";
import { renderTable } from "../../src/cli/render-table.js";
import { toProtoJson } from "../../src/cli/to-proto-json.js";
import { renderWatchFrame, renderWatchLines, WatchScreen } from "../../src/cli/watch-screen.js";
import { watchUpdates } from "../../src/cli/watch-updates.js";
import { GetInfoResponse, ListRoutesResponse, RouteState, WatchStatsResponse, type RouteStats } from "../../src/gen/mfc.js";
import { ConfigFileError } from "../../src/shared/route-file.js";
import { MfcError, Status } from "../../src/sdk/index.js";

const list = ListRoutesResponse.fromPartial({
  routes: [
    {
      route: { source: "10.0.0.1", group: "239.1.1.1", iif: "in0", oifs: ["out1", "out2"], oifTtl: { out2: 16 } },
      state: RouteState.ROUTE_STATE_INSTALLED,
      owner: "api",
      counters: { packets: 12n, bytes: 3456n, wrongIf: 1n },
    },
    {
      route: { source: "", group: "239.2.0.0/16", iif: "in0", oifs: ["out9"] },
      state: RouteState.ROUTE_STATE_PENDING,
      owner: "mfcctl",
      reason: "waiting for interface out9",
      missingInterfaces: ["out9"],
    },
  ],
  vifs: [{ vif: 0, interface: "in0", ifindex: 4, refs: 2, up: true, running: true, family: "ipv4", inPackets: 12n }],
});

describe("renderTable", () => {
  it("aligns columns, numbers to the right", () => {
    expect(renderTable([{ header: "NAME" }, { header: "N", align: "right" }, { header: "NOTE" }], [["a", "100", "x"], ["bbbbbb", "2", ""]])).toEqual([
      "NAME      N  NOTE",
      "a       100  x",
      "bbbbbb    2",
    ]);
  });
});

describe("renderRouteList", () => {
  it("routes with state, owner, counters and notes, then VIFs", () => {
    const text = renderRouteList(list);
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^SOURCE\s+GROUP\s+IIF\s+OIFS\s+STATE\s+OWNER\s+PACKETS\s+BYTES\s+WRONG_IF\s+NOTES$/);
    expect(lines[1]).toMatch(/^10\.0\.0\.1\s+239\.1\.1\.1\s+in0\s+out1,out2\s+INSTALLED\s+api\s+12\s+3456\s+1\s+ttl out2=16$/);
    expect(lines[2]).toMatch(/^\*\s+239\.2\.0\.0\/16\s+in0\s+out9\s+PENDING\s+mfcctl\s+0\s+0\s+0\s+waiting for interface out9$/);
    expect(text).toContain("VIFs:");
    expect(text).toMatch(/0\s+ipv4\s+in0\s+4\s+2\s+up\s+12/);
    expect(text).not.toContain("TABLE"); // only when a non-default table is in use
    expect(text).not.toContain("Foreign");
  });

  it("says so when there is nothing", () => {
    expect(renderRouteList(ListRoutesResponse.fromPartial({}))).toBe("no routes\n");
  });
});

const info = GetInfoResponse.fromPartial({
  version: "0.1.0",
  kernelRelease: "6.12.0-uml",
  kernelCapabilities: [
    { name: "ipv4", option: "CONFIG_IP_MROUTE", description: "IPv4 multicast routing", available: true, detail: "MRT_INIT ok" },
    { name: "ipv6-tables", option: "CONFIG_IPV6_MROUTE_MULTIPLE_TABLES", description: "IPv6 tables", available: false, detail: "ENOPROTOOPT" },
  ],
  ownedTables: [
    { family: "ipv4", table: 0 },
    { family: "ipv4", table: 7 },
  ],
  startTime: { seconds: BigInt(Date.parse("2026-12-07T10:00:00Z") / 1000), nanos: 0 },
  stateFile: "/var/lib/mfcd/host.state",
});

describe("renderInfo", () => {
  it("version, kernel, start, state file, tables, then the capability table", () => {
    const lines = renderInfo(info, new Date("2026-12-07T12:05:09Z")).split("\n");
    expect(lines.slice(0, 5)).toEqual([
      "mfcd        0.1.0",
      "kernel      6.12.0-uml",
      "started     2026-12-07T10:00:00.000Z (up 2h 5m)",
      "state file  /var/lib/mfcd/host.state",
      "tables      ipv4 0, ipv4 7",
    ]);
    expect(lines[6]).toBe("kernel capabilities:");
    expect(lines[7]).toMatch(/^ {2}NAME\s+AVAILABLE\s+NEEDS\s+DETAIL$/);
    expect(lines[8]).toMatch(/^ {2}ipv4\s+yes\s+CONFIG_IP_MROUTE\s+MRT_INIT ok$/);
    expect(lines[9]).toMatch(/^ {2}ipv6-tables\s+no\s+CONFIG_IPV6_MROUTE_MULTIPLE_TABLES\s+ENOPROTOOPT$/);
    expect(lines.at(-1)).toBe("");
  });

  it("says so when there is no state file, no table, no capability", () => {
    const text = renderInfo(
      GetInfoResponse.fromPartial({ version: "0.1.0", kernelRelease: "6.1.0", startTime: { seconds: 0n, nanos: 0 } }),
      new Date(40_000),
    );
    expect(text).toContain("state file  none (--state-file none)");
    expect(text).toContain("tables      none");
    expect(text).toContain("started     1970-01-01T00:00:00.000Z (up 40s)");
    expect(text).toContain("kernel capabilities: not reported by this mfcd");
  });

  it.each([
    [0, "0s"],
    [59_999, "59s"],
    [61_000, "1m 1s"],
    [3_600_000, "1h"],
    [90_061_000, "1d 1h"],
  ])("formatUptime(%d) = %s", (ms, text) => {
    expect(formatUptime(ms)).toBe(text);
  });
});

describe("toProtoJson", () => {
  it("GetInfoResponse: capabilities, owned tables, RFC 3339 start time, snake_case", () => {
    const json = toProtoJson(GetInfoResponse, "mfc.v1.GetInfoResponse", info) as Record<string, unknown>;
    expect(json).toEqual({
      version: "0.1.0",
      kernel_release: "6.12.0-uml",
      kernel_capabilities: [
        { name: "ipv4", option: "CONFIG_IP_MROUTE", description: "IPv4 multicast routing", available: true, detail: "MRT_INIT ok" },
        {
          name: "ipv6-tables",
          option: "CONFIG_IPV6_MROUTE_MULTIPLE_TABLES",
          description: "IPv6 tables",
          available: false,
          detail: "ENOPROTOOPT",
        },
      ],
      owned_tables: [
        { family: "ipv4", table: 0 },
        { family: "ipv4", table: 7 },
      ],
      start_time: "2026-12-07T10:00:00Z",
      state_file: "/var/lib/mfcd/host.state",
    });
  });

  it("proto3 JSON with defaults and snake_case names", () => {
    const json = toProtoJson(ListRoutesResponse, "mfc.v1.ListRoutesResponse", list) as {
      routes: { state: string; counters: Record<string, string>; missing_interfaces: string[]; route: { oif_ttl: object } }[];
      foreign_entries: unknown[];
    };
    expect(json.routes[0]!.state).toBe("ROUTE_STATE_INSTALLED");
    expect(json.routes[0]!.counters).toEqual({ packets: "12", bytes: "3456", wrong_if: "1" });
    expect(json.routes[0]!.route.oif_ttl).toEqual({ out2: 16 });
    expect((json.routes[1] as unknown as { drift_repairs: number }).drift_repairs).toBe(0);
    expect(json.routes[1]!.missing_interfaces).toEqual(["out9"]);
    expect(json.foreign_entries).toEqual([]);
  });
});

describe("rates", () => {
  it.each([
    [0, "0"],
    [12.345, "12.3"],
    [999, "999"],
    [1234, "1.23k"],
    [8_190_000, "8.19M"],
  ])("formatSi(%d) = %s", (v, s) => expect(formatSi(v)).toBe(s));
  it("bit rates from byte rates", () => expect(formatBitRate(125_000)).toBe("1Mbit/s"));
});

const stats = (group: string, pps: number, extra: Partial<RouteStats> = {}): RouteStats => ({
  source: "10.0.0.1",
  group,
  iif: "in0",
  table: 0,
  counters: { packets: 100n, bytes: 10_000n, wrongIf: 3n },
  packetsPerSecond: pps,
  bytesPerSecond: pps * 100,
  learned: false,
  template: "",
  ...extra,
});
const update = { time: new Date("2026-01-02T03:04:05.678Z"), routes: [stats("239.1.1.1", 10), stats("239.1.1.2", 500)], vifs: [] };

describe("watch view", () => {
  it("the screen: header, busiest route first, rates", () => {
    const lines = renderWatchFrame(update, { addr: "unix:/x.sock", intervalMs: 1000, columns: 200, rows: 40 });
    expect(lines[0]).toContain("unix:/x.sock");
    expect(lines[0]).toContain("03:04:05.678");
    expect(lines[1]).toBe("2 route(s)  total 510 pkt/s  408kbit/s");
    expect(lines[3]).toMatch(/^SOURCE\s+GROUP\s+IIF\s+PKT\/S\s+BIT\/S\s+WRONG_IF\s+PACKETS\s+BYTES$/);
    expect(lines[4]).toMatch(/^10\.0\.0\.1\s+239\.1\.1\.2\s+in0\s+500\s+400kbit\/s\s+3\s+100\s+10000$/);
    expect(lines[5]).toMatch(/239\.1\.1\.1\s+in0\s+10\s+8kbit\/s/);
  });

  it("fits the terminal", () => {
    const many = { ...update, routes: Array.from({ length: 50 }, (_, i) => stats(`239.1.1.${i}`, i)) };
    const lines = renderWatchFrame(many, { addr: "a", intervalMs: 1000, columns: 30, rows: 10 });
    expect(lines).toHaveLength(10);
    expect(lines[9]).toMatch(/^… \d+ more/);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(30);
  });

  it("plain lines, one per route", () => {
    expect(renderWatchLines(update)).toEqual([
      "03:04:05.678 (10.0.0.1, 239.1.1.1) iif in0 pps=10.0 bps=8000 wrong_if=3 packets=100 bytes=10000",
      "03:04:05.678 (10.0.0.1, 239.1.1.2) iif in0 pps=500.0 bps=400000 wrong_if=3 packets=100 bytes=10000",
    ]);
    expect(renderWatchLines({ ...update, routes: [] })).toEqual(["03:04:05.678 no routes"]);
  });

  it("entries learned from a template say which template taught them", () => {
    const learned = { ...update, routes: [stats("239.2.0.9", 5, { learned: true, template: "(*, 239.2.0.0/16) from in0" })] };
    const frame = renderWatchFrame(learned, { addr: "a", intervalMs: 1000, columns: 200, rows: 40 });
    expect(frame[3]).toMatch(/BYTES\s+LEARNED FROM$/);
    expect(frame[4]).toMatch(/\(\*, 239\.2\.0\.0\/16\) from in0$/);
    expect(renderWatchLines(learned)[0]).toMatch(/ learned_from="\(\*, 239\.2\.0\.0\/16\) from in0"$/);
  });

  it("the screen uses the alternate screen, redraws from home and restores the terminal", () => {
    let out = "";
    const screen = new WatchScreen({ write: (s: string) => (out += s), columns: 80, rows: 24 }, { addr: "a", intervalMs: 1000 });
    screen.enter();
    screen.draw(update);
    screen.leave();
    screen.leave();
    expect(out.startsWith("\x1b[?1049h")).toBe(true);
    expect(out).toContain("\x1b[H");
    expect(out.endsWith("\x1b[?25h\x1b[?1049l")).toBe(true);
    expect(out.split("\x1b[?1049l")).toHaveLength(2); // restored once
  });

  it("parts of one update are joined", async () => {
    const time = { seconds: 10n, nanos: 0 };
    async function* messages() {
      yield WatchStatsResponse.fromPartial({ time, routes: [stats("239.0.0.1", 1)], vifs: [{ vif: 1 }], part: 0, parts: 2 });
      yield WatchStatsResponse.fromPartial({ time, routes: [stats("239.0.0.2", 1)], part: 1, parts: 2 });
      yield WatchStatsResponse.fromPartial({ time: { seconds: 11n, nanos: 0 }, routes: [], part: 0, parts: 1 });
    }
    const got = [];
    for await (const u of watchUpdates(messages())) got.push(u);
    expect(got.map((u) => u.routes.map((r) => r.group))).toEqual([["239.0.0.1", "239.0.0.2"], []]);
    expect(got[0]!.vifs).toHaveLength(1);
    expect(got[0]!.time.getTime()).toBe(10_000);
  });
});

describe("describeError", () => {
  const rich = (code: Status, details: string, extra: ConstructorParameters<typeof RichClientError>[3]) =>
    new MfcError(new RichClientError("/mfc.v1.MfcService/AddRoute", code, details, extra));

  it("status, message and every detail in readable lines", () => {
    const err = rich(Status.INVALID_ARGUMENT, "route.group: 224.0.0.5 is link-local; route.oifs[1]: bad", [
      BadRequest.fromPartial({
        fieldViolations: [
          { field: "route.group", description: "224.0.0.5 is link-local" },
          { field: "route.oifs[1]", description: "bad" },
        ],
      }),
      ErrorInfo.fromPartial({ reason: "INVALID_FIELD", domain: "mfcd.v1", metadata: { owner: "api" } }),
      PreconditionFailure.fromPartial({ violations: [{ type: "INTERFACE", subject: "eth9", description: "does not exist" }] }),
    ]);
    const r = describeError(err, "unix:/x.sock");
    expect(r.lines).toEqual([
      "INVALID_ARGUMENT: route.group: 224.0.0.5 is link-local; route.oifs[1]: bad",
      "  field route.group: 224.0.0.5 is link-local",
      "  field route.oifs[1]: bad",
      "  reason: INVALID_FIELD (mfcd.v1) owner=api",
      "  precondition INTERFACE eth9: does not exist",
    ]);
    expect(r.json).toMatchObject({
      error: {
        code: 3,
        status: "INVALID_ARGUMENT",
        details: [
          { "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "route.group" }, { field: "route.oifs[1]" }] },
          { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "INVALID_FIELD" },
          { "@type": "type.googleapis.com/google.rpc.PreconditionFailure" },
        ],
      },
    });
  });

  it("a single violation that is the message is not repeated", () => {
    const err = rich(Status.INVALID_ARGUMENT, "route.group: 224.0.0.5 is link-local", [
      BadRequest.fromPartial({ fieldViolations: [{ field: "route.group", description: "224.0.0.5 is link-local" }] }),
    ]);
    expect(describeError(err, "a").lines).toEqual(["INVALID_ARGUMENT: route.group: 224.0.0.5 is link-local"]);
  });

  it("an unreachable socket names the address and suggests --addr", () => {
    const err = rich(
      Status.UNAVAILABLE,
      "No connection established. Last error: Error: connect ENOENT /run/mfcd/mfcd.sock. Resolution note: ",
      [],
    );
    const r = describeError(err, "unix:/run/mfcd/mfcd.sock");
    expect(r.lines[0]).toBe("cannot reach mfcd at unix:/run/mfcd/mfcd.sock: connect ENOENT /run/mfcd/mfcd.sock");
    expect(r.lines[1]).toContain("--addr");
  });

  it("a bad route file lists its problems", () => {
    const err = new ConfigFileError("r.yaml", [{ line: 3, column: 5, message: "unknown key `oif`" }]);
    expect(describeError(err, "a").lines).toEqual(["r.yaml: not applied, the route file has 1 problem(s):", "  r.yaml:3:5: unknown key `oif`"]);
  });
});

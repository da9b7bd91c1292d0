// GetInfo over real gRPC (fake kernel): what the daemon reports about itself.
import { execFile } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCommand } from "../../src/cli/run-command.js";
import { FAKE_KERNEL_INFO, FAKE_STATE_FILE, startFakeServer, type FakeServer } from "./start-fake-server.js";

describe("GetInfo over gRPC (fake kernel)", () => {
  let s: FakeServer;
  beforeEach(async () => {
    s = await startFakeServer();
  });
  afterEach(async () => {
    await s.close();
  });

  it("reports version, kernel, capabilities, start time and state file", async () => {
    const info = await s.client.getInfo({});
    const pkg = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(info.version).toBe(pkg.version);
    expect(info.kernelRelease).toBe(FAKE_KERNEL_INFO.release);
    expect(info.kernelCapabilities).toEqual(
      FAKE_KERNEL_INFO.capabilities.map((c) => ({
        name: c.name,
        option: c.option,
        description: c.what,
        available: c.available,
        detail: c.detail,
      })),
    );
    expect(info.stateFile).toBe(FAKE_STATE_FILE);
    const started = Number(info.startTime?.seconds ?? 0n) * 1000;
    expect(started).toBeGreaterThan(Date.now() - process.uptime() * 1000 - 2000);
    expect(started).toBeLessThanOrEqual(Date.now());
  });

  it("lists IPv4 table 0 from the start, and a table once a route needs it", async () => {
    expect((await s.client.getInfo({})).ownedTables).toEqual([{ family: "ipv4", table: 0 }]);
    await s.client.addRoute({ route: { source: "10.0.0.1", group: "239.1.1.1", iif: "eth0", oifs: ["eth1"], table: 7 } });
    expect((await s.client.getInfo({})).ownedTables).toEqual([
      { family: "ipv4", table: 0 },
      { family: "ipv4", table: 7 },
    ]);
  });

  it("is callable through reflection (buf curl), as grpcurl users would", async () => {
    // Async: the server runs in this process, a blocking exec would deadlock it.
    const { stdout } = await promisify(execFile)(
      "npx",
      ["buf", "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--unix-socket", s.socketPath, "-d", "{}", "http://localhost/mfc.v1.MfcService/GetInfo"],
      { encoding: "utf8" },
    );
    const reply = JSON.parse(stdout) as { kernelRelease: string; ownedTables: unknown[] };
    expect(reply.kernelRelease).toBe(FAKE_KERNEL_INFO.release);
    expect(reply.ownedTables).toEqual([{ family: "ipv4" }]); // table 0 is proto3's default: omitted
  });

  it("mfcctl info renders it, and --json prints proto3 JSON", async () => {
    const run = async (json: boolean) => {
      let out = "";
      const stdout = { write: (t: string) => ((out += t), true) };
      const code = await runCommand(
        { addr: undefined, json, help: false, command: { name: "info" } },
        { client: s.client, addr: s.socketPath, stdout, signal: new AbortController().signal },
      );
      expect(code).toBe(0);
      return out;
    };
    const text = await run(false);
    expect(text).toContain(`kernel      ${FAKE_KERNEL_INFO.release}\n`);
    expect(text).toContain(`state file  ${FAKE_STATE_FILE}\n`);
    expect(text).toContain("tables      ipv4 0\n");
    expect(text).toMatch(/^ {2}ipv4\s+yes\s+CONFIG_IP_MROUTE\s+fake kernel$/m);
    expect(text).toMatch(/^ {2}ipv6\s+no\s+CONFIG_IPV6_MROUTE\s+fake kernel$/m);
    const json = JSON.parse(await run(true)) as Record<string, unknown>;
    expect(json).toMatchObject({
      kernel_release: FAKE_KERNEL_INFO.release,
      owned_tables: [{ family: "ipv4", table: 0 }],
      state_file: FAKE_STATE_FILE,
    });
    expect(json.start_time).toMatch(/^\d{4}-\d\d-\d\dT/);
  });
});

import fs from "node:fs";
import { execFile } from "node:child_process";
import { Client, credentials, type ServiceError } from "@grpc/grpc-js";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RouteState, Status, createMfcClient } from "../../src/sdk/index.js";
import { startFakeServer, type FakeServer } from "./start-fake-server.js";
import { rejection } from "../helpers/rejection.js";


const route = (over: Partial<{ source: string; group: string; iif: string; oifs: string[] }> = {}) => ({
  source: "10.0.0.1",
  group: "239.1.1.1",
  iif: "eth0",
  oifs: ["eth1", "eth2"],
  ...over,
});

describe("MfcService over gRPC (fake kernel)", () => {
  let s: FakeServer;
  beforeEach(async () => {
    s = await startFakeServer();
  });
  afterEach(async () => {
    await s.close();
  });

  it("AddRoute installs and ListRoutes reports it with VIFs", async () => {
    const res = await s.client.addRoute({ route: route() });
    expect(res.route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
    const list = await s.client.listRoutes({});
    expect(list.routes.map((r) => r.route)).toEqual([{ ...route(), oifTtl: {}, table: 0 }]);
    expect(list.vifs.map((v) => [v.vif, v.interface, v.refs])).toEqual([[0, "eth0", 1], [1, "eth1", 1], [2, "eth2", 1]]);
  });

  it.each([
    [{ source: "10.1" }, "route.source", "shorthand"],
    [{ source: "10.0.0.0/33" }, "route.source", "prefix"],
    [{ source: "010.0.0.1" }, "route.source", "dotted-quad"],
    [{ source: "239.1.1.1" }, "route.source", "unicast"],
    [{ group: "10.0.0.1" }, "route.group", "224.0.0.0/4"],
    [{ group: "224.0.0.251" }, "route.group", "link-local"],
    [{ group: "239.1.1.256" }, "route.group", "dotted-quad"],
    [{ iif: "" }, "route.iif", "required"],
    [{ iif: "a-very-long-name0" }, "route.iif", "at most 15"],
    [{ iif: "eth 0" }, "route.iif", "whitespace"],
    [{ oifs: [] }, "route.oifs", "at least one"],
    [{ oifs: ["eth1", "eth1"] }, "route.oifs[1]", "twice"],
    [{ oifs: ["eth1", "eth0"] }, "route.oifs[1]", "input interface"],
    [{ oifs: ["eth/1"] }, "route.oifs[0]", "not a valid"],
    [{ oifs: Array.from({ length: 32 }, (_, i) => `x${i}`) }, "route.oifs", "at most 31"],
  ])("AddRoute %j → INVALID_ARGUMENT naming %s", async (over, field, words) => {
    const err = await rejection(s.client.addRoute({ route: route(over) }));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    const violation = err.fieldViolations.find((v) => v.field === field);
    expect(violation?.description).toContain(words);
    expect(s.kernel.calls).toEqual([]);
  });

  // Found by test/server/fuzz-requests.test.ts: the error quoted the whole value, its trailers
  // exceeded 64 KiB and the client waited for its deadline (DEADLINE_EXCEEDED after 5 s).
  it("a 100 000-character group → INVALID_ARGUMENT naming route.group at once, the value shortened", async () => {
    const err = await rejection(s.client.addRoute({ route: route({ group: "1".repeat(100_000) }) }, { deadline: 2000 }));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    const violation = err.fieldViolations.find((v) => v.field === "route.group");
    expect(violation?.description).toContain("characters left out");
    expect(violation?.description).toContain("dotted-quad");
    const many = await rejection(
      s.client.applyRoutes({ routes: Array.from({ length: 200 }, () => route({ source: "1".repeat(20_000) })) }, { deadline: 5000 }),
    );
    expect(many.code).toBe(Status.INVALID_ARGUMENT);
    expect(many.fieldViolations[0]?.field).toBe("routes[0].source");
    expect(many.details).toContain("more problems not listed");
  });

  // Found by test/server/fuzz-requests.test.ts: grpc-js answers a body that does not decode
  // with INTERNAL ("Error deserializing request"), as if mfcd were broken.
  it("an AddRoute body that is not a message (0x0a: field 1 without its length) → INVALID_ARGUMENT", async () => {
    const raw = new Client(`unix:${s.socketPath}`, credentials.createInsecure());
    const err = await new Promise<ServiceError | null>((resolve) => {
      const id = (b: Buffer) => b;
      raw.makeUnaryRequest("/mfc.v1.MfcService/AddRoute", id, id, Buffer.from([0x0a]), (e) => resolve(e));
    });
    raw.close();
    expect(err?.code).toBe(Status.INVALID_ARGUMENT);
    expect(err?.details).toContain("not a valid mfc.v1.AddRouteRequest message");
    expect(s.kernel.calls).toEqual([]);
  });

  it("AddRoute without a route → INVALID_ARGUMENT naming route", async () => {
    const err = await rejection(s.client.addRoute({}));
    expect(err.fieldViolations.map((v) => v.field)).toEqual(["route"]);
  });

  it("unknown interface with require_interfaces → FAILED_PRECONDITION naming it", async () => {
    const err = await rejection(
      s.client.addRoute({ route: route({ oifs: ["eth1", "wlan9"] }), requireInterfaces: true }),
    );
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain("wlan9");
    expect(err.reason).toBe("INTERFACE_NOT_FOUND");
  });

  it("same key with other oifs → ALREADY_EXISTS, replace switches", async () => {
    await s.client.addRoute({ route: route() });
    const err = await rejection(s.client.addRoute({ route: route({ oifs: ["eth3"] }) }));
    expect(err.code).toBe(Status.ALREADY_EXISTS);
    const res = await s.client.addRoute({ route: route({ oifs: ["eth3"] }), replace: true });
    expect(res.route?.route?.oifs).toEqual(["eth3"]);
  });

  it("DelRoute: NOT_FOUND when absent, validation of its fields", async () => {
    const missing = await rejection(s.client.delRoute({ source: "10.0.0.1", group: "239.1.1.1" }));
    expect(missing.code).toBe(Status.NOT_FOUND);
    const bad = await rejection(s.client.delRoute({ source: "x", group: "1.2.3.4" }));
    expect(bad.fieldViolations.map((v) => v.field)).toEqual(["source", "group"]);
    await s.client.addRoute({ route: route() });
    await s.client.delRoute({ source: "10.0.0.1", group: "239.1.1.1" });
    expect((await s.client.listRoutes({})).routes).toEqual([]);
  });

  // Found by test/server/fuzz-requests.test.ts: the engine removed the template, the state file
  // kept it (keyed with its iif), and a restart would have brought the deleted route back.
  it("DelRoute of a template without its iif removes it from the state file too", async () => {
    await s.client.addRoute({ route: route({ source: "10.0.0.0/8" }) });
    await s.client.addRoute({ route: route({ source: "fd00::/64", group: "ff3e::1" }) });
    await s.client.delRoute({ source: "10.0.0.0/8", group: "239.1.1.1" });
    await s.client.delRoute({ source: "fd00::/64", group: "ff3e::1" });
    expect((await s.client.listRoutes({})).routes).toEqual([]);
    expect(s.store.routes()).toEqual([]);
  });

  it("33rd interface → RESOURCE_EXHAUSTED naming the 32-VIF limit", async () => {
    for (let i = 1; i <= 31; i++) await s.client.addRoute({ route: route({ group: `239.1.1.${i}`, oifs: [`eth${i}`] }) });
    const err = await rejection(s.client.addRoute({ route: route({ group: "239.2.2.2", oifs: ["eth32"] }) }));
    expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(err.details).toContain("32 VIFs");
    expect(err.reason).toBe("VIF_TABLE_FULL");
    expect((await s.client.listRoutes({})).routes).toHaveLength(31);
  });

  it("WatchStats: first message at once, routes appear and disappear, filters, cancel ends cleanly", async () => {
    await s.client.addRoute({ route: route() });
    const controller = new AbortController();
    const stream = s.client.watchStats({ intervalMs: 100 }, { signal: controller.signal });
    const seen: string[][] = [];
    let i = 0;
    try {
      for await (const msg of stream) {
        seen.push(msg.routes.map((r) => `${r.source}/${r.group}`));
        if (i === 0) await s.client.addRoute({ route: route({ group: "239.1.1.2" }) });
        if (i === 1) await s.client.delRoute({ source: "10.0.0.1", group: "239.1.1.1" });
        if (++i === 3) controller.abort();
      }
    } catch (err) {
      expect((err as Error).name).toBe("AbortError");
    }
    expect(seen[0]).toEqual(["10.0.0.1/239.1.1.1"]);
    expect(seen[1]).toEqual(["10.0.0.1/239.1.1.1", "10.0.0.1/239.1.1.2"]);
    expect(seen[2]).toEqual(["10.0.0.1/239.1.1.2"]);

    const filtered = s.client.watchStats({ group: "239.1.1.2" });
    for await (const msg of filtered) {
      expect(msg.routes.map((r) => r.group)).toEqual(["239.1.1.2"]);
      break;
    }
  });

  it("WatchStats rejects a bad filter", async () => {
    const err = await rejection((async () => {
      for await (const _ of s.client.watchStats({ group: "1.1.1.1" })) break;
    })());
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.fieldViolations[0]?.field).toBe("group");
  });

  it("WatchStats splits 25k routes into messages under 4 MiB with one time", async () => {
    for (let i = 0; i < 25_000; i++) {
      s.engine.add({ family: "ipv4", table: 0, source: `10.${(i >> 8) & 255}.${i & 255}.1`, group: "239.1.1.1", iif: "eth0", oifs: ["eth1"] });
    }
    const parts = [];
    for await (const msg of s.client.watchStats({})) {
      parts.push(msg);
      if (parts.length === msg.parts) break;
    }
    expect(parts.map((p) => p.routes.length)).toEqual([10_000, 10_000, 5_000]);
    expect(new Set(parts.map((p) => `${p.time?.seconds}.${p.time?.nanos}`)).size).toBe(1);
  });

  it("shutdown ends a live WatchStats with UNAVAILABLE and removes the socket", async () => {
    expect(await s.client.health()).toBe("SERVING");
    const got: unknown[] = [];
    const watching = (async () => {
      for await (const msg of s.client.watchStats({ intervalMs: 100 })) got.push(msg);
    })();
    const ended = rejection(watching);
    while (got.length === 0) await new Promise((r) => setTimeout(r, 20));
    await s.server.stop();
    const err = await ended;
    expect(err.code).toBe(Status.UNAVAILABLE);
    expect(fs.existsSync(s.socketPath)).toBe(false);
  });

  it("reflection lists mfc.v1.MfcService (buf curl, v1 and v1alpha)", async () => {
    // Async: the server runs in this process, a blocking exec would deadlock it.
    const run = async (args: string[]) => (await promisify(execFile)("npx", args, { encoding: "utf8" })).stdout;
    const out = await run(["buf", "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--unix-socket", s.socketPath, "--list-services", "http://localhost"]);
    expect(out).toContain("mfc.v1.MfcService");
    const alpha = await run(["buf", "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect-protocol", "grpc-v1alpha", "--unix-socket", s.socketPath, "--list-methods", "http://localhost"]);
    expect(alpha).toContain("mfc.v1.MfcService/AddRoute");
  });

  it("SDK accepts unix:/path, unix:///path and a bare path", async () => {
    for (const addr of [`unix:${s.socketPath}`, `unix://${s.socketPath}`, s.socketPath]) {
      const c = createMfcClient(addr);
      expect((await c.listRoutes({})).routes).toEqual([]);
      c.close();
    }
  });
});

// SDK defaults against a real nice-grpc server whose handlers misbehave on purpose.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createServer, ServerError, Status, type Server } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MfcServiceDefinition, type MfcServiceImplementation } from "../../src/gen/mfc.js";
import { createMfcClient, MfcError, type MfcClient } from "../../src/sdk/index.js";
import { bound } from "../helpers/time-bounds.js";

describe("createMfcClient", () => {
  const calls = { addRoute: 0, listRoutes: 0, getInfo: 0 };
  let server: Server;
  /** A generous deadline (time-bounds.ts): the calls that must answer have time to. */
  let client: MfcClient;
  /** A short deadline, for the call that never answers (only its deadline can end it). */
  let shortDeadline: MfcClient;
  let dir: string;

  beforeAll(async () => {
    const impl: MfcServiceImplementation = {
      async addRoute() {
        calls.addRoute++;
        throw new ServerError(Status.UNAVAILABLE, "flaky");
      },
      async delRoute(_req, ctx) {
        // Never answers: the default deadline must end the call.
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        return {};
      },
      async listRoutes() {
        calls.listRoutes++;
        if (calls.listRoutes === 1) throw new ServerError(Status.UNAVAILABLE, "flaky");
        return { routes: [], vifs: [], foreignEntries: [] };
      },
      async stop() {
        return {};
      },
      async getInfo(_req, ctx) {
        calls.getInfo++;
        if (calls.getInfo <= 2) throw new ServerError(Status.UNAVAILABLE, "flaky");
        if (calls.getInfo === 4) {
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          return {};
        }
        return { version: "1.2.3", kernelRelease: "6.1.0", kernelCapabilities: [], ownedTables: [{ family: "ipv4", table: 0 }] };
      },
      async applyRoutes() {
        throw new ServerError(Status.UNIMPLEMENTED, "not in this test");
      },
      async diagnose() {
        throw new ServerError(Status.UNIMPLEMENTED, "not in this test");
      },
      // eslint-disable-next-line require-yield
      async *trace() {
        throw new ServerError(Status.UNIMPLEMENTED, "not in this test");
      },
      async *watchStats() {
        yield { routes: [], vifs: [], part: 0, parts: 1 };
      },
    };
    server = createServer();
    server.add(MfcServiceDefinition, impl);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-sdk-"));
    await server.listen(`unix://${dir}/s.sock`);
    client = createMfcClient(`unix:${dir}/s.sock`, { deadlineMs: bound(5000) });
    shortDeadline = createMfcClient(`unix:${dir}/s.sock`, { deadlineMs: 300 });
  });

  afterAll(async () => {
    client.close();
    shortDeadline.close();
    await server.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("retries the idempotent ListRoutes on UNAVAILABLE", async () => {
    expect(await client.listRoutes({})).toEqual({ routes: [], vifs: [], foreignEntries: [] });
    expect(calls.listRoutes).toBe(2);
  });

  it("retries GetInfo (NO_SIDE_EFFECTS) on UNAVAILABLE as often as ListRoutes, then bounds it by the deadline", async () => {
    // Two failures in a row: more than the retry middleware's default of one retry.
    const patient = createMfcClient(`unix:${dir}/s.sock`, { deadlineMs: 5000 });
    try {
      const info = await patient.getInfo({});
      expect(info.version).toBe("1.2.3");
      expect(info.ownedTables).toEqual([{ family: "ipv4", table: 0 }]);
      expect(calls.getInfo).toBe(3);
    } finally {
      patient.close();
    }
    // The 4th call never answers: the default deadline ends it.
    const err = await client.getInfo({}).catch((e: unknown) => e);
    expect((err as MfcError).code).toBe(Status.DEADLINE_EXCEEDED);
  });

  it("never retries a mutation, and surfaces MfcError with the status", async () => {
    const err = await client.addRoute({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MfcError);
    expect((err as MfcError).codeName).toBe("UNAVAILABLE");
    expect(calls.addRoute).toBe(1);
  });

  it("applies the default deadline to unary calls", async () => {
    const err = await shortDeadline.delRoute({ source: "10.0.0.1", group: "239.1.1.1" }).catch((e: unknown) => e);
    expect((err as MfcError).code).toBe(Status.DEADLINE_EXCEEDED);
  });

  it("streams WatchStats as an async iterable", async () => {
    const parts = [];
    for await (const msg of client.watchStats({})) parts.push(msg.parts);
    expect(parts).toEqual([1]);
  });
});

// kernel-needs: ipv4
// End-to-end: requests and clients that misbehave. mfcd must refuse what is too big, too many or
// malformed without changing anything, and one stuck client must not stall the others.
//
//   src —in0— router (mfcd --max-routes 5 --max-message-bytes 65536) —out1— rcv1
//   plus a second, unlimited mfcd in a namespace of its own for the slow-client test
//
// Every test leaves no route behind.
import { credentials, makeGenericClientConstructor, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import http2 from "node:http2";
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ApplyRoutesRequest, WatchStatsRequest } from "../../src/gen/mfc.js";
import { createMfcClient, RouteState, Status, type ListRoutesResponse, type Route } from "../../src/sdk/index.js";
import { createLab, type Lab } from "../helpers/lab.js";
import {
  deleteAllRoutes,
  kernelRoutes,
  kernelVifs,
  startMfcd,
  StopList,
  type MfcdProcess,
} from "../helpers/mfcd-process.js";
import { addNetns, delNetns, uniqueName } from "../helpers/netns.js";
import { sendMulticast, settle, startReceiver } from "../helpers/traffic.js";
import { rejection } from "../helpers/rejection.js";
import { bound } from "../helpers/time-bounds.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const PORT = 5000;
const MAX_ROUTES = 5;
const MAX_MESSAGE_BYTES = 65_536;
let lab: Lab;
let mfcd: MfcdProcess;
const stops = new StopList();

beforeAll(async () => {
  lab = await createLab({ receivers: 1 });
  mfcd = await startMfcd(lab.router, {
    args: ["--state-file", "none", "--max-routes", String(MAX_ROUTES), "--max-message-bytes", String(MAX_MESSAGE_BYTES)],
  });
});
afterEach(async () => {
  await stops.stopAll();
  await deleteAllRoutes(mfcd.client);
});
afterAll(async () => {
  await stops.stopAll();
  await mfcd?.stop();
  await lab?.cleanup();
});

const src = () => lab.addrs.source;
const route = (group: string, oifs: string[] = ["out1"]): Route => ({ source: src(), group, iif: "in0", oifs, oifTtl: {}, table: 0 });


function sortedList(list: ListRoutesResponse): ListRoutesResponse {
  return { ...list, routes: [...list.routes].sort((a, b) => (a.route?.group ?? "").localeCompare(b.route?.group ?? "")) };
}

/** ListRoutes plus what the kernel shows: must be identical before and after a refused request. */
async function snapshot() {
  const [list, entries, vifs] = await Promise.all([mfcd.client.listRoutes({}), kernelRoutes(lab.router), kernelVifs(lab.router)]);
  return { list: sortedList(list), entries: entries.sort((a, b) => a.group.localeCompare(b.group)), vifs };
}

/** Still serving and still forwarding an installed route. */
async function stillWorks(group: string): Promise<void> {
  expect(await mfcd.client.health()).toBe("SERVING");
  const r = stops.add(await startReceiver(lab.receivers[0]!, { group, port: PORT, ifaceAddr: lab.addrs.receivers[0]! }));
  await sendMulticast(lab.source, { group, port: PORT, ttl: 8, ifaceAddr: src(), count: 10, intervalMs: 1 });
  await r.waitForCount(10);
  await r.stop();
}

// A raw client: requests and responses are bytes, so anything can be sent.
const identity = (b: Buffer): Buffer => b;
const rawMethod = (name: string, responseStream = false) => ({
  path: `/mfc.v1.MfcService/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});
const RawMfc = makeGenericClientConstructor(
  {
    AddRoute: rawMethod("AddRoute"),
    DelRoute: rawMethod("DelRoute"),
    ApplyRoutes: rawMethod("ApplyRoutes"),
    WatchStats: rawMethod("WatchStats", true),
  },
  "MfcService",
);
type UnaryFn = (req: Buffer, cb: (err: ServiceError | null, res?: Buffer) => void) => void;
type StreamFn = (req: Buffer) => ClientReadableStream<Buffer>;

function rawClient(socketPath: string) {
  const client = new RawMfc(`unix://${socketPath}`, credentials.createInsecure());
  return {
    unary(method: "AddRoute" | "DelRoute" | "ApplyRoutes", bytes: Buffer): Promise<{ code: number; details: string }> {
      return new Promise((resolve) => {
        (client[method] as UnaryFn).call(client, bytes, (err) => resolve(err ? { code: err.code, details: err.details } : { code: Status.OK, details: "" }));
      });
    },
    stream(method: "WatchStats", bytes: Buffer): ClientReadableStream<Buffer> {
      return (client[method] as StreamFn).call(client, bytes);
    },
    close: () => client.close(),
  };
}

describe("abuse: oversize, over-limit and malformed requests", () => {
  it("a request above --max-message-bytes → RESOURCE_EXHAUSTED, nothing changes, mfcd keeps serving", async () => {
    const G = "239.80.1.1";
    await mfcd.client.addRoute({ route: route(G) });
    const before = await snapshot();
    const many = Array.from({ length: 3000 }, (_, i) => route(`239.81.${i >> 8}.${i & 255}`));
    expect(ApplyRoutesRequest.encode({ owner: "ctl", routes: many, dryRun: false, allowEmpty: false, requireInterfaces: false, listUnchanged: false }).finish().length)
      .toBeGreaterThan(MAX_MESSAGE_BYTES);

    const err = await rejection(mfcd.client.applyRoutes({ owner: "ctl", routes: many }));
    expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/larger than max/);
    expect(await snapshot()).toEqual(before);
    await stillWorks(G);
  });

  it(`--max-routes ${MAX_ROUTES}: the 6th route → RESOURCE_EXHAUSTED naming the limit, by AddRoute or ApplyRoutes`, async () => {
    const groups = Array.from({ length: MAX_ROUTES }, (_, i) => `239.80.2.${i + 1}`);
    for (const g of groups) await mfcd.client.addRoute({ route: route(g) });
    const before = await snapshot();

    const sixth = await rejection(mfcd.client.addRoute({ route: route("239.80.2.6") }));
    expect(sixth.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(sixth.reason).toBe("ROUTE_LIMIT");
    expect(sixth.metadata.limit).toBe(String(MAX_ROUTES));
    expect(sixth.details).toContain(String(MAX_ROUTES));
    expect(sixth.details).toContain("--max-routes");
    expect(await snapshot()).toEqual(before);

    // Another owner's apply that would make it 6, and the api owner's own set of 6.
    for (const req of [
      { owner: "ctl", routes: [route("239.80.2.6")] },
      { owner: "api", routes: [...groups, "239.80.2.6"].map((g) => route(g)) },
    ]) {
      const err = await rejection(mfcd.client.applyRoutes(req));
      expect(err.code, JSON.stringify(req.owner)).toBe(Status.RESOURCE_EXHAUSTED);
      expect(err.reason).toBe("ROUTE_LIMIT");
      expect(err.details).toContain(String(MAX_ROUTES));
      expect(await snapshot()).toEqual(before);
    }

    // At the limit, what does not add a route still works: the same route again, a replace,
    // and an apply that swaps one route for another.
    await mfcd.client.addRoute({ route: route(groups[0]!) });
    await mfcd.client.addRoute({ route: route(groups[0]!, ["out1"]), replace: true });
    const swap = await mfcd.client.applyRoutes({ owner: "api", routes: [...groups.slice(1), "239.80.2.9"].map((g) => route(g)) });
    expect(swap).toMatchObject({ added: 1, removed: 1, unchanged: MAX_ROUTES - 1 });
    expect((await mfcd.client.listRoutes({})).routes).toHaveLength(MAX_ROUTES);
    await stillWorks("239.80.2.9");
  });

  it("garbage bytes as a request → INVALID_ARGUMENT (never OK or INTERNAL), mfcd alive and unchanged", async () => {
    const G = "239.80.3.1";
    await mfcd.client.addRoute({ route: route(G) });
    const before = await snapshot();
    const raw = rawClient(mfcd.socketPath);
    try {
      const garbage = [
        Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // field 1, length far beyond the end
        Buffer.from(Array(11).fill(0xff)), // a varint that never ends
        Buffer.from([0x0f, 0x01, 0x02]), // wire type 7 does not exist
        Buffer.from([0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe]), // route.source is not UTF-8
        Buffer.from("this is not protobuf at all, just text \u0000\u0001\u0002"),
        Buffer.alloc(0), // a valid, empty request: route missing
      ];
      for (const method of ["AddRoute", "DelRoute", "ApplyRoutes"] as const) {
        for (const bytes of garbage) {
          const res = await raw.unary(method, bytes);
          // Undecodable bodies are the client's fault: INVALID_ARGUMENT, never INTERNAL (issue 13's fuzzer).
          expect(res.code, `${method} ${bytes.toString("hex")}: ${res.details}`).toBe(Status.INVALID_ARGUMENT);
        }
      }
      // The empty AddRoute is decodable and gets a proper validation error.
      const empty = await rejection(mfcd.client.addRoute({}));
      expect(empty.code).toBe(Status.INVALID_ARGUMENT);
      expect(empty.fieldViolations.map((v) => v.field)).toEqual(["route"]);
    } finally {
      raw.close();
    }
    expect(await snapshot()).toEqual(before);
    await stillWorks(G);
  });

  it("invalid fields in ApplyRoutes → INVALID_ARGUMENT with a BadRequest path per bad field, nothing applied", async () => {
    const G = "239.80.4.1";
    await mfcd.client.addRoute({ route: route(G) });
    const before = await snapshot();
    const err = await rejection(
      mfcd.client.applyRoutes({
        owner: "ctl",
        routes: [
          route("239.80.4.2"),
          { ...route("239.80.4.3"), source: "10.1" },
          { ...route("239.80.4.4"), iif: "" },
          route("224.0.0.5"),
          route("239.80.4.6", ["out1", "out1"]),
        ],
      }),
    );
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.fieldViolations.map((v) => v.field)).toEqual(["routes[1].source", "routes[2].iif", "routes[3].group", "routes[4].oifs[1]"]);
    expect(err.fieldViolations.every((v) => v.description.length > 0)).toBe(true);
    expect(await snapshot()).toEqual(before);
  });
});

describe("abuse: slow and idle clients", () => {
  let ns: string;
  let other: MfcdProcess;

  beforeAll(async () => {
    ns = uniqueName("slow");
    await addNetns(ns);
    other = await startMfcd(ns, { args: ["--state-file", "none"] });
  });
  afterAll(async () => {
    await other?.stop();
    if (ns) await delNetns(ns);
  });

  it("a stalled WatchStats reader, a silent connection and a half-sent request do not block other clients", async () => {
    // Enough (pending: no such interfaces) routes that one WatchStats update is ~300 KB, far more
    // than an HTTP/2 window: a reader that never reads stalls its stream at the first update.
    const bulk = Array.from({ length: 5000 }, (_, i) => ({ source: "10.9.9.9", group: `239.90.${i >> 8}.${i & 255}`, iif: "nosuch0", oifs: ["nosuch1"] }));
    const applied = await other.client.applyRoutes({ owner: "bulk", routes: bulk });
    expect(applied.added).toBe(bulk.length);

    const cleanup: (() => void)[] = [];
    try {
      // 1. A raw connection that never says anything.
      const silent = net.connect(other.socketPath);
      silent.on("error", () => undefined);
      cleanup.push(() => silent.destroy());
      // 2. Half an HTTP/2 connection preface, then nothing.
      const half = net.connect(other.socketPath, () => half.write("PRI * HTTP/2.0\r\n"));
      half.on("error", () => undefined);
      cleanup.push(() => half.destroy());
      // 3. An HTTP/2 AddRoute request: headers sent, the body never comes.
      const session = http2.connect("http://localhost", { createConnection: () => net.connect(other.socketPath) });
      session.on("error", () => undefined);
      const halfSent = session.request(
        { ":method": "POST", ":path": "/mfc.v1.MfcService/AddRoute", "content-type": "application/grpc", te: "trailers" },
        { endStream: false },
      );
      halfSent.on("error", () => undefined);
      cleanup.push(() => session.destroy());
      // 4. WatchStats every 100 ms, read once, then never again.
      const raw = rawClient(other.socketPath);
      cleanup.push(() => raw.close());
      const watch = raw.stream("WatchStats", Buffer.from(WatchStatsRequest.encode({ intervalMs: 100, source: "", group: "" }).finish()));
      watch.on("error", () => undefined);
      cleanup.push(() => watch.cancel());
      await new Promise<void>((resolve, reject) => {
        watch.once("data", () => resolve());
        watch.once("error", reject);
      });
      watch.pause();

      // Meanwhile another client gets every answer, also after many watch intervals.
      const client = createMfcClient(`unix:${other.socketPath}`, { deadlineMs: bound(15_000) });
      cleanup.push(() => client.close());
      for (let i = 0; i < 5; i++) {
        const added = await client.addRoute({ route: { source: "10.9.9.9", group: `239.91.0.${i + 1}`, iif: "nosuch0", oifs: ["nosuch1"] } });
        expect(added.route?.state).toBe(RouteState.ROUTE_STATE_PENDING);
        const list = await client.listRoutes({});
        expect(list.routes).toHaveLength(bulk.length + i + 1);
        expect(await client.health()).toBe("SERVING");
        await settle(300);
      }
      // A fresh WatchStats of another client still streams.
      let seen = 0;
      for await (const msg of client.watchStats({ intervalMs: 100, group: "239.91.0.1" })) {
        expect(msg.routes.map((r) => r.group)).toEqual(["239.91.0.1"]);
        if (++seen === 3) break;
      }
    } finally {
      for (const fn of cleanup.reverse()) fn();
    }
    expect(await other.client.health()).toBe("SERVING");
  });
});

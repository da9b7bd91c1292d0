// Property-based fuzzing of MfcService requests (issue 13, "Reliability in figures"), with
// fast-check: the real gRPC server over a FakeKernel per (family, table) and a real state file.
// Requests are a mix of valid routes (IPv4/IPv6, concrete and templates, tables, oif_ttl,
// rescue options, interfaces that do not exist yet) and mutated ones (bad addresses, prefixes,
// names, empty and huge repeated fields, out-of-range numbers), sent through the SDK; a raw
// grpc-js client sends garbage bytes as request bodies. Properties:
//   1. the server never answers INTERNAL or UNKNOWN (nor crashes), and INVALID_ARGUMENT names
//      the bad fields;
//   2. a rejected request (and every read, and a dry run) changes nothing: ListRoutes, the
//      opened tables (GetInfo's owned_tables), every fake kernel's VIFs, entries and calls, the
//      stored routes;
//   3. after any sequence, the kernels hold exactly the INSTALLED routes of ListRoutes, and the
//      state file reloaded holds exactly ListRoutes' routes.
// MFCD_FUZZ_RUNS (default 200: 200 raw bodies, 50 sequences of 1-12 requests, ~10 s on a busy
// 2-core machine) = 2000 for a torture run; a failure prints the seed and a shrunk minimal case
// (replay with MFCD_FUZZ_SEED=<seed> MFCD_FUZZ_PATH=<path>). fast-check, because issue 13 names it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { credentials, Client, type ServiceError } from "@grpc/grpc-js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AddRouteRequest,
  ApplyRoutesRequest,
  DelRouteRequest,
  DiagnoseRequest,
  ListRoutesResponse,
  type Route,
} from "../../src/gen/mfc.js";
import { MfcError, RouteState, Status, type MfcClient } from "../../src/sdk/index.js";
import type { FlowProbes } from "../../src/server/diagnostics/index.js";
import { listRoutesReply } from "../../src/server/wire/index.js";
import { StateStore } from "../../src/state/state-store.js";
import { loadStateFile } from "../../src/state/load-state-file.js";
import { startFakeServer, type FakeServer } from "./start-fake-server.js";

const RUNS = Number(process.env.MFCD_FUZZ_RUNS ?? 200);
/** A sequence is 1–12 requests plus the checks: a quarter as many runs costs about the same. */
const SEQUENCE_RUNS = Math.max(1, Math.round(RUNS / 4));
/** Per test: vitest's default bound is too short for a torture run. */
const TIMEOUT_MS = Math.max(60_000, RUNS * 400);
/** MFCD_FUZZ_STATS=1 prints how the requests were answered (is the fuzzer reaching the engine?). */
const tally = new Map<string, number>();
const count = (what: string) => tally.set(what, (tally.get(what) ?? 0) + 1);
const SEED = process.env.MFCD_FUZZ_SEED === undefined ? undefined : Number(process.env.MFCD_FUZZ_SEED);
const PATH = process.env.MFCD_FUZZ_PATH;
const params = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns,
  ...(SEED === undefined ? {} : { seed: SEED }),
  ...(PATH === undefined ? {} : { path: PATH }),
});

/** `arb` in one of `oneIn` cases, else undefined. */
const sometimes = <T>(arb: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

const IFS = ["eth0", "eth1", "eth2", "eth3", "eth4"];
/** Not an interface of the fake kernels: routes naming it are PENDING (or refused with require_interfaces). */
const MISSING = "wlan9";

// ---- valid building blocks (small pools, so requests collide: replace, ALREADY_EXISTS, deletes) ----

const ifname = fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...IFS) }, { weight: 1, arbitrary: fc.constant(MISSING) });
const table = fc.constantFrom(0, 0, 0, 7, 100);
const v4 = {
  source: fc.constantFrom("10.0.0.1", "10.0.0.2", "192.168.7.9", "", "10.0.0.0/8", "10.1.2.0/24"),
  group: fc.constantFrom("239.1.1.1", "239.1.1.2", "232.0.0.9", "239.1.0.0/16", "232.0.0.0/8"),
};
const v6 = {
  source: fc.constantFrom("fd00::1", "2001:db8::2", "2001:0db8:0:0::2", "", "fd00::/64"),
  group: fc.constantFrom("ff3e::1", "ff05::2", "FF3E:0::1", "ff3e::/96"),
};
const owner = fc.constantFrom("", "", "api", "ctl-a", "team/b@x");

const validRoute: fc.Arbitrary<Route> = fc
  .record({
    ipv6: fc.boolean(),
    v4s: v4.source,
    v4g: v4.group,
    v6s: v6.source,
    v6g: v6.group,
    iif: ifname,
    oifs: fc.shuffledSubarray([...IFS, MISSING], { minLength: 1, maxLength: 4 }),
    ttls: fc.array(fc.integer({ min: 1, max: 254 }), { maxLength: 4 }),
    table,
    rescue: sometimes(fc.record({ rewriteSource: sometimes(fc.constantFrom("192.168.7.100", "10.9.9.9"), 2), setTtl: sometimes(fc.integer({ min: 2, max: 255 }), 2) }), 10),
  })
  .map(({ ipv6, v4s, v4g, v6s, v6g, iif, oifs, ttls, table, rescue }) => {
    let outs = oifs.filter((o) => o !== iif);
    if (outs.length === 0) outs = [iif === "eth1" ? "eth2" : "eth1"];
    const oifTtl = ipv6 ? {} : Object.fromEntries(ttls.slice(0, outs.length).map((t, i) => [outs[i] as string, t]));
    return { source: ipv6 ? v6s : v4s, group: ipv6 ? v6g : v4g, iif, oifs: outs, oifTtl, table, ...rescue };
  });

// ---- invalid building blocks ----

const badAddress = fc.oneof(
  fc.constantFrom(
    "10.1", "010.0.0.1", "10.0.0.0/33", "10.0.0.1/", "/8", "10.0.0.1/8/8", "10.0.0.1/-1", "239.1.1.256", "224.0.0.251",
    "224.0.0.0/24", "10.0.0.1 ", " 239.1.1.1", "10.0.0.1\n", "0.0.0.0", "0.0.0.0/0", "*", "::", "::/0", "::1", "fe80::1",
    "ff02::1", "ff01::/16", "ff3e::1/129", "fd00::1%eth0", "1:2:3:4:5:6:7:8:9", "127.0.0.1", "255.255.255.255",
    "239.1.1.1", "10.0.0.1", "fd00::1", "ff3e::1", "１０.0.0.1", "10.0.0.1\u0000",
  ),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(..."0123456789abcdef.:/%"), maxLength: 45 }),
  fc.integer({ min: 1000, max: 200_000 }).map((n) => "1".repeat(n)),
);
const badName = fc.oneof(
  fc.constantFrom("", "eth 0", "eth/0", "eth:0", "a".repeat(16), "é".repeat(8), ".", "..", "eth0\t", "\u00a0eth0", "eth\u2028", "eth0\u0000", "😀😀😀😀"),
  fc.string({ unit: "binary", maxLength: 20 }),
);
const hugeCount = fc.constantFrom(32, 100, 10_000);
const badUint = fc.oneof(fc.constantFrom(0, 1, 253, 254, 255, 256, 2 ** 31, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 }));

type Mutation = (r: Route) => Route;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  badAddress.map((source): Mutation => (r) => ({ ...r, source })),
  badAddress.map((group): Mutation => (r) => ({ ...r, group })),
  badName.map((iif): Mutation => (r) => ({ ...r, iif })),
  fc.tuple(badName, fc.nat(4)).map(([name, at]): Mutation => (r) => ({ ...r, oifs: [...r.oifs.slice(0, at), name, ...r.oifs.slice(at)] })),
  fc.constant<Mutation>((r) => ({ ...r, oifs: [] })),
  fc.constant<Mutation>((r) => ({ ...r, oifs: [...r.oifs, r.iif] })),
  fc.constant<Mutation>((r) => ({ ...r, oifs: [...r.oifs, r.oifs[0] as string] })),
  hugeCount.map((n): Mutation => (r) => ({ ...r, oifs: Array.from({ length: n }, (_, i) => `x${i}`) })),
  hugeCount.map((n): Mutation => (r) => ({ ...r, oifs: Array.from({ length: n }, () => "eth1") })),
  fc.tuple(fc.oneof(badName, ifname), badUint).map(([name, ttl]): Mutation => (r) => ({ ...r, oifTtl: { ...r.oifTtl, [name]: ttl } })),
  hugeCount.map((n): Mutation => (r) => ({ ...r, oifTtl: Object.fromEntries(Array.from({ length: n }, (_, i) => [`x${i}`, 2])) })),
  badUint.map((t): Mutation => (r) => ({ ...r, table: t })),
  badUint.map((setTtl): Mutation => (r) => ({ ...r, setTtl })),
  badAddress.map((rewriteSource): Mutation => (r) => ({ ...r, rewriteSource })),
);
const mutations = fc.array(mutation, { minLength: 1, maxLength: 3 });

/** Mostly valid, sometimes mutated into something invalid (or, by chance, another valid route). */
const route: fc.Arbitrary<Route> = fc
  .tuple(validRoute, sometimes(mutations, 3))
  .map(([r, ms]) => (ms ?? []).reduce((acc, m) => m(acc), r));

const badOwner = fc.oneof(fc.constantFrom("config", " api", "a".repeat(65), "ctl a", "ctl\u00e9", "-x"), fc.string({ unit: "binary", maxLength: 70 }));
const anyOwner = fc.oneof({ weight: 5, arbitrary: owner }, { weight: 1, arbitrary: badOwner });

// ---- requests ----

type Command =
  | { rpc: "addRoute"; req: AddRouteRequest }
  | { rpc: "delRoute"; req: DelRouteRequest }
  | { rpc: "applyRoutes"; req: ApplyRoutesRequest }
  | { rpc: "diagnose"; req: DiagnoseRequest }
  | { rpc: "listRoutes" }
  | { rpc: "getInfo" };

const addRoute = fc
  .record({ route: fc.oneof({ weight: 29, arbitrary: route }, { weight: 1, arbitrary: fc.constant(undefined) }), replace: fc.boolean(), owner: anyOwner, requireInterfaces: fc.boolean() })
  .map((req): Command => ({ rpc: "addRoute", req: AddRouteRequest.fromPartial(req) }));

const delRoute = fc
  .record({
    key: route,
    source: sometimes(badAddress, 6),
    group: sometimes(badAddress, 6),
    table: sometimes(badUint, 6),
    iif: sometimes(fc.oneof(ifname, badName), 2),
  })
  .map(({ key, source, group, table, iif }): Command => ({
    rpc: "delRoute",
    req: DelRouteRequest.fromPartial({ source: source ?? key.source, group: group ?? key.group, table: table ?? key.table, iif: iif ?? "" }),
  }));

const manyRoutes = fc.tuple(route, fc.constantFrom(1000, 5000)).map(([r, n]) => Array.from({ length: n }, () => r));
const applyRoutes = fc
  .record({
    routes: fc.oneof({ weight: 30, arbitrary: fc.array(route, { maxLength: 5 }) }, { weight: 1, arbitrary: manyRoutes }),
    dryRun: fc.boolean(),
    owner: anyOwner,
    allowEmpty: fc.boolean(),
    requireInterfaces: fc.boolean(),
    listUnchanged: fc.boolean(),
  })
  .map((req): Command => ({ rpc: "applyRoutes", req: ApplyRoutesRequest.fromPartial(req) }));

// Only invalid or 100 ms windows: a valid Diagnose waits its whole window.
const diagnoseReq = fc
  .record({
    source: fc.oneof(v4.source, badAddress),
    group: fc.oneof(v4.group, badAddress),
    iif: fc.oneof(fc.constant(""), ifname, badName),
    windowMs: fc.oneof(
      { weight: 1, arbitrary: fc.constant(100) },
      { weight: 4, arbitrary: fc.oneof(fc.integer({ min: 1, max: 99 }), fc.integer({ min: 30_001, max: 2 ** 32 - 1 })) },
    ),
    table: badUint,
  })
  .map((req): Command => ({ rpc: "diagnose", req: DiagnoseRequest.fromPartial(req) }));

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: addRoute },
  { weight: 4, arbitrary: delRoute },
  { weight: 4, arbitrary: applyRoutes },
  { weight: 1, arbitrary: diagnoseReq },
  { weight: 1, arbitrary: fc.constant<Command>({ rpc: "listRoutes" }) },
  { weight: 1, arbitrary: fc.constant<Command>({ rpc: "getInfo" }) },
);

// ---- the server under test ----

/** Diagnose's kernel evidence, answered from nothing (the fake kernels count no packets). */
const stubProbes: FlowProbes = {
  links: () => IFS.map((name, i) => ({ name, ifindex: 100 + i, up: true, running: true, multicast: true })),
  rpFilter: () => ({ all: 0, iface: 0, effective: 0 }),
  reversePath: () => ({ strictOk: true, looseOk: true, detail: "stub" }),
  rpFilterDrops: () => 0,
  upcalls: () => ({ nocache: [], wrongvif: [] }),
  ttlProbe: () => "no nft in the fuzz test",
  tableOwner: () => undefined,
};

interface Fixture {
  s: FakeServer;
  stateFile: string;
}

async function startFixture(dir: string, n: number): Promise<Fixture> {
  const stateFile = path.join(dir, `state-${n}.jsonl`);
  const { store } = StateStore.open(stateFile);
  // As main.ts does: names are looked up without a table, so a refused request opens none.
  const ifindex = (name: string) => (IFS.includes(name) ? 100 + IFS.indexOf(name) : undefined);
  const s = await startFakeServer(IFS.length, { ifindex }, { kernelPerTable: true, store, diagnostics: { probes: stubProbes } });
  return { s, stateFile };
}

/**
 * Everything a request could change, as comparable plain data: ListRoutes as the server encodes
 * it (in-process, for speed; checkConsistent asks over gRPC), the opened tables (one fake kernel
 * each, so GetInfo's owned_tables), every kernel's VIFs, entries and calls, the stored routes.
 */
function snapshot({ s }: Fixture): unknown {
  const list = ListRoutesResponse.decode(listRoutesReply(s.engine).bytes);
  const kernels = [...s.kernels].map(([key, k]) => ({ key, vifs: [...k.vifs], mfc: [...k.dumpMfc()], calls: k.calls.length }));
  return { list, kernels, state: s.store.routes() };
}

const BAD_CODES = [Status.INTERNAL, Status.UNKNOWN];

/** Sends one command; the error (an MfcError) or undefined. Anything else fails the test. */
async function send(client: MfcClient, c: Command): Promise<MfcError | undefined> {
  const method = client[c.rpc] as (request: unknown) => Promise<unknown>;
  try {
    await method("req" in c ? c.req : {});
    return undefined;
  } catch (err) {
    if (err instanceof MfcError) return err;
    throw err;
  }
}

function checkError(err: MfcError): void {
  expect(BAD_CODES, `${err.codeName}: ${err.details}`).not.toContain(err.code);
  if (err.code === Status.INVALID_ARGUMENT) {
    expect(err.fieldViolations.length, `no field named: ${err.details}`).toBeGreaterThan(0);
    for (const v of err.fieldViolations) expect(v.field).not.toBe("");
  }
}

const isTemplate = (r: Route) => r.source === "" || r.source.includes("/") || r.group.includes("/");

/** The comparable identity and content of a route, from ListRoutes or the state file. */
function routeText(r: Pick<Route, "source" | "group" | "iif" | "oifs" | "table"> & { oifTtl?: Record<string, number>; rewriteSource?: string; setTtl?: number }, owner: string): string {
  const ttl = Object.entries(r.oifTtl ?? {}).filter(([, t]) => t !== 1).sort();
  return JSON.stringify([owner, r.table, r.source, r.group, r.iif, r.oifs, ttl, r.rewriteSource ?? null, r.setTtl ?? null]);
}

/** Property 3: kernels == ListRoutes == state file. */
async function checkConsistent({ s, stateFile }: Fixture): Promise<void> {
  const list = await s.client.listRoutes({});
  const configured = list.routes.filter((r) => !r.learned && !r.stopFilter);
  expect(configured.length).toBe(list.routes.length); // nothing taught: the fake kernels send no upcalls
  // The state file, reloaded, holds exactly the routes ListRoutes shows.
  const stored = loadStateFile(stateFile).routes.map((r) => routeText(r, r.owner)).sort();
  expect(stored).toEqual(configured.map((r) => routeText(r.route as Route, r.owner)).sort());
  for (const [key, kernel] of s.kernels) {
    const [family, tableText] = key.split("/") as [string, string];
    const vifs = list.vifs.filter((v) => v.family === family && v.table === Number(tableText));
    // ListRoutes' VIF table is the kernel's.
    expect(vifs.map((v) => [v.vif, kernel.ifindex(v.interface)]).sort()).toEqual([...kernel.vifs].sort());
    const vifOf = (name: string) => vifs.find((v) => v.interface === name)?.vif;
    const expected = configured
      .map((r) => ({ ...(r.route as Route), state: r.state }))
      .filter((r) => (r.source.includes(":") || r.group.includes(":") ? "ipv6" : "ipv4") === family && r.table === Number(tableText))
      .filter((r) => r.state === RouteState.ROUTE_STATE_INSTALLED && !isTemplate(r))
      .map((r) => {
        const oifs = r.oifs.filter((o) => vifOf(o) !== undefined).map((o) => [vifOf(o), r.oifTtl[o] ?? 1]);
        return [r.rewriteSource ?? r.source, r.group, vifOf(r.iif), oifs.sort()];
      });
    const actual = [...kernel.dumpMfc().values()].map((e) => [e.source, e.group, e.parent, [...e.oifs].sort()]);
    expect(actual.sort()).toEqual(expected.sort());
  }
}

// ---- the properties ----

describe("fuzzed requests (fast-check) against the real gRPC server over fake kernels", () => {
  let dir: string;
  let n = 0;
  beforeAll(() => {
    // tmpfs where there is one: every mutation's fdatasync would otherwise dominate the run.
    dir = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "mfcd-fuzz-"));
  });
  afterAll(() => {
    if (process.env.MFCD_FUZZ_STATS) console.log([...tally].sort().map(([k, v]) => `${k}: ${v}`).join("\n"));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Back to no routes between runs (every owner's routes, through the API). A server the API
   * cannot clean (a failed run left the state file holding a route) is replaced, so shrinking
   * replays every candidate from a clean start.
   */
  async function reset(f: Fixture): Promise<Fixture> {
    const owners = new Set((await f.s.client.listRoutes({})).routes.map((r) => r.owner));
    for (const o of owners) await f.s.client.applyRoutes({ owner: o, routes: [], allowEmpty: true });
    if (f.s.engine.size === 0 && f.s.store.routes().length === 0) return f;
    await f.s.close();
    return startFixture(dir, n++);
  }

  it(`sequences of SDK requests: no INTERNAL, rejected requests change nothing, kernel == ListRoutes == state file (${SEQUENCE_RUNS} runs)`, async () => {
    let f = await startFixture(dir, n++);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 12 }), async (commands) => {
          f = await reset(f);
          for (const c of commands) {
            const before = snapshot(f);
            const err = await send(f.s.client, c);
            count(`${c.rpc} ${err?.codeName ?? "OK"}`);
            if (err) checkError(err);
            const readOnly = c.rpc === "listRoutes" || c.rpc === "getInfo" || c.rpc === "diagnose" || (c.rpc === "applyRoutes" && c.req.dryRun);
            if (err || readOnly) expect(snapshot(f), `${c.rpc} ${err ? `rejected (${err.codeName}: ${err.details})` : "read-only"} changed the state`).toEqual(before);
          }
          await checkConsistent(f);
        }),
        params(SEQUENCE_RUNS),
      );
    } finally {
      await f.s.close();
    }
  }, TIMEOUT_MS);

  describe("raw request bodies", () => {
    let f: Fixture;
    let raw: Client;
    beforeAll(async () => {
      f = await startFixture(dir, 1_000_000);
      raw = new Client(`unix:${f.s.socketPath}`, credentials.createInsecure());
    });
    afterAll(async () => {
      raw.close();
      await f.s.close();
    });

    const call = (method: string, body: Buffer) =>
      new Promise<ServiceError | undefined>((resolve) => {
        raw.makeUnaryRequest(`/mfc.v1.MfcService/${method}`, (b: Buffer) => b, (b: Buffer) => b, body, (err) => resolve(err ?? undefined));
      });

    const validBody = fc.oneof(
      addRoute.map((c) => AddRouteRequest.encode((c as { req: AddRouteRequest }).req).finish()),
      applyRoutes.map((c) => ApplyRoutesRequest.encode((c as { req: ApplyRoutesRequest }).req).finish()),
      delRoute.map((c) => DelRouteRequest.encode((c as { req: DelRouteRequest }).req).finish()),
    );
    /** A field header: any field number (known or not), any wire type, then some bytes. */
    const field = fc
      .tuple(fc.integer({ min: 1, max: 2 ** 29 - 1 }), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 12 }))
      .map(([num, wire, rest]) => Buffer.concat([varint(num * 8 + wire), rest]));
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.tuple(validBody, fc.nat()).map(([b, cut]) => Buffer.from(b.subarray(0, b.length === 0 ? 0 : cut % b.length))),
      fc.tuple(validBody, fc.array(field, { maxLength: 4 })).map(([b, fs]) => Buffer.concat([Buffer.from(b), ...fs])),
      fc.array(field, { minLength: 1, maxLength: 6 }).map((fs) => Buffer.concat(fs)),
      // A varint of 2^64-1 for every numeric field: out of range for uint32.
      fc.constantFrom(...[2, 4, 8, 6].map((n) => Buffer.concat([varint(n * 8), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]))),
    );
    const method = fc.constantFrom("AddRoute", "DelRoute", "ApplyRoutes", "ListRoutes", "GetInfo", "Diagnose");

    it(`random, truncated, wrong-wire-type and unknown-field bodies: never INTERNAL/UNKNOWN, rejected ones change nothing (${RUNS} runs)`, async () => {
      await fc.assert(
        fc.asyncProperty(method, body, async (m, b) => {
          const before = snapshot(f);
          const err = await call(m, b);
          count(`raw ${m} ${err ? Status[err.code] : "OK"}`);
          if (err) {
            expect(BAD_CODES, `${m} ${b.toString("hex")}: ${Status[err.code]} ${err.details}`).not.toContain(err.code);
            expect(snapshot(f)).toEqual(before);
          }
          await checkConsistent(f);
        }),
        params(RUNS),
      );
    }, TIMEOUT_MS);
  });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt(n);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

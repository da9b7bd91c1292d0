// validateRoutes (ApplyRoutes) recognises the common plain IPv4 route on a fast path; every
// route must still get exactly the answer of the full check validateRoute (AddRoute) gives.
import { describe, expect, it } from "vitest";
import { DomainError } from "../../src/engine/domain-error.js";
import { parseIpv4 } from "../../src/address/index.js";
import type { Route } from "../../src/gen/mfc.js";
import { validateRoute, validateRoutes, validateSource } from "../../src/server/routes/index.js";
import type { FieldViolation } from "../../src/shared/field-violation.js";

const base: Route = { source: "10.0.0.1", group: "239.1.1.1", iif: "eth0", oifs: ["eth1", "eth2"], oifTtl: {}, table: 0 };

const cases: Partial<Route>[] = [
  {},
  { table: 7 },
  { table: 253 },
  { source: "0.1.2.3" },
  { source: "127.0.0.1" },
  { source: "224.1.1.1" },
  { source: "01.2.3.4" },
  { source: "10.0.0" },
  { source: "10.0.0.256" },
  { source: "" },
  { source: "10.0.0.0/8" },
  { group: "224.0.0.5" },
  { group: "10.1.1.1" },
  { group: "239.1.1.0/24" },
  { group: "ff05::1", source: "2001:db8::1" },
  { oifs: [] },
  { oifs: ["eth1", "eth1"] },
  { oifs: ["eth0"] },
  { oifs: Array.from({ length: 32 }, (_, i) => `v${i}`) },
  { oifs: Array.from({ length: 31 }, (_, i) => `v${i}`) },
  { iif: "" },
  { iif: "a-very-long-name0" },
  { iif: "fifteen-chars-x" },
  { iif: "eth 0" },
  { iif: "eth:0" },
  { iif: "a/b" },
  { iif: "." },
  { iif: "väth0" },
  { oifs: ["eth1", "tab\tname"] },
  { oifTtl: { eth1: 1 } },
  { oifTtl: { eth1: 5 } },
  { oifTtl: { eth9: 5 } },
  { rewriteSource: "10.0.0.9" },
  { setTtl: 64 },
  { setTtl: 1 },
];

function outcome(run: () => unknown): unknown {
  try {
    return { spec: run() };
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    return { violations: err.violations.map((v) => ({ field: v.field.replace(/^routes\[0\]/, "route"), description: v.description })) };
  }
}

describe("validateRoutes", () => {
  it.each(cases.map((c) => [JSON.stringify(c), c] as const))("answers like validateRoute for %s", (_name, change) => {
    const route = { ...base, ...change };
    expect(outcome(() => validateRoutes([route])[0])).toEqual(outcome(() => validateRoute(route)));
  });
});

describe("parseIpv4", () => {
  it("accepts canonical dotted quads only", () => {
    expect(parseIpv4("0.0.0.0")).toBe(0);
    expect(parseIpv4("255.255.255.255")).toBe(0xffffffff);
    expect(parseIpv4("10.20.30.40")).toBe(((10 * 256 + 20) * 256 + 30) * 256 + 40);
    expect(parseIpv4("239.1.100.7")).toBe(((239 * 256 + 1) * 256 + 100) * 256 + 7);
    for (const bad of ["", "10.1", "10.0.0", "10.0.0.1.", ".10.0.0.1", "10..0.1", "010.0.0.1", "10.0.0.00", "256.0.0.1", "1.2.3.4.5", "1.2.3.-4", "1.2.3.4 ", "a.b.c.d", "1e1.0.0.1", "1000.0.0.1"]) {
      expect(parseIpv4(bad), bad).toBeUndefined();
    }
  });
});

describe("an empty source", () => {
  it("is an any-source template in a route, never 'not supported'", () => {
    const spec = validateRoute({ source: "", group: "239.1.1.1", iif: "eth0", oifs: ["eth1"], oifTtl: {}, table: 0 });
    expect(spec.source).toBe("");
  });

  it("in a flow (Diagnose, Trace) says a sender address is needed, not that any-source is unsupported", () => {
    const out: FieldViolation[] = [];
    validateSource("", "source", out);
    expect(out).toEqual([{ field: "source", description: "source is required: give the sender's unicast address, e.g. 10.0.0.1" }]);
  });
});

// Over gRPC with the fake kernel playing a kernel that lacks parts of multicast routing: requests
// needing a missing part are FAILED_PRECONDITION naming the kernel option (ErrorInfo
// KERNEL_OPTION_MISSING), never INTERNAL; what the kernel has keeps working.
import { afterEach, describe, expect, it } from "vitest";
import { RouteState, Status } from "../../src/sdk/index.js";
import type { KernelSupport } from "../../src/engine/kernel-support.js";
import { startFakeServer, type FakeServer } from "./start-fake-server.js";
import { rejection } from "../helpers/rejection.js";
import { DomainError } from "../../src/engine/domain-error.js";
import { diagnose, type FlowProbes } from "../../src/server/diagnostics/index.js";
import { DiagnoseRequest } from "../../src/gen/mfc.js";

const noIpv6NoTables: KernelSupport = (family, table) => {
  if (family === "ipv6") return { option: "CONFIG_IPV6_MROUTE", what: "IPv6 multicast routing", detail: "getsockopt(IPPROTO_IPV6, MRT6_VERSION): ENOPROTOOPT" };
  if (table !== 0) return { option: "CONFIG_IP_MROUTE_MULTIPLE_TABLES", what: "IPv4 tables", detail: "setsockopt(IPPROTO_IP, MRT_TABLE, 253): ENOPROTOOPT" };
  return undefined;
};
const noIpv4: KernelSupport = (family) =>
  family === "ipv4" ? { option: "CONFIG_IP_MROUTE", what: "IPv4 multicast routing", detail: "ENOPROTOOPT" } : undefined;

describe("MfcService on a kernel lacking parts of multicast routing (fake kernel)", () => {
  let s: FakeServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it("an IPv6 route without CONFIG_IPV6_MROUTE → FAILED_PRECONDITION naming it; IPv4 still installs", async () => {
    s = await startFakeServer(4, { kernelSupport: noIpv6NoTables });
    const err = await rejection(s.client.addRoute({ route: { source: "2001:db8::1", group: "ff3e::1", iif: "eth0", oifs: ["eth1"] } }));
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.message).toContain("CONFIG_IPV6_MROUTE");
    expect(err.reason).toBe("KERNEL_OPTION_MISSING");
    const ok = await s.client.addRoute({ route: { source: "10.0.0.1", group: "239.1.1.1", iif: "eth0", oifs: ["eth1"] } });
    expect(ok.route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
  });

  it("table 7 without CONFIG_IP_MROUTE_MULTIPLE_TABLES → FAILED_PRECONDITION naming it", async () => {
    s = await startFakeServer(4, { kernelSupport: noIpv6NoTables });
    const err = await rejection(
      s.client.addRoute({ route: { source: "10.0.0.1", group: "239.1.1.1", iif: "eth0", oifs: ["eth1"], table: 7 } }),
    );
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.message).toContain("CONFIG_IP_MROUTE_MULTIPLE_TABLES");
    expect(s.kernel.calls).toEqual([]);
  });

  it("Diagnose and Trace without IPv4 multicast routing → FAILED_PRECONDITION naming CONFIG_IP_MROUTE", async () => {
    s = await startFakeServer(4, { kernelSupport: noIpv4 });
    // Diagnose directly (the fake server has no kernel probes): it refuses before probing anything.
    const diag = await diagnose(s.engine, {} as FlowProbes, DiagnoseRequest.fromPartial({ source: "10.0.0.1", group: "239.1.1.1", iif: "eth0" }), new AbortController().signal).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(diag).toBeInstanceOf(DomainError);
    expect((diag as DomainError).kind).toBe("failed-precondition");
    expect((diag as DomainError).metadata.option).toBe("CONFIG_IP_MROUTE");
    const trace = await rejection(
      (async () => {
        for await (const _ of s!.client.trace({ source: "10.0.0.1", group: "239.1.1.1", iif: "eth0", durationMs: 100 })) {
          // no events expected
        }
      })(),
    );
    expect(trace.code).toBe(Status.FAILED_PRECONDITION);
    expect(trace.message).toContain("CONFIG_IP_MROUTE");
  });
});

// Flags of issue 6 (metrics, health port, socket group, TLS) and their helpers.
import { describe, expect, it } from "vitest";
import { parseCliOptions, UsageError } from "../../src/server/config/index.js";
import { resolveGroupId } from "../../src/server/listen/index.js";
import { CAP_NET_ADMIN, CAP_NET_RAW, effectiveCapabilities, missingCapabilities } from "../../src/kernel/requirements/capabilities.js";

const usage = (argv: string[]) => {
  try {
    parseCliOptions(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`accepted: ${argv.join(" ")}`);
};

describe("operations flags", () => {
  it("parses metrics, health, socket group and TLS flags", () => {
    const o = parseCliOptions([
      "--listen", "unix:/tmp/m.sock", "--listen", "127.0.0.1:7443",
      "--metrics-listen", ":9105", "--metrics-learned",
      "--health-listen", "0.0.0.0:7444",
      "--socket-group", "mfcd",
      "--tls-cert", "/c.pem", "--tls-key", "/k.pem", "--tls-client-ca", "/ca.pem",
    ]);
    expect(o.metricsListen).toEqual({ kind: "tcp", host: "0.0.0.0", port: 9105 });
    expect(o.metricsLearned).toBe(true);
    expect(o.healthListen).toEqual([{ kind: "tcp", host: "0.0.0.0", port: 7444 }]);
    expect(o.socketGroup).toBe("mfcd");
    expect(o.tls).toEqual({ cert: "/c.pem", key: "/k.pem", clientCa: "/ca.pem" });
  });

  it("defaults: no metrics, no health port, no TLS", () => {
    const o = parseCliOptions([]);
    expect([o.metricsListen, o.socketGroup, o.tls]).toEqual([undefined, undefined, undefined]);
    expect(o.healthListen).toEqual([]);
    expect(o.metricsLearned).toBe(false);
  });

  it.each([
    [["--metrics-listen", "nowhere"], "--metrics-listen nowhere: expected unix:/path or host:port"],
    [["--health-listen", "x:99999"], "--health-listen x:99999: port out of range"],
    [["--metrics-learned"], "--metrics-learned needs --metrics-listen"],
    [["--listen", ":1", "--tls-cert", "/c"], "--tls-cert needs --tls-key"],
    [["--listen", ":1", "--tls-key", "/k"], "--tls-key needs --tls-cert"],
    [["--tls-client-ca", "/ca"], "--tls-client-ca needs --tls-cert and --tls-key"],
    [["--tls-cert", "/c", "--tls-key", "/k"], "apply to TCP listeners"],
    [["--socket-group", "a b"], "--socket-group"],
  ])("%j is a usage error naming the flag", (argv, message) => {
    expect(usage(argv)).toContain(message);
  });
});

describe("resolveGroupId", () => {
  const etc = () => "root:x:0:\nnetdev:x:108:alice\nmfcd:x:990:\n";
  it("finds names in /etc/group and passes numeric gids through", () => {
    expect(resolveGroupId("mfcd", etc)).toBe(990);
    expect(resolveGroupId("1234", etc)).toBe(1234);
  });
  it("names the group it cannot find", () => {
    expect(() => resolveGroupId("nosuch", etc)).toThrow(/--socket-group nosuch: no such group/);
  });
});

describe("capabilities", () => {
  const status = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`;
  it("reads CapEff and names what is missing, with why", () => {
    const both = (1n << BigInt(CAP_NET_ADMIN)) | (1n << BigInt(CAP_NET_RAW));
    expect(effectiveCapabilities(status(both.toString(16).padStart(16, "0")))).toBe(both);
    expect(missingCapabilities(both)).toEqual([]);
    expect(missingCapabilities(1n << BigInt(CAP_NET_ADMIN)).map((c) => c.name)).toEqual(["CAP_NET_RAW"]);
    expect(missingCapabilities(0n).map((c) => c.name)).toEqual(["CAP_NET_RAW", "CAP_NET_ADMIN"]);
    expect(missingCapabilities(0n)[0]?.why).toContain("raw IGMP");
  });
  it("this test process (root) holds both", () => {
    expect(missingCapabilities()).toEqual([]);
  });
});

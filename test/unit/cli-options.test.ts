import { describe, expect, it } from "vitest";
import { parseCliOptions, UsageError } from "../../src/server/config/index.js";
import { grpcTarget, parseListenAddress } from "../../src/shared/listen-address.js";

describe("parseListenAddress", () => {
  it.each([
    ["unix:/run/mfcd/x.sock", { kind: "unix", path: "/run/mfcd/x.sock" }],
    ["unix:///run/mfcd/x.sock", { kind: "unix", path: "/run/mfcd/x.sock" }],
    ["127.0.0.1:50051", { kind: "tcp", host: "127.0.0.1", port: 50051 }],
    ["[::1]:50051", { kind: "tcp", host: "::1", port: 50051 }],
    [":50051", { kind: "tcp", host: "0.0.0.0", port: 50051 }],
  ])("%s", (text, expected) => {
    expect(parseListenAddress(text)).toEqual(expected);
  });

  it.each(["unix:", "localhost", "host:99999", "http://x"])("rejects %s", (text) => {
    expect(() => parseListenAddress(text)).toThrow(/--listen/);
  });

  it("builds grpc-js targets", () => {
    expect(grpcTarget({ kind: "unix", path: "/a/b.sock" })).toBe("unix:///a/b.sock");
    expect(grpcTarget({ kind: "tcp", host: "::1", port: 1 })).toBe("[::1]:1");
  });
});

describe("parseCliOptions", () => {
  it("--keep-forwarding: off by default, on with the flag, refused without a state file", () => {
    expect(parseCliOptions(["--state-file", "/tmp/x.state"]).keepForwarding).toBe(false);
    expect(parseCliOptions(["--state-file", "/tmp/x.state", "--keep-forwarding"]).keepForwarding).toBe(true);
    expect(() => parseCliOptions(["--keep-forwarding", "--state-file", "none"])).toThrow(UsageError);
  });

  it("repeats --listen and defaults to a Unix socket under /run/mfcd", () => {
    const opts = parseCliOptions(["--listen", "unix:/tmp/a.sock", "--listen", "127.0.0.1:0"]);
    expect(opts.listen).toHaveLength(2);
    const def = parseCliOptions([]);
    expect(def.listen[0]).toMatchObject({ kind: "unix" });
    expect(def.listen[0]?.kind === "unix" && def.listen[0].path.startsWith("/run/mfcd/")).toBe(true);
    expect(def.logLevel).toBe("info");
  });

  it("--learned-idle SEC: default 60 s, 0 = never, anything else a usage error", () => {
    expect(parseCliOptions([]).learnedIdleMs).toBe(60_000);
    expect(parseCliOptions(["--learned-idle", "2"]).learnedIdleMs).toBe(2000);
    expect(parseCliOptions(["--learned-idle", "0"]).learnedIdleMs).toBe(0);
    for (const bad of ["-1", "1.5", "00", "soon"]) {
      expect(() => parseCliOptions(["--learned-idle", bad]), bad).toThrow(/--learned-idle/);
    }
  });

  it.each([[["--bogus"]], [["--log-level", "loud"]], [["--listen", "nowhere"]], [["extra"]]])("rejects %j", (argv) => {
    expect(() => parseCliOptions(argv)).toThrow(UsageError);
  });
});

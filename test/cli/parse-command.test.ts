// mfcctl's argument grammar: the shell-friendly forms, flags anywhere, and usage errors that
// name the bad argument.
import { describe, expect, it } from "vitest";
import { CliUsageError, DEFAULT_APPLY_OWNER, parseCommand } from "../../src/cli/parse-command.js";
import { commandUsage, GENERAL_USAGE } from "../../src/cli/command-usage.js";

const words = (s: string) => s.split(" ").filter(Boolean);
const parse = (s: string) => parseCommand(words(s));

function usageError(argv: string[]): CliUsageError {
  try {
    parseCommand(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(CliUsageError);
    return err as CliUsageError;
  }
  throw new Error(`no usage error for ${argv.join(" ")}`);
}

describe("add", () => {
  it("the shell-friendly form", () => {
    expect(parse("add 10.0.0.1 239.1.1.1 from eth0 to eth1 eth2")).toEqual({
      addr: undefined,
      json: false,
      help: false,
      command: {
        name: "add",
        route: { source: "10.0.0.1", group: "239.1.1.1", iif: "eth0", oifs: ["eth1", "eth2"], oifTtl: {}, table: 0 },
        replace: false,
        owner: "",
        requireInterfaces: false,
      },
    });
  });

  it("every clause, in any order, keywords also as flags", () => {
    const inv = parseCommand([
      "--addr",
      "unix:/tmp/x.sock",
      "add",
      "10.0.0.0/8",
      "239.1.0.0/16",
      "to",
      "eth1",
      "eth2",
      "--table=7",
      "from",
      "eth0",
      "replace",
      "--owner",
      "lab",
      "rewrite-source",
      "192.168.7.100",
      "set-ttl",
      "64",
      "ttl",
      "eth2=16",
      "ttl",
      "eth1=2",
      "require-interfaces",
      "--json",
    ]);
    expect(inv.addr).toBe("unix:/tmp/x.sock");
    expect(inv.json).toBe(true);
    expect(inv.command).toEqual({
      name: "add",
      route: {
        source: "10.0.0.0/8",
        group: "239.1.0.0/16",
        iif: "eth0",
        oifs: ["eth1", "eth2"],
        oifTtl: { eth2: 16, eth1: 2 },
        table: 7,
        rewriteSource: "192.168.7.100",
        setTtl: 64,
      },
      replace: true,
      owner: "lab",
      requireInterfaces: true,
    });
  });

  it.each(["*", "-", "any", ""])("source %j means any source", (src) => {
    const inv = parseCommand(["add", src, "239.1.0.0/16", "from", "eth0", "to", "eth1"]);
    expect(inv.command).toMatchObject({ route: { source: "" } });
  });

  it.each([
    ["add 10.0.0.1", "missing GROUP"],
    ["add 10.0.0.1 239.1.1.1 to eth1", 'missing "from IIF"'],
    ["add 10.0.0.1 239.1.1.1 from eth0", 'missing "to OIF..."'],
    ["add 10.0.0.1 239.1.1.1 from to eth1", '"from" needs'],
    ["add 10.0.0.1 239.1.1.1 from eth0 to eth1 table x", 'table "x"'],
    ["add 10.0.0.1 239.1.1.1 from eth0 to eth1 ttl eth1", 'ttl "eth1": expected OIF=N'],
    ["add 10.0.0.1 239.1.1.1 from eth0 to eth1 --replce", '"--replce" (did you mean "replace"?)'],
    ["add 10.0.0.1 239.1.1.1 from eth0 from eth1 to eth2", '"from" is given 2 times'],
    ["add 10.0.0.1 239.1.1.1 extra from eth0 to eth1", 'unexpected argument "extra"'],
  ])("%s → usage error naming the argument", (line, message) => {
    const err = usageError(words(line));
    expect(err.message).toContain(message);
    expect(err.command).toBe("add");
  });
});

describe("other commands", () => {
  it("del with from and table", () => {
    expect(parse("del * 239.1.0.0/16 from eth0 table 3").command).toEqual({
      name: "del",
      source: "",
      group: "239.1.0.0/16",
      iif: "eth0",
      table: 3,
    });
    expect(parse("rm 10.0.0.1 239.1.1.1").command).toMatchObject({ name: "del", iif: "", table: 0 });
  });

  it("ls and its alias", () => {
    expect(parse("ls --json")).toMatchObject({ json: true, command: { name: "ls" } });
    expect(parse("list").command).toEqual({ name: "ls" });
    expect(usageError(words("ls 239.1.1.1")).message).toContain('unexpected argument "239.1.1.1"');
  });

  it("watch with and without a filter", () => {
    expect(parse("watch").command).toEqual({ name: "watch", source: "", group: "", intervalMs: 1000, count: undefined });
    expect(parse("watch * 239.1.1.1 --interval 250 --count 2").command).toEqual({
      name: "watch",
      source: "",
      group: "239.1.1.1",
      intervalMs: 250,
      count: 2,
    });
    expect(usageError(words("watch 239.1.1.1")).message).toContain("missing GROUP");
    expect(usageError(words("watch --interval 0")).message).toContain('interval "0"');
  });

  it("apply defaults to its own owner", () => {
    expect(parse("apply routes.yaml").command).toEqual({
      name: "apply",
      file: "routes.yaml",
      owner: DEFAULT_APPLY_OWNER,
      dryRun: false,
      allowEmpty: false,
      requireInterfaces: false,
      listUnchanged: false,
    });
    expect(parse("apply - --dry-run --owner=lab --allow-empty --list-unchanged").command).toMatchObject({
      file: "-",
      owner: "lab",
      dryRun: true,
      allowEmpty: true,
      listUnchanged: true,
    });
    expect(usageError(words("apply")).message).toContain("missing FILE");
    expect(usageError(words("apply x.yaml --dryrun")).message).toContain('"--dryrun" (did you mean "dry-run"?)');
  });

  it("diagnose and trace", () => {
    expect(parse("diagnose 10.0.0.1 239.1.1.1 from eth0 --window 500").command).toEqual({
      name: "diagnose",
      source: "10.0.0.1",
      group: "239.1.1.1",
      iif: "eth0",
      table: 0,
      windowMs: 500,
    });
    expect(parse("trace 10.0.0.1 239.1.1.1 duration 2000").command).toEqual({
      name: "trace",
      source: "10.0.0.1",
      group: "239.1.1.1",
      iif: "",
      durationMs: 2000,
    });
  });

  it("info, with --json, and its help", () => {
    expect(parse("info").command).toEqual({ name: "info" });
    expect(parse("info --json")).toMatchObject({ json: true, command: { name: "info" } });
    expect(parse("help info").command).toEqual({ name: "help", topic: "info" });
    expect(usageError(words("info ipv4")).message).toContain('info: unexpected argument "ipv4"');
    expect(usageError(["inof"]).message).toContain('(did you mean "info"?)');
    expect(GENERAL_USAGE).toMatch(/^ {2}info {2,}\S/m);
    expect(commandUsage("info")).toContain("Usage: mfcctl info [--json]");
  });

  it("health, help and --help", () => {
    expect(parse("health").command).toEqual({ name: "health" });
    expect(parse("help add").command).toEqual({ name: "help", topic: "add" });
    expect(parse("--help").command).toEqual({ name: "help", topic: undefined });
    // --help needs no complete command line.
    expect(parse("add --help").command).toEqual({ name: "help", topic: "add" });
  });

  it("global flag errors and unknown commands", () => {
    expect(usageError([]).message).toBe("missing command");
    expect(usageError(["--addr"]).message).toContain("--addr needs an address");
    expect(usageError(["lss"]).message).toContain('unknown command "lss" (did you mean "ls"?)');
  });
});

describe("TLS flags", () => {
  it("anywhere on the line, = or separate", () => {
    expect(parseCommand(["--tls-ca", "/ca.pem", "health"]).tls).toEqual({ ca: "/ca.pem" });
    expect(parseCommand(["health", "--tls-ca=/ca.pem", "--tls-cert", "/c.pem", "--tls-key=/k.pem"]).tls).toEqual({
      ca: "/ca.pem",
      cert: "/c.pem",
      key: "/k.pem",
    });
    expect(parseCommand(["health"]).tls).toBeUndefined();
  });

  it.each([
    [["--tls-cert", "/c.pem", "--tls-key", "/k.pem", "health"], "need --tls-ca"],
    [["--tls-ca", "/ca.pem", "--tls-cert", "/c.pem", "health"], "go together"],
    [["health", "--tls-ca"], "--tls-ca needs a PEM file"],
  ])("%j is a usage error", (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(message);
  });
});

// mfcctl's command line: global flags (--addr, --json, --help) anywhere, then one command in a
// shell-friendly grammar of positionals and keyword clauses, e.g.
//   mfcctl add 10.0.0.1 239.1.1.1 from eth0 to eth1 eth2 table 7 ttl eth2=16
// Keywords may also be written as flags (`--owner x`, `--owner=x`, `--replace`). Pure: no I/O, no
// defaults that depend on the machine (the default --addr is resolved by main).

import { didYouMean } from "../shared/did-you-mean.js";
import type { Route } from "../sdk/index.js";

export const COMMAND_NAMES = ["add", "del", "ls", "watch", "apply", "diagnose", "trace", "info", "health", "stop", "upgrade", "help"] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** Other spellings people reach for. */
const COMMAND_ALIASES: Record<string, CommandName> = {
  delete: "del",
  rm: "del",
  list: "ls",
  show: "ls",
};

export type Command =
  | { name: "add"; route: Route; replace: boolean; owner: string; requireInterfaces: boolean }
  | { name: "del"; source: string; group: string; iif: string; table: number }
  | { name: "ls" }
  | { name: "watch"; source: string; group: string; intervalMs: number; count: number | undefined }
  | {
      name: "apply";
      file: string;
      owner: string;
      dryRun: boolean;
      allowEmpty: boolean;
      requireInterfaces: boolean;
      listUnchanged: boolean;
    }
  | { name: "diagnose"; source: string; group: string; iif: string; table: number; windowMs: number }
  | { name: "trace"; source: string; group: string; iif: string; durationMs: number }
  | { name: "info" }
  | { name: "health" }
  | { name: "stop"; keepForwarding: boolean }
  | { name: "upgrade" }
  | { name: "help"; topic: CommandName | undefined };

export interface Invocation {
  /** --addr as given; undefined = mfcd's default socket for this network namespace. */
  addr: string | undefined;
  /** TLS to a TCP mfcd: --tls-ca verifies the server; --tls-cert/--tls-key present a client certificate. */
  tls?: { ca: string; cert?: string; key?: string };
  json: boolean;
  /** -h/--help: print the usage of `command` (or the general one) instead of running it. */
  help: boolean;
  command: Command;
}

/** Owner of routes applied from a file with `mfcctl apply` unless --owner says otherwise. */
export const DEFAULT_APPLY_OWNER = "mfcctl";

export class CliUsageError extends Error {
  override readonly name = "CliUsageError";

  constructor(
    message: string,
    /** The command whose usage to show with the message. */
    readonly command?: CommandName,
  ) {
    super(message);
  }
}

/** Sources meaning "any source" (a template). The shell eats a bare '' so "" also works. */
const ANY_SOURCE = new Set(["*", "-", "any", ""]);

export function parseSource(text: string): string {
  return ANY_SOURCE.has(text) ? "" : text;
}

// ---------------------------------------------------------------------------------------------
// Keyword clauses

type Arity = "flag" | "one" | "many";

interface Keyword {
  arity: Arity;
  /** The value's name in messages ("IIF", "MS"). */
  meta?: string;
  aliases?: string[];
}

type Keywords = Record<string, Keyword>;

interface Parsed {
  positionals: string[];
  /** Values per keyword (canonical name); a flag gets [""] per occurrence. */
  clauses: Map<string, string[][]>;
}

function parseClauses(cmd: CommandName, args: string[], keywords: Keywords): Parsed {
  const byName = new Map<string, string>();
  for (const [name, kw] of Object.entries(keywords)) {
    byName.set(name, name);
    for (const a of kw.aliases ?? []) byName.set(a, name);
  }
  const positionals: string[] = [];
  const clauses = new Map<string, string[][]>();
  let open: string[] | undefined; // the value list of an open "many" clause
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!;
    let word = token;
    let inline: string | undefined;
    const dashed = token.startsWith("--");
    if (dashed) {
      word = token.slice(2);
      const eq = word.indexOf("=");
      if (eq >= 0) {
        inline = word.slice(eq + 1);
        word = word.slice(0, eq);
      }
    }
    const name = byName.get(word);
    if (name === undefined) {
      if (dashed || (token.startsWith("-") && token.length > 1 && !ANY_SOURCE.has(token))) {
        const guess = didYouMean(word, [...byName.keys()], new Set());
        throw new CliUsageError(
          `${cmd}: unknown option "${token}"${guess === undefined ? "" : ` (did you mean "${guess}"?)`}`,
          cmd,
        );
      }
      if (open) open.push(token);
      else positionals.push(token);
      continue;
    }
    const kw = keywords[name]!;
    const list = clauses.get(name) ?? [];
    clauses.set(name, list);
    open = undefined;
    if (kw.arity === "flag") {
      if (inline !== undefined) throw new CliUsageError(`${cmd}: "${word}" takes no value (got "${token}")`, cmd);
      list.push([""]);
      continue;
    }
    const values: string[] = [];
    list.push(values);
    if (inline !== undefined) values.push(inline);
    else if (kw.arity === "one" || kw.arity === "many") {
      const next = args[i + 1];
      if (next === undefined || byName.has(next.startsWith("--") ? next.slice(2).split("=")[0]! : next)) {
        throw new CliUsageError(`${cmd}: "${word}" needs ${kw.meta ?? "a value"}`, cmd);
      }
      values.push(next);
      i++;
    }
    if (kw.arity === "many") open = values;
  }
  return { positionals, clauses };
}

function one(cmd: CommandName, p: Parsed, name: string): string | undefined {
  const list = p.clauses.get(name);
  if (!list || list.length === 0) return undefined;
  if (list.length > 1) throw new CliUsageError(`${cmd}: "${name}" is given ${list.length} times`, cmd);
  return list[0]![0];
}

function flag(cmd: CommandName, p: Parsed, name: string): boolean {
  return one(cmd, p, name) !== undefined;
}

function uint(cmd: CommandName, what: string, text: string | undefined, range: { min: number; max: number }): number | undefined {
  if (text === undefined) return undefined;
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new CliUsageError(`${cmd}: ${what} "${text}": expected an integer ${range.min}..${range.max}`, cmd);
  }
  return n;
}

const TABLE_RANGE = { min: 0, max: 0xffff_ffff };
const MS_RANGE = { min: 1, max: 0xffff_ffff };

function positionals(cmd: CommandName, p: Parsed, names: string[], optional = false): string[] {
  const got = p.positionals;
  if (got.length > names.length) {
    throw new CliUsageError(`${cmd}: unexpected argument "${got[names.length]}"`, cmd);
  }
  if (got.length < names.length && !(optional && got.length === 0)) {
    throw new CliUsageError(`${cmd}: missing ${names.slice(got.length).join(" ")}`, cmd);
  }
  return got;
}

const FROM: Keyword = { arity: "one", meta: "an input interface (IIF)", aliases: ["iif"] };
const TABLE: Keyword = { arity: "one", meta: "a table id (N)" };

// ---------------------------------------------------------------------------------------------
// Commands

function parseAdd(args: string[]): Command {
  const p = parseClauses("add", args, {
    from: FROM,
    to: { arity: "many", meta: "output interfaces (OIF...)", aliases: ["oifs", "oif"] },
    table: TABLE,
    replace: { arity: "flag" },
    owner: { arity: "one", meta: "an owner name" },
    "rewrite-source": { arity: "one", meta: "an address" },
    "set-ttl": { arity: "one", meta: "a TTL (1..255)" },
    ttl: { arity: "one", meta: "OIF=N (a TTL threshold)" },
    "require-interfaces": { arity: "flag" },
  });
  const [source, group] = positionals("add", p, ["SRC", "GROUP"]);
  const iif = one("add", p, "from");
  if (iif === undefined) throw new CliUsageError(`add: missing "from IIF" (the input interface)`, "add");
  const to = p.clauses.get("to") ?? [];
  if (to.length === 0) throw new CliUsageError(`add: missing "to OIF..." (the output interfaces)`, "add");
  const oifs = to.flat();
  const oifTtl: Record<string, number> = {};
  for (const [spec] of p.clauses.get("ttl") ?? []) {
    const m = /^([^=]+)=(.*)$/.exec(spec!);
    if (!m) throw new CliUsageError(`add: ttl "${spec}": expected OIF=N, e.g. ttl eth2=16`, "add");
    if (m[1]! in oifTtl) throw new CliUsageError(`add: ttl for "${m[1]}" is given twice`, "add");
    oifTtl[m[1]!] = uint("add", `ttl ${m[1]}`, m[2], { min: 0, max: 255 })!;
  }
  const rewriteSource = one("add", p, "rewrite-source");
  const setTtl = uint("add", "set-ttl", one("add", p, "set-ttl"), { min: 0, max: 255 });
  const route: Route = {
    source: parseSource(source!),
    group: group!,
    iif,
    oifs,
    oifTtl,
    table: uint("add", "table", one("add", p, "table"), TABLE_RANGE) ?? 0,
    ...(rewriteSource === undefined ? {} : { rewriteSource }),
    ...(setTtl === undefined ? {} : { setTtl }),
  };
  return {
    name: "add",
    route,
    replace: flag("add", p, "replace"),
    owner: one("add", p, "owner") ?? "",
    requireInterfaces: flag("add", p, "require-interfaces"),
  };
}

function parseDel(args: string[]): Command {
  const p = parseClauses("del", args, { from: FROM, table: TABLE });
  const [source, group] = positionals("del", p, ["SRC", "GROUP"]);
  return {
    name: "del",
    source: parseSource(source!),
    group: group!,
    iif: one("del", p, "from") ?? "",
    table: uint("del", "table", one("del", p, "table"), TABLE_RANGE) ?? 0,
  };
}

function parseWatch(args: string[]): Command {
  const p = parseClauses("watch", args, {
    interval: { arity: "one", meta: "milliseconds (MS)" },
    count: { arity: "one", meta: "a number of updates (N)" },
  });
  const [source, group] = positionals("watch", p, ["SRC", "GROUP"], true);
  return {
    name: "watch",
    source: source === undefined ? "" : parseSource(source),
    group: group ?? "",
    intervalMs: uint("watch", "interval", one("watch", p, "interval"), MS_RANGE) ?? 1000,
    count: uint("watch", "count", one("watch", p, "count"), { min: 1, max: Number.MAX_SAFE_INTEGER }),
  };
}

function parseApply(args: string[]): Command {
  const p = parseClauses("apply", args, {
    "dry-run": { arity: "flag" },
    owner: { arity: "one", meta: "an owner name" },
    "allow-empty": { arity: "flag" },
    "require-interfaces": { arity: "flag" },
    "list-unchanged": { arity: "flag" },
  });
  const [file] = positionals("apply", p, ["FILE"]);
  return {
    name: "apply",
    file: file!,
    owner: one("apply", p, "owner") ?? DEFAULT_APPLY_OWNER,
    dryRun: flag("apply", p, "dry-run"),
    allowEmpty: flag("apply", p, "allow-empty"),
    requireInterfaces: flag("apply", p, "require-interfaces"),
    listUnchanged: flag("apply", p, "list-unchanged"),
  };
}

/** SRC GROUP [from IIF] and the command's other clauses: what diagnose and trace both take. */
function parseFlow(name: "diagnose" | "trace", args: string[], clauses: Record<string, Keyword>) {
  const p = parseClauses(name, args, { from: FROM, ...clauses });
  const [source, group] = positionals(name, p, ["SRC", "GROUP"]);
  return { p, flow: { source: source!, group: group!, iif: one(name, p, "from") ?? "" } };
}

const MS: Keyword = { arity: "one", meta: "milliseconds (MS)" };

function parseDiagnose(args: string[]): Command {
  const { p, flow } = parseFlow("diagnose", args, { table: TABLE, window: MS });
  const table = uint("diagnose", "table", one("diagnose", p, "table"), TABLE_RANGE) ?? 0;
  return { name: "diagnose", ...flow, table, windowMs: uint("diagnose", "window", one("diagnose", p, "window"), MS_RANGE) ?? 0 };
}

function parseTrace(args: string[]): Command {
  const { p, flow } = parseFlow("trace", args, { duration: MS });
  return { name: "trace", ...flow, durationMs: uint("trace", "duration", one("trace", p, "duration"), MS_RANGE) ?? 0 };
}

function noArgs(name: "ls" | "info" | "health" | "upgrade"): (args: string[]) => Command {
  return (args) => {
    if (args.length > 0) throw new CliUsageError(`${name}: unexpected argument "${args[0]}"`, name);
    return { name };
  };
}

function parseStop(args: string[]): Command {
  const bad = args.find((a) => a !== "--keep-forwarding");
  if (bad !== undefined) throw new CliUsageError(`stop: unexpected argument "${bad}" (only --keep-forwarding)`, "stop");
  return { name: "stop", keepForwarding: args.length > 0 };
}

function parseHelp(args: string[]): Command {
  if (args.length > 1) throw new CliUsageError(`help: unexpected argument "${args[1]}"`, "help");
  return { name: "help", topic: args[0] === undefined ? undefined : commandName(args[0]) };
}

const PARSERS: Record<CommandName, (args: string[]) => Command> = {
  add: parseAdd,
  del: parseDel,
  ls: noArgs("ls"),
  watch: parseWatch,
  apply: parseApply,
  diagnose: parseDiagnose,
  trace: parseTrace,
  info: noArgs("info"),
  health: noArgs("health"),
  stop: parseStop,
  upgrade: noArgs("upgrade"),
  help: parseHelp,
};

function commandName(word: string): CommandName {
  if ((COMMAND_NAMES as readonly string[]).includes(word)) return word as CommandName;
  const alias = COMMAND_ALIASES[word];
  if (alias) return alias;
  const guess = didYouMean(word, COMMAND_NAMES, new Set());
  throw new CliUsageError(
    `unknown command "${word}"${guess === undefined ? "" : ` (did you mean "${guess}"?)`}; ` +
      `expected one of ${COMMAND_NAMES.join(", ")}`,
  );
}

/** Parse mfcctl's arguments (without node and the script). Throws CliUsageError. */
export function parseCommand(argv: string[]): Invocation {
  let addr: string | undefined;
  let json = false;
  let help = false;
  const files: Partial<Record<"ca" | "cert" | "key", string>> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const tlsFlag = /^--tls-(ca|cert|key)(?:=(.*))?$/.exec(a);
    if (a === "--json") json = true;
    else if (a === "-h" || a === "--help") help = true;
    else if (a === "--addr" || a.startsWith("--addr=")) {
      const value = a === "--addr" ? argv[++i] : a.slice("--addr=".length);
      if (value === undefined || value === "") throw new CliUsageError(`--addr needs an address (unix:/path or host:port)`);
      addr = value;
    } else if (tlsFlag) {
      const value = tlsFlag[2] ?? argv[++i];
      if (value === undefined || value === "") throw new CliUsageError(`--tls-${tlsFlag[1]} needs a PEM file`);
      files[tlsFlag[1] as "ca" | "cert" | "key"] = value;
    } else rest.push(a);
  }
  const tls = tlsFiles(files);
  const [first, ...args] = rest;
  const base = { addr, json, help, ...(tls ? { tls } : {}) };
  if (first === undefined) {
    if (help) return { ...base, command: { name: "help", topic: undefined } };
    throw new CliUsageError("missing command");
  }
  const name = commandName(first);
  // With --help the rest of the line need not be complete ("mfcctl add --help").
  if (help) return { ...base, command: { name: "help", topic: name === "help" ? undefined : name } };
  return { ...base, command: PARSERS[name](args) };
}

function tlsFiles(files: Partial<Record<"ca" | "cert" | "key", string>>): Invocation["tls"] {
  if (files.ca === undefined) {
    if (files.cert !== undefined || files.key !== undefined) {
      throw new CliUsageError("--tls-cert/--tls-key need --tls-ca (the CA that signed mfcd's certificate)");
    }
    return undefined;
  }
  if ((files.cert === undefined) !== (files.key === undefined)) {
    throw new CliUsageError("--tls-cert and --tls-key go together (the client certificate and its key)");
  }
  return files.cert === undefined ? { ca: files.ca } : { ca: files.ca, cert: files.cert, key: files.key! };
}

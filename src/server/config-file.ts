// The --config route file: a declarative, versioned list of routes in YAML or JSON (JSON is
// YAML 1.2, so one parser reads both whatever the file is called). mfcd applies it at start and on
// SIGHUP as the complete set of "config" routes, so the file must never be read loosely: a typo
// that dropped a route would silently delete it from the router. Every problem is reported, all
// at once, at the line and column of the offending text.

import { readFileSync } from "node:fs";
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Scalar,
  type YAMLError,
  type YAMLMap,
  type YAMLSeq,
} from "yaml";
import type { FieldViolation } from "../engine/domain-error.js";
import { MAX_VIFS } from "../engine/vif-table.js";
import { didYouMean } from "../shared/did-you-mean.js";
import { validateGroup, validateInterfaceName, validateSource } from "./validate-route.js";

/** The schema version this mfcd reads (`version: 1`). */
export const CONFIG_VERSION = 1;

const TOP_KEYS = ["version", "routes"] as const;
const ROUTE_KEYS = ["source", "group", "iif", "oifs", "table"] as const;
const REQUIRED_ROUTE_KEYS = ["source", "group", "iif", "oifs"] as const;
const MAX_OIFS = MAX_VIFS - 1;
const MAX_TABLE = 0xffff_ffff;

export interface ConfigRoute {
  source: string;
  group: string;
  iif: string;
  oifs: string[];
  /** Kernel multicast routing table id; 0 unless the file says otherwise. */
  table: number;
  /** 1-based line where the route starts in the file, for log messages. */
  line: number;
}

export interface ConfigProblem {
  /** 1-based; 0 when the problem concerns the whole file (it could not be read). */
  line: number;
  column: number;
  message: string;
}

export class ConfigFileError extends Error {
  override readonly name = "ConfigFileError";

  constructor(
    readonly path: string,
    readonly problems: ConfigProblem[],
  ) {
    // One line per problem in the compiler-style form editors and grep understand.
    super(problems.map((p) => (p.line > 0 ? `${path}:${p.line}:${p.column}: ${p.message}` : `${path}: ${p.message}`)).join("\n"));
  }
}

/** Parse the text of a config file; `path` only names the file in messages. */
export function parseConfig(text: string, path: string): ConfigRoute[] {
  const lines = new LineCounter();
  // uniqueKeys off: the reader reports repeated keys itself, naming the first occurrence too.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const reader = new ConfigReader(doc, lines);
  for (const err of [...doc.errors, ...doc.warnings]) reader.problem(err.pos[0], yamlMessage(err));
  // After a syntax error the tree is a guess; checking it would only add misleading problems.
  const routes = doc.errors.length === 0 ? reader.read() : [];
  if (reader.problems.length > 0) {
    const sorted = [...reader.problems].sort((a, b) => a.line - b.line || a.column - b.column);
    throw new ConfigFileError(path, sorted);
  }
  return routes;
}

/** Read and parse a config file; an unreadable file is a ConfigFileError naming it too. */
export function loadConfigFile(path: string): ConfigRoute[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason =
      e.code === "ENOENT"
        ? "no such file"
        : e.code === "EACCES"
          ? "permission denied"
          : e.code === "EISDIR"
            ? "it is a directory"
            : e.message;
    throw new ConfigFileError(path, [{ line: 0, column: 0, message: `cannot read config file: ${reason}` }]);
  }
  return parseConfig(text, path);
}

function yamlMessage(err: YAMLError): string {
  if (err.code === "MULTIPLE_DOCS") return "YAML: a second document starts here; the file must hold exactly one";
  return `YAML: ${err.message}`;
}

type YamlNode = Scalar | YAMLMap | YAMLSeq;

/** A map entry; `value` has aliases resolved and is null for `key:` with nothing after it. */
interface Entry {
  key: Scalar;
  value: YamlNode | null;
  /** Where a problem with the value points: the value, or the key when the value is empty. */
  at: number;
}

function isEmpty(node: YamlNode | null): boolean {
  return node === null || (isScalar(node) && node.value === null);
}

function describe(node: YamlNode | null): string {
  if (node === null || (isScalar(node) && node.value === null)) return "nothing";
  if (isMap(node)) return "a map";
  if (isSeq(node)) return "a list";
  const v = node.value;
  if (typeof v === "string") return `"${v}"`;
  if (typeof v === "number" || typeof v === "bigint") return `the number ${node.source ?? String(v)}`;
  if (typeof v === "boolean") return `the boolean ${String(v)}`;
  return "an unsupported value";
}

function keyList(keys: readonly string[]): string {
  return keys.map((k) => `\`${k}\``).join(", ");
}

/** Walks the parsed document, collecting every problem with its position. */
class ConfigReader {
  readonly problems: ConfigProblem[] = [];

  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  problem(offset: number, message: string): void {
    const { line, col } = this.lines.linePos(offset);
    this.problems.push({ line: Math.max(line, 1), column: Math.max(col, 1), message });
  }

  lineOf(offset: number): number {
    return Math.max(this.lines.linePos(offset).line, 1);
  }

  read(): ConfigRoute[] {
    const root = this.resolve(this.doc.contents);
    if (root === null || isEmpty(root)) {
      this.problem(0, `the file is empty: expected \`version: ${CONFIG_VERSION}\` and \`routes\``);
      return [];
    }
    if (!isMap(root)) {
      this.problem(offsetOf(root), `the file must be a map with \`version\` and \`routes\`, not ${describe(root)}`);
      return [];
    }
    const rootAt = offsetOf(root);
    const { entries, suggested } = this.readMap(root, TOP_KEYS, "");
    if (!suggested.has("version")) this.checkVersion(entries.get("version"), rootAt);

    const routes = entries.get("routes");
    if (!routes) {
      // A file that lost its routes key must not empty the router: emptiness has to be explicit.
      if (!suggested.has("routes")) {
        this.problem(rootAt, "missing `routes`: list the routes, or write `routes: []` to remove all config routes");
      }
      return [];
    }
    if (!isSeq(routes.value)) {
      this.problem(
        routes.at,
        isEmpty(routes.value)
          ? "`routes` has no value: list the routes under it, or write `routes: []` to remove all config routes"
          : `\`routes\` must be a list of routes, not ${describe(routes.value)}`,
      );
      return [];
    }

    const out: ConfigRoute[] = [];
    const firstLine = new Map<string, number>();
    routes.value.items.forEach((item, i) => {
      const field = `routes[${i}]`;
      const at = offsetOf(item, routes.at);
      const line = this.lineOf(at);
      const route = this.readRoute(this.resolve(item), field, at);
      if (!route) return;
      const key = `${route.table}/${route.source}/${route.group}`;
      const earlier = firstLine.get(key);
      if (earlier !== undefined) {
        this.problem(
          at,
          `${field}: duplicate route (source ${route.source}, group ${route.group}, table ${route.table}) ` +
            `at lines ${earlier} and ${line}; each (source, group, table) may appear only once`,
        );
        return;
      }
      firstLine.set(key, line);
      out.push({ ...route, line });
    });
    return out;
  }

  private resolve(node: unknown): YamlNode | null {
    const n = isAlias(node) ? node.resolve(this.doc) : node;
    return isScalar(n) || isMap(n) || isSeq(n) ? n : null;
  }

  /** The entries of a map whose keys are in `allowed`; unknown and repeated keys are problems. */
  private readMap(
    map: YAMLMap,
    allowed: readonly string[],
    where: string,
  ): { entries: Map<string, Entry>; suggested: Set<string> } {
    const entries = new Map<string, Entry>();
    const suggested = new Set<string>();
    const present = new Set<string>();
    for (const pair of map.items) {
      if (isScalar(pair.key) && typeof pair.key.value === "string") present.add(pair.key.value);
    }
    for (const pair of map.items) {
      const key = pair.key;
      const keyAt = offsetOf(key, offsetOf(map));
      if (!isScalar(key) || typeof key.value !== "string") {
        this.problem(keyAt, `${where}keys must be plain names (${keyList(allowed)})`);
        continue;
      }
      const name = key.value;
      if (!allowed.includes(name)) {
        const guess = didYouMean(name, allowed, present);
        if (guess !== undefined) suggested.add(guess);
        const hint = guess !== undefined ? `did you mean \`${guess}\`?` : `expected ${keyList(allowed)}`;
        this.problem(keyAt, `${where}unknown key \`${name}\` (${hint})`);
        continue;
      }
      const first = entries.get(name);
      if (first) {
        this.problem(keyAt, `${where}\`${name}\` is given twice (first at line ${this.lineOf(offsetOf(first.key))})`);
        continue;
      }
      const value = this.resolve(pair.value);
      // `key:` with nothing after it has an empty scalar just past the colon; point at the key.
      const empty = isScalar(pair.value) && pair.value.value === null && !pair.value.source;
      entries.set(name, { key, value, at: empty ? keyAt : offsetOf(pair.value, keyAt) });
    }
    return { entries, suggested };
  }

  /** Missing version is a problem unless a misspelt key was already reported for it. */
  private checkVersion(entry: Entry | undefined, rootAt: number): void {
    if (!entry) {
      this.problem(rootAt, `missing \`version: ${CONFIG_VERSION}\` (the schema version the file is written for)`);
      return;
    }
    const v = entry.value;
    if (isScalar(v) && typeof v.value === "number" && Number.isInteger(v.value)) {
      if (v.value !== CONFIG_VERSION) {
        this.problem(entry.at, `unsupported version ${v.value}: this mfcd reads version ${CONFIG_VERSION}`);
      }
      return;
    }
    this.problem(entry.at, `\`version\` must be the number ${CONFIG_VERSION}, not ${describe(v)}`);
  }

  /** One route, or undefined when it has problems (they are recorded). */
  private readRoute(node: YamlNode | null, field: string, at: number): Omit<ConfigRoute, "line"> | undefined {
    if (!isMap(node)) {
      this.problem(at, `${field} must be a map with ${keyList(REQUIRED_ROUTE_KEYS)}, not ${describe(node)}`);
      return undefined;
    }
    const before = this.problems.length;
    const { entries, suggested } = this.readMap(node, ROUTE_KEYS, `${field}: `);
    // A misspelt key was already reported with its fix; "missing" on top would only be noise.
    const missing = REQUIRED_ROUTE_KEYS.filter((k) => !entries.has(k) && !suggested.has(k));
    if (missing.length > 0) this.problem(at, `${field}: missing ${keyList(missing)}`);

    const source = this.readAddress(entries.get("source"), `${field}.source`, validateSource);
    const group = this.readAddress(entries.get("group"), `${field}.group`, validateGroup);
    const iifEntry = entries.get("iif");
    const iif = iifEntry && this.readName(iifEntry.value, iifEntry.at, `${field}.iif`);
    const oifs = this.readOifs(entries.get("oifs"), `${field}.oifs`, iif);
    const table = this.readTable(entries.get("table"), `${field}.table`);

    if (this.problems.length > before) return undefined;
    if (source === undefined || group === undefined || iif === undefined || oifs === undefined) return undefined;
    return { source, group, iif, oifs, table };
  }

  /**
   * An address field. Numbers are checked by their source text so the validator can say what is
   * wrong ("10.1" is shorthand); an empty value is checked as "" (the validator says "required").
   */
  private readAddress(
    entry: Entry | undefined,
    field: string,
    validate: (value: string, field: string, out: FieldViolation[]) => void,
  ): string | undefined {
    if (!entry) return undefined;
    const v = entry.value;
    let text: string;
    if (v === null || isEmpty(v)) text = "";
    else if (isScalar(v)) text = typeof v.value === "string" ? v.value : (v.source ?? String(v.value));
    else {
      this.problem(entry.at, `${field} must be a dotted-quad address, not ${describe(v)}`);
      return undefined;
    }
    return this.validated(entry.at, (out) => validate(text, field, out)) ? text : undefined;
  }

  /** An interface name; a number or boolean has to be quoted to be one. */
  private readName(node: YamlNode | null, at: number, field: string): string | undefined {
    let text: string;
    if (node === null || isEmpty(node)) text = "";
    else if (isScalar(node) && typeof node.value === "string") text = node.value;
    else {
      const hint = isScalar(node) ? " (quote it if the interface is really called that)" : "";
      this.problem(at, `${field} must be an interface name, not ${describe(node)}${hint}`);
      return undefined;
    }
    return this.validated(at, (out) => validateInterfaceName(text, field, out)) ? text : undefined;
  }

  private readOifs(entry: Entry | undefined, field: string, iif: string | undefined): string[] | undefined {
    if (!entry) return undefined;
    const list = entry.value;
    if (!isSeq(list)) {
      const hint = isScalar(list) && typeof list.value === "string" ? ` (write [${list.value}] for one)` : "";
      this.problem(entry.at, `${field} must be a list of interface names, not ${describe(list)}${hint}`);
      return undefined;
    }
    if (list.items.length === 0) {
      this.problem(entry.at, `${field}: at least one output interface is required`);
      return undefined;
    }
    if (list.items.length > MAX_OIFS) {
      this.problem(
        entry.at,
        `${field}: ${list.items.length} output interfaces; at most ${MAX_OIFS} (the kernel has ${MAX_VIFS} VIFs and the iif takes one)`,
      );
    }
    const oifs: string[] = [];
    const seen = new Map<string, number>();
    let ok = true;
    list.items.forEach((item, i) => {
      const path = `${field}[${i}]`;
      // Point at the item as written (an alias, if it is one), not at a distant anchor.
      const at = offsetOf(item, entry.at);
      const name = this.readName(this.resolve(item), at, path);
      if (name === undefined) {
        ok = false;
        return;
      }
      const first = seen.get(name);
      if (first !== undefined) {
        this.problem(at, `${path}: "${name}" is listed twice (also ${field}[${first}])`);
        ok = false;
      } else if (name === iif) {
        this.problem(at, `${path}: "${name}" is the input interface; forwarding back out of the iif is not allowed`);
        ok = false;
      }
      seen.set(name, first ?? i);
      oifs.push(name);
    });
    return ok && oifs.length <= MAX_OIFS ? oifs : undefined;
  }

  private readTable(entry: Entry | undefined, field: string): number {
    if (!entry) return 0;
    const v = entry.value;
    const n = isScalar(v) ? v.value : undefined;
    if (typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_TABLE) return n;
    this.problem(entry.at, `${field} must be an unsigned 32-bit integer (a kernel table id), not ${describe(v)}`);
    return 0;
  }

  /** Run a validate-route.ts check, recording its violations at `at`; true when there were none. */
  private validated(at: number, check: (out: FieldViolation[]) => void): boolean {
    const out: FieldViolation[] = [];
    check(out);
    for (const v of out) this.problem(at, `${v.field}: ${v.description}`);
    return out.length === 0;
  }
}

/** Start offset of a node, or `fallback` when yaml gave it no position. */
function offsetOf(node: unknown, fallback = 0): number {
  const range = (node as { range?: readonly number[] | null } | null | undefined)?.range;
  return range?.[0] ?? fallback;
}

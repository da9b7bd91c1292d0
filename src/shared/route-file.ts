// The route file of `mfcd --config` and `mfcctl apply`: a declarative, versioned list of routes in
// YAML or JSON (JSON is YAML 1.2, so one parser reads both whatever the file is called). A route
// has the fields of the proto Route, snake_case as in mfc.proto, and is checked by the one route
// validator the RPCs use (route-validation.ts), so a file accepts exactly what AddRoute accepts.
// mfcd applies it at start and on SIGHUP as the complete set of "config" routes, so the file must
// never be read loosely: a typo that dropped a route would silently delete it from the router.
// Every problem is reported, all at once, at the line and column of the offending text.

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
import { isTemplateKey } from "../address/index.js";
import type { Route } from "../gen/mfc.js";
import { didYouMean } from "./did-you-mean.js";
import type { FieldViolation } from "./field-violation.js";
import { checkRoute, type ValidRoute } from "./route-validation.js";

/** The schema version this mfcd reads (`version: 1`). */
export const CONFIG_VERSION = 1;

const TOP_KEYS = ["version", "routes"] as const;
const ROUTE_KEYS = ["source", "group", "iif", "oifs", "table", "oif_ttl", "rewrite_source", "set_ttl"] as const;
const REQUIRED_ROUTE_KEYS = ["source", "group", "iif", "oifs"] as const;
const MAX_TABLE = 0xffff_ffff;

/** A valid route of the file (addresses canonical, table 0 unless given) and where it starts. */
export interface ConfigRoute extends ValidRoute {
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
      // Templates are keyed by their iif too: one (*,G) may be learned on several interfaces.
      const key = `${route.table}/${route.source}/${route.group}${isTemplateKey(route) ? `/${route.iif}` : ""}`;
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
  private readRoute(node: YamlNode | null, field: string, at: number): ValidRoute | undefined {
    if (!isMap(node)) {
      this.problem(at, `${field} must be a map with ${keyList(REQUIRED_ROUTE_KEYS)}, not ${describe(node)}`);
      return undefined;
    }
    const before = this.problems.length;
    const { entries, suggested } = this.readMap(node, ROUTE_KEYS, `${field}: `);
    // A misspelt key was already reported with its fix; "missing" on top would only be noise.
    const missing = REQUIRED_ROUTE_KEYS.filter((k) => !entries.has(k) && !suggested.has(k));
    if (missing.length > 0) this.problem(at, `${field}: missing ${keyList(missing)}`);

    const fields = new RouteFields(field);
    for (const [name, entry] of entries) fields.at.set(`${field}.${name}`, entry.at);
    const source = this.readAddress(entries.get("source"), `${field}.source`, fields);
    const group = this.readAddress(entries.get("group"), `${field}.group`, fields);
    const rewriteSource = this.readAddress(entries.get("rewrite_source"), `${field}.rewrite_source`, fields);
    const iif = this.readName(entries.get("iif")?.value ?? null, `${field}.iif`, fields);
    const oifs = this.readOifs(entries.get("oifs"), `${field}.oifs`, fields);
    const route: Route = {
      // Stand-ins for fields that are missing or not text, of the family of the other address, so
      // the rest of the route is still checked; their own violations are dropped below.
      source: source ?? (group?.includes(":") ? "2001:db8::1" : "192.0.2.1"),
      group: group ?? (source?.includes(":") ? "ff05::1" : "239.0.0.1"),
      iif: iif ?? "",
      oifs: oifs ?? [],
      table: this.readInteger(entries.get("table"), `${field}.table`, MAX_TABLE, "a kernel table id", fields) ?? 0,
      oifTtl: this.readOifTtl(entries.get("oif_ttl"), `${field}.oif_ttl`, fields),
    };
    if (rewriteSource !== undefined) route.rewriteSource = rewriteSource;
    const setTtl = this.readInteger(entries.get("set_ttl"), `${field}.set_ttl`, 255, "a TTL", fields);
    if (setTtl !== undefined) route.setTtl = setTtl;
    for (const k of ["source", "group", "iif", "oifs"] as const) if (!entries.has(k)) fields.unread.add(`${field}.${k}`);

    const out: FieldViolation[] = [];
    const valid = checkRoute(route, field, out);
    for (const v of out) {
      if (!fields.isUnread(v.field)) this.problem(fields.offsetOf(v.field, at), `${v.field}: ${v.description}`);
    }
    return this.problems.length > before ? undefined : valid;
  }

  /**
   * An address field as text. Numbers are taken by their source text so the validator can say
   * what is wrong ("10.1" is shorthand); `""` is the any-source of a template, while a key with
   * nothing after it is a problem, since it is more likely a value left out than meant as "any".
   */
  private readAddress(entry: Entry | undefined, field: string, fields: RouteFields): string | undefined {
    if (!entry) return undefined;
    const v = entry.value;
    if (isScalar(v) && typeof v.value === "string") return v.value;
    if ((v === null || isEmpty(v)) && field.endsWith(".source")) {
      this.problem(entry.at, `${field} has no value: write the sender's address, or "" for any source (a template)`);
    } else if (v === null || isEmpty(v)) {
      return "";
    } else if (isScalar(v)) {
      return v.source ?? String(v.value);
    } else {
      this.problem(entry.at, `${field} must be an address, not ${describe(v)}`);
    }
    fields.unread.add(field);
    return undefined;
  }

  /** An interface name; a number or boolean has to be quoted to be one. */
  private readName(node: YamlNode | null, field: string, fields: RouteFields, at = fields.at.get(field) ?? 0): string | undefined {
    if (node === null || isEmpty(node)) return "";
    if (isScalar(node) && typeof node.value === "string") return node.value;
    const hint = isScalar(node) ? " (quote it if the interface is really called that)" : "";
    this.problem(at, `${field} must be an interface name, not ${describe(node)}${hint}`);
    fields.unread.add(field);
    return undefined;
  }

  private readOifs(entry: Entry | undefined, field: string, fields: RouteFields): string[] | undefined {
    if (!entry) return undefined;
    const list = entry.value;
    if (!isSeq(list)) {
      const hint = isScalar(list) && typeof list.value === "string" ? ` (write [${list.value}] for one)` : "";
      this.problem(entry.at, `${field} must be a list of interface names, not ${describe(list)}${hint}`);
      fields.unread.add(field);
      return undefined;
    }
    return list.items.map((item, i) => {
      const path = `${field}[${i}]`;
      // Point at the item as written (an alias, if it is one), not at a distant anchor.
      fields.at.set(path, offsetOf(item, entry.at));
      return this.readName(this.resolve(item), path, fields) ?? "";
    });
  }

  /** `oif_ttl`: a map of oif name to TTL threshold, as in the proto's map<string, uint32>. */
  private readOifTtl(entry: Entry | undefined, field: string, fields: RouteFields): Record<string, number> {
    const out: Record<string, number> = {};
    if (!entry) return out;
    const map = entry.value;
    if (!isMap(map)) {
      this.problem(entry.at, `${field} must be a map of oif name to TTL threshold (e.g. { eth1: 16 }), not ${describe(map)}`);
      return out;
    }
    for (const pair of map.items) {
      const keyAt = offsetOf(pair.key, entry.at);
      const name = isScalar(pair.key) ? pair.key.value : undefined;
      if (typeof name !== "string") {
        this.problem(keyAt, `${field} keys must be interface names`);
        continue;
      }
      const path = `${field}[${name}]`;
      fields.at.set(path, keyAt);
      const v = this.resolve(pair.value);
      const ttl = isScalar(v) ? v.value : undefined;
      if (typeof ttl === "number") out[name] = ttl;
      else this.problem(offsetOf(pair.value, keyAt), `${path} must be a number, not ${describe(v)}`);
    }
    return out;
  }

  /** A whole number in 0..max, or undefined (recorded as a problem) when it is anything else. */
  private readInteger(
    entry: Entry | undefined,
    field: string,
    max: number,
    what: string,
    fields: RouteFields,
  ): number | undefined {
    if (!entry) return undefined;
    const v = entry.value;
    const n = isScalar(v) ? v.value : undefined;
    if (typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= max) return n;
    const kind = max === MAX_TABLE ? "an unsigned 32-bit integer" : `an integer 0..${max}`;
    this.problem(entry.at, `${field} must be ${kind} (${what}), not ${describe(v)}`);
    fields.unread.add(field);
    return undefined;
  }
}

/** Where the fields of one route are in the file, and which could not be read as their type. */
class RouteFields {
  /** Offsets by proto field path ("routes[0].oifs[1]"). */
  readonly at = new Map<string, number>();
  /** Paths already reported as unreadable or missing: the validator's word on them is noise. */
  readonly unread = new Set<string>();

  constructor(private readonly route: string) {}

  isUnread(path: string): boolean {
    for (const u of this.unread) if (path === u || path.startsWith(`${u}[`) || path.startsWith(`${u}.`)) return true;
    return false;
  }

  /** The offset of a violation's field, else of the field it is inside, else `fallback`. */
  offsetOf(path: string, fallback: number): number {
    for (let p = path; p.length > this.route.length; p = p.replace(/(\[[^\]]*\]|\.[^.[]*)$/, "")) {
      const at = this.at.get(p);
      if (at !== undefined) return at;
    }
    return fallback;
  }
}

/** Start offset of a node, or `fallback` when yaml gave it no position. */
function offsetOf(node: unknown, fallback = 0): number {
  const range = (node as { range?: readonly number[] | null } | null | undefined)?.range;
  return range?.[0] ?? fallback;
}

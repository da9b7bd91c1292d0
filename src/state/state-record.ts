// The line format of the state file (JSON Lines): a header line, then one record per line,
// either {"put":{...route}} or {"del":{family,table,source,group}}. JSON.stringify never emits a
// raw newline, so a record can never span lines and a torn append is always the last line.
// These checks throw a bare problem text; the loader adds the file and line number.

import type { RouteKey } from "../engine/route-key.js";
import type { StoredRoute } from "./stored-route.js";

export const STATE_FORMAT_VERSION = 1;
export const STATE_HEADER_LINE = JSON.stringify({ mfcd: "state", version: STATE_FORMAT_VERSION });

export type StateRecord = { put: StoredRoute } | { del: RouteKey };

const MAX_TABLE = 0xffff_ffff;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why `value` is not a route key, or undefined if it is one. */
export function routeKeyProblem(value: unknown): string | undefined {
  if (!isObject(value)) return "must be an object";
  if (value.family !== "ipv4" && value.family !== "ipv6") return `"family" must be "ipv4" or "ipv6"`;
  const table = value.table;
  if (typeof table !== "number" || !Number.isInteger(table) || table < 0 || table > MAX_TABLE) {
    return `"table" must be an integer 0..${MAX_TABLE}`;
  }
  if (typeof value.source !== "string") return `"source" must be a string`;
  if (typeof value.group !== "string") return `"group" must be a string`;
  return undefined;
}

/** Why `value` is not a StoredRoute, or undefined if it is one. */
export function storedRouteProblem(value: unknown): string | undefined {
  const keyProblem = routeKeyProblem(value);
  if (keyProblem !== undefined || !isObject(value)) return keyProblem;
  if (typeof value.iif !== "string") return `"iif" must be a string`;
  const oifs = value.oifs;
  if (!Array.isArray(oifs) || !oifs.every((o) => typeof o === "string")) return `"oifs" must be an array of strings`;
  if (typeof value.owner !== "string") return `"owner" must be a string`;
  return undefined;
}

/** Checks a parsed header line; throws the problem otherwise. */
export function checkStateHeader(value: unknown): void {
  if (!isObject(value) || value.mfcd !== "state") {
    throw new Error(`not an mfcd state file (expected the header ${STATE_HEADER_LINE})`);
  }
  const version = value.version;
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    throw new Error(`header has no valid "version"`);
  }
  if (version > STATE_FORMAT_VERSION) {
    // Guessing at a newer format could drop or misread routes; the newer mfcd can read it.
    throw new Error(`format version ${version} is newer than this mfcd understands (${STATE_FORMAT_VERSION})`);
  }
}

/** A parsed record line as a StateRecord; throws the problem otherwise. */
export function toStateRecord(value: unknown): StateRecord {
  if (!isObject(value)) throw new Error("record must be a JSON object");
  const hasPut = "put" in value;
  const hasDel = "del" in value;
  if (hasPut === hasDel) throw new Error(`record must have exactly one of "put" or "del"`);
  if (hasPut) {
    const problem = storedRouteProblem(value.put);
    if (problem !== undefined) throw new Error(`"put" route: ${problem}`);
    return { put: value.put as StoredRoute };
  }
  const problem = routeKeyProblem(value.del);
  if (problem !== undefined) throw new Error(`"del" key: ${problem}`);
  return { del: value.del as RouteKey };
}

export function putRecordLine(route: StoredRoute): string {
  return JSON.stringify({ put: route });
}

export function delRecordLine(key: RouteKey & { iif?: string }): string {
  // Only the key: callers may pass a whole route, and a deletion carries nothing else
  // (templates are also keyed by their iif).
  const del: Record<string, unknown> = { family: key.family, table: key.table, source: key.source, group: key.group };
  if (typeof key.iif === "string") del.iif = key.iif;
  return JSON.stringify({ del });
}

// Reads a state file at startup (synchronously: nothing else can run before routes are known).
// Replays the records in order, last write wins. Only the last line may be damaged: appends go
// at the end, so a crash mid-append tears nothing but the final line, and that record's flush
// never resolved (its RPC never returned OK). Damage anywhere else is not a crash artifact and
// is reported instead of guessed around.

import fs from "node:fs";
import { routeKeyString } from "../engine/route-key.js";
import { StateFileError } from "./state-file-error.js";
import { checkStateHeader, STATE_HEADER_LINE, toStateRecord } from "./state-record.js";
import type { StoredRoute } from "./stored-route.js";

export interface LoadedStateFile {
  /** Route key → the record line that put the route (written back verbatim by compaction). */
  lines: Map<string, string>;
  routes: StoredRoute[];
  /** Records in the file (header and torn tail excluded), for compaction accounting. */
  records: number;
  /** Size of the file in bytes when it needs no repair. */
  bytes: number;
  /**
   * The file is missing, has no header yet, or ends in a torn record: it must be rewritten
   * before anything is appended to it.
   */
  needsRewrite: boolean;
}

const NEWLINE = 0x0a;
const utf8 = new TextDecoder("utf-8", { fatal: true });

export function loadStateFile(file: string): LoadedStateFile {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { lines: new Map(), routes: [], records: 0, bytes: 0, needsRewrite: true };
    if (code === "EISDIR") throw new StateFileError(file, "is a directory, not a state file", { cause: err });
    throw new StateFileError(file, `cannot read: ${(err as Error).message}`, { cause: err });
  }

  const end = buf.lastIndexOf(NEWLINE) + 1; // everything after the last newline is a torn append
  const tail = buf.subarray(end);
  const lines = decode(file, buf.subarray(0, end)).split("\n");
  lines.pop(); // "" after the final newline

  if (lines.length === 0) {
    // No complete line: an empty file, or a crash while it was first written. Anything else
    // is some other file that must not be overwritten.
    if (Buffer.from(`${STATE_HEADER_LINE}\n`).subarray(0, tail.length).equals(tail)) {
      return { lines: new Map(), routes: [], records: 0, bytes: 0, needsRewrite: true };
    }
    throw new StateFileError(file, `not an mfcd state file (expected the header ${STATE_HEADER_LINE})`, { line: 1 });
  }

  try {
    checkStateHeader(JSON.parse(lines[0] as string));
  } catch (err) {
    const problem = err instanceof SyntaxError ? `not an mfcd state file (header is not JSON)` : (err as Error).message;
    throw new StateFileError(file, problem, { line: 1 });
  }

  const byKey = new Map<string, string>();
  const routes = new Map<string, StoredRoute>();
  let records = 0;
  let torn = tail.length > 0;
  for (let i = 1; i < lines.length; i++) {
    const text = lines[i] as string;
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (i === lines.length - 1 && !torn) {
        // Newline-terminated but unparsable last line (e.g. zeros a crash left behind): torn too.
        torn = true;
        break;
      }
      throw new StateFileError(file, `not valid JSON: ${(err as Error).message}`, { line: i + 1, cause: err });
    }
    let record;
    try {
      record = toStateRecord(value);
    } catch (err) {
      throw new StateFileError(file, (err as Error).message, { line: i + 1 });
    }
    records++;
    if ("put" in record) {
      const key = routeKeyString(record.put);
      byKey.set(key, text);
      routes.set(key, record.put);
    } else {
      const key = routeKeyString(record.del);
      byKey.delete(key);
      routes.delete(key);
    }
  }
  return { lines: byKey, routes: [...routes.values()], records, bytes: buf.length, needsRewrite: torn };
}

/** The bytes as text, or a StateFileError naming the first line that is not UTF-8. */
function decode(file: string, bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    // Slow path, only to name the line.
    let start = 0;
    for (let line = 1; start < bytes.length; line++) {
      const nl = bytes.indexOf(NEWLINE, start);
      const stop = nl < 0 ? bytes.length : nl;
      try {
        utf8.decode(bytes.subarray(start, stop));
      } catch (err) {
        throw new StateFileError(file, "not valid UTF-8", { line, cause: err });
      }
      start = stop + 1;
    }
    throw new StateFileError(file, "not valid UTF-8");
  }
}

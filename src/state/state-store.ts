// Durable desired state: the routes clients asked for, kept in a file so a restarted mfcd
// reinstalls them. Contract: a mutation is durable before its RPC returns OK; after a SIGKILL at
// any moment every acknowledged AddRoute comes back and no acknowledged DelRoute does.
//
// Why an append-only log with compaction, not the alternatives:
// - Rewriting a snapshot per mutation costs O(routes) bytes per RPC: megabytes per AddRoute at
//   100k routes. A log appends only what changed, one record (sizes: README "Measured figures in
//   the code").
// - A file per route (or a directory tree) needs one fsync per route, and 100k inodes.
// - SQLite or LMDB would be native dependencies for what is a single table with one key.
// Appends are crash-safe because a torn write can only damage the last line, whose flush never
// resolved (the loader drops it). Compaction writes the live set to `<file>.tmp`, fdatasyncs it,
// renames it over the log and fsyncs the directory, so a crash leaves either the old or the new
// complete file. It runs once the log holds more than max(1000, 2 × live) records, which keeps
// the file within about twice the live set and makes compaction amortised O(1) per mutation.
//
// Group commit: put()/delete() only buffer; flush() writes everything buffered so far with one
// write and one fdatasync. Callers arriving while a write is in flight share the next one, so
// 1000 concurrent AddRoutes cost a handful of fdatasyncs and a 100k-route batch costs one.

import fs from "node:fs";
import fsp, { type FileHandle } from "node:fs/promises";
import nodePath from "node:path";
import { routeKeyString, type RouteKey } from "../engine/route-key.js";
import { loadStateFile } from "./load-state-file.js";
import type { RouteStore } from "./route-store.js";
import { StateFileError } from "./state-file-error.js";
import { delRecordLine, putRecordLine, STATE_HEADER_LINE, storedRouteProblem } from "./state-record.js";
import type { StoredRoute } from "./stored-route.js";

/** Below this many records the log is never compacted: rewriting tiny files is pure overhead. */
export const COMPACT_MIN_RECORDS = 1000;

/** I/O counters, for diagnostics and for tests that check batching. */
export interface StateStoreStats {
  /** write syscalls on the log or its replacement. */
  writes: number;
  /** fdatasyncs of the log or its replacement. */
  syncs: number;
  /** fsyncs of directories (after a rename or creating a directory). */
  dirSyncs: number;
  /** Whole-file rewrites: creation, compaction, repair after a torn tail or a failed write. */
  rewrites: number;
}

interface Waiter {
  /** Sequence number of the last mutation buffered when flush() was called. */
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class StateStore implements RouteStore {
  readonly stats: StateStoreStats = { writes: 0, syncs: 0, dirSyncs: 0, rewrites: 0 };

  /** Live routes: key → its put record line, which is also what compaction writes back. */
  private readonly lines: Map<string, string>;
  /** Record lines buffered since the last write was started. */
  private pending: string[] = [];
  private handle: FileHandle | undefined;
  /** Bytes and records in the file as last written (the next append goes at `fileBytes`). */
  private fileBytes: number;
  private fileRecords: number;
  private needsRewrite: boolean;
  private dirReady = false;
  private seq = 0;
  private durableSeq = 0;
  private waiters: Waiter[] = [];
  private draining = false;
  private closed = false;

  private constructor(
    readonly path: string,
    lines: Map<string, string>,
    fileBytes: number,
    fileRecords: number,
    needsRewrite: boolean,
  ) {
    this.lines = lines;
    this.fileBytes = fileBytes;
    this.fileRecords = fileRecords;
    this.needsRewrite = needsRewrite;
  }

  /**
   * Loads the state file (missing = empty). Throws StateFileError if it cannot be trusted.
   * Nothing is written until the first flush.
   */
  static open(path: string): { store: StateStore; routes: StoredRoute[] } {
    const file = nodePath.resolve(path);
    const loaded = loadStateFile(file);
    const store = new StateStore(file, loaded.lines, loaded.bytes, loaded.records, loaded.needsRewrite);
    return { store, routes: loaded.routes };
  }

  /**
   * For --reset-state: renames the file to `<path>.bad-<timestamp>` (never replacing an existing
   * file) and returns the new name, or undefined if there was no file.
   */
  static moveAside(path: string): string | undefined {
    const file = nodePath.resolve(path);
    try {
      fs.lstatSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new StateFileError(file, `cannot move aside: ${(err as Error).message}`, { cause: err });
    }
    const stamp = new Date().toISOString().replace(/:/g, "");
    try {
      for (let n = 0; ; n++) {
        const target = `${file}.bad-${stamp}${n === 0 ? "" : `-${n}`}`;
        if (renameNoReplace(file, target)) {
          syncDirSync(nodePath.dirname(file));
          return target;
        }
      }
    } catch (err) {
      throw new StateFileError(file, `cannot move aside: ${(err as Error).message}`, { cause: err });
    }
  }

  get size(): number {
    return this.lines.size;
  }

  put(route: StoredRoute): void {
    this.assertOpen();
    // Checked here so a bad route fails its caller instead of making the file unloadable.
    const problem = storedRouteProblem(route);
    if (problem !== undefined) throw new TypeError(`cannot store route: ${problem}`);
    const key = routeKeyString(route);
    const line = putRecordLine(route);
    if (this.lines.get(key) === line) return; // already stored (or buffered) exactly so
    this.lines.set(key, line);
    this.pending.push(line);
    this.seq++;
  }

  delete(key: RouteKey): boolean {
    this.assertOpen();
    if (!this.lines.delete(routeKeyString(key))) return false;
    this.pending.push(delRecordLine(key));
    this.seq++;
    return true;
  }

  flush(): Promise<void> {
    if (this.durableSeq >= this.seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ target: this.seq, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        // Start on the next turn of the event loop, so that every RPC handled in this one
        // joins the first write instead of waiting behind it.
        setImmediate(() => void this.drain());
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      const handle = this.handle;
      this.handle = undefined;
      await handle?.close();
    }
  }

  routes(): StoredRoute[] {
    return [...this.lines.values()].map((line) => (JSON.parse(line) as { put: StoredRoute }).put);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`state file ${this.path}: store is closed`);
  }

  /** Writes batches until no flush() is waiting. Only one drain runs at a time. */
  private async drain(): Promise<void> {
    while (this.waiters.length > 0) {
      const upto = this.seq;
      const lines = this.pending;
      this.pending = [];
      const logRecords = this.fileRecords + lines.length;
      const rewrite = this.needsRewrite || logRecords > Math.max(COMPACT_MIN_RECORDS, 2 * this.lines.size);
      try {
        // The data is taken synchronously, so it holds exactly the mutations up to `upto`.
        if (rewrite) await this.rewrite(this.snapshot(), this.lines.size);
        else if (lines.length > 0) await this.append(Buffer.from(`${lines.join("\n")}\n`), lines.length);
        this.durableSeq = upto;
        this.settle(upto, undefined);
      } catch (err) {
        // What reached the file is now suspect: a short write, or an fdatasync error after which
        // Linux may have dropped the dirty pages. The next flush rewrites the whole live set
        // (which already holds the dropped lines' effect), so retrying loses nothing.
        this.needsRewrite = true;
        this.dirReady = false; // in case the directory itself went away
        const message = `cannot write: ${(err as Error).message}`;
        this.settle(upto, new StateFileError(this.path, message, { cause: err }));
      }
    }
    this.draining = false;
  }

  /** Resolves (or rejects) every waiter whose mutations were all in the batch up to `upto`. */
  private settle(upto: number, err: Error | undefined): void {
    const done = this.waiters.filter((w) => w.target <= upto);
    this.waiters = this.waiters.filter((w) => w.target > upto);
    for (const w of done) {
      if (err === undefined) w.resolve();
      else w.reject(err);
    }
  }

  private snapshot(): Buffer {
    return Buffer.from(`${[STATE_HEADER_LINE, ...this.lines.values()].join("\n")}\n`);
  }

  private async append(data: Buffer, records: number): Promise<void> {
    this.handle ??= await fsp.open(this.path, "r+");
    await this.writeAll(this.handle, data, this.fileBytes);
    await this.handle.datasync();
    this.stats.syncs++;
    this.fileBytes += data.length;
    this.fileRecords += records;
  }

  /** Replaces the file with `data` atomically: tmp file, fdatasync, rename, directory fsync. */
  private async rewrite(data: Buffer, records: number): Promise<void> {
    const dir = nodePath.dirname(this.path);
    if (!this.dirReady) {
      const created = await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      if (created !== undefined) await this.syncNewDirs(created, dir);
      this.dirReady = true;
    }
    const tmp = `${this.path}.tmp`;
    const handle = await fsp.open(tmp, "w", 0o600);
    let adopted = false;
    try {
      await this.writeAll(handle, data, 0);
      await handle.datasync();
      this.stats.syncs++;
      await fsp.rename(tmp, this.path);
      // The descriptor follows the inode: it is now the log, ready for appends.
      adopted = true;
      const old = this.handle;
      this.handle = handle;
      this.fileBytes = data.length;
      this.fileRecords = records;
      await old?.close().catch(() => undefined);
    } finally {
      if (!adopted) {
        await handle.close().catch(() => undefined);
        await fsp.rm(tmp, { force: true }).catch(() => undefined);
      }
    }
    await this.syncDir(dir); // the rename is durable only once the directory is
    this.needsRewrite = false;
    this.stats.rewrites++;
  }

  private async writeAll(handle: FileHandle, data: Buffer, position: number): Promise<void> {
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
      this.stats.writes++;
      if (bytesWritten === 0) throw new Error("write made no progress");
      done += bytesWritten;
    }
  }

  /** After mkdir -p: fsyncs the parent of every created directory, so the path survives a crash. */
  private async syncNewDirs(firstCreated: string, dir: string): Promise<void> {
    const stop = nodePath.dirname(firstCreated);
    for (let d = dir; d !== stop; ) {
      d = nodePath.dirname(d);
      await this.syncDir(d);
    }
  }

  private async syncDir(dir: string): Promise<void> {
    const handle = await fsp.open(dir, "r");
    try {
      await handle.sync();
      this.stats.dirSyncs++;
    } finally {
      await handle.close();
    }
  }
}

/** rename(2) that fails instead of replacing: false if `to` exists. */
function renameNoReplace(from: string, to: string): boolean {
  try {
    fs.linkSync(from, to); // atomic, and EEXIST rather than replacing
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    // Directories (and some filesystems) cannot be hard-linked: check, then rename.
    if (fs.existsSync(to)) return false;
    fs.renameSync(from, to);
    return true;
  }
  fs.unlinkSync(from);
  return true;
}

function syncDirSync(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

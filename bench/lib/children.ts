// Child processes and temporary files of the bench: every daemon started here is SIGKILLed and
// every temporary directory removed when the bench exits, however it exits (the namespace
// registry of test/helpers/netns.ts runs these callbacks on exit and on SIGINT/SIGTERM/SIGHUP).

import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { onProcessExit } from "../../test/helpers/netns.js";

const live = new Set<ChildProcess>();
const tempPaths = new Set<string>();
/** Directories removed at exit only if empty (shared parents such as bench/.build). */
const emptyDirs = new Set<string>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  onProcessExit(() => {
    for (const child of live) child.kill("SIGKILL");
    live.clear();
    for (const p of tempPaths) fs.rmSync(p, { recursive: true, force: true });
    tempPaths.clear();
    for (const d of emptyDirs) {
      try {
        fs.rmdirSync(d);
      } catch {
        // not empty (another run's files) or already gone
      }
    }
    emptyDirs.clear();
  });
}

/** A fresh directory /tmp/mfcb-<pid>-XXXXXX, removed at exit. */
export function makeTempDir(): string {
  hook();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mfcb-${process.pid}-`));
  tempPaths.add(dir);
  return dir;
}

/** Registers any path (file or directory) for removal at exit. */
export function removeAtExit(p: string): void {
  hook();
  tempPaths.add(p);
}

/** Removes directory `dir` at exit if it is empty by then. */
export function removeIfEmptyAtExit(dir: string): void {
  hook();
  emptyDirs.add(dir);
}

export interface Daemon {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Up to 64 KiB of what it wrote on stderr. */
  stderr(): string;
  hasExited(): boolean;
  /** `signal` (default SIGTERM), then SIGKILL after killAfterMs; resolves once it has exited. */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<void>;
}

/** Spawns a long-running child (stdin/stdout ignored, stderr captured) that is killed at exit. */
export function spawnDaemon(argv: readonly string[], cwd: string): Daemon {
  hook();
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("spawnDaemon: empty argv");
  const proc = spawn(file, args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  live.add(proc);
  let err = "";
  proc.stderr?.setEncoding("utf8");
  proc.stderr?.on("data", (d: string) => {
    if (err.length < 64 * 1024) err += d;
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once("error", (e) => {
      err += `spawn failed: ${e.message}\n`;
      done = true;
      live.delete(proc);
      resolve({ code: null, signal: null });
    });
    proc.once("exit", (code, signal) => {
      done = true;
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  if (proc.pid === undefined) throw new Error(`cannot spawn ${file}`);
  const pid = proc.pid;
  return {
    proc,
    pid,
    exited,
    stderr: () => err,
    hasExited: () => done,
    async stop(signal: NodeJS.Signals = "SIGTERM", killAfterMs = 10_000) {
      if (!done) proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), killAfterMs);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

// A guest that goes silent is stopped and its unfinished files run again in a new guest.
// Why: one full run stalled with a guest kernel spinning, deaf to its management console, and
// CI then waited for its 90-minute limit. vitest prints a line as each file ends, so no output
// for longer than the slowest file takes means the guest is stuck, not busy.

import fs from "node:fs";
import { emptyReport, type VitestReport } from "./vitest-report.js";

/**
 * Default silence limit: above the slowest guest file (mfcctl e2e beside another guest on a slow
 * machine), short enough that a run survives a few stalls within CI's limit.
 */
export const GUEST_SILENCE_MS = 12 * 60_000;
/** How many times a stalled guest's unfinished files are run again in a new guest. */
export const GUEST_RETRIES = 3;

export function guestSilenceMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.MFCD_UML_SILENCE_S);
  return Number.isFinite(s) && s > 0 ? s * 1000 : GUEST_SILENCE_MS;
}

/** Calls `onSilence` once when `touch` has not been called for `limitMs`; returns touch and stop. */
export function silenceTimer(limitMs: number, onSilence: () => void): { touch: () => void; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const touch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(onSilence, limitMs);
  };
  touch();
  return { touch, stop: () => clearTimeout(timer) };
}

/** Every live descendant of `pid` (from /proc), deepest last. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // ended meanwhile
    }
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** SIGKILLs everything under `pid` but not `pid` itself, which then cleans up and exits. */
export function killDescendants(pid: number): number {
  const pids = descendants(pid);
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return pids.length;
}

// vitest's default reporter, one line per finished file: "✓ test/a.test.ts (3 tests) 812ms",
// "❯ test/b.test.ts (5 tests | 1 failed | 2 skipped) 9s".
const FILE_LINE = /^\s*([✓❯×↓])\s+(\S+\.test\.ts)\s+\(([^)]*)\)/;

export interface FinishedFile {
  file: string;
  tests: number;
  failed: number;
  skipped: number;
}

/** Files a guest finished before it went silent, from its reporter's output lines. */
export function finishedFiles(lines: string[]): FinishedFile[] {
  const out = new Map<string, FinishedFile>();
  for (const raw of lines) {
    // eslint-disable-next-line no-control-regex -- strips terminal colours
    const m = FILE_LINE.exec(raw.replace(/\x1b\[[0-9;]*m/g, ""));
    if (!m) continue;
    const count = (word: string): number => Number(new RegExp(`(\\d+) ${word}`).exec(m[3] ?? "")?.[1] ?? 0);
    out.set(m[2] ?? "", { file: m[2] ?? "", tests: count("tests?"), failed: count("failed"), skipped: count("skipped") });
  }
  return [...out.values()];
}

/** A report for the files a stalled guest had finished (their JSON report was never written). */
export function finishedReport(root: string, files: FinishedFile[]): VitestReport {
  const r = emptyReport();
  for (const f of files) {
    const passed = f.tests - f.failed - f.skipped;
    r.numTotalTests += f.tests;
    r.numPassedTests += passed;
    r.numFailedTests += f.failed;
    r.numPendingTests += f.skipped;
    if (f.failed > 0) r.success = false;
    r.testResults.push({
      name: `${root}/${f.file}`,
      status: f.failed > 0 ? "failed" : "passed",
      message: "from the output of a guest that stalled later (its JSON report was never written)",
      assertionResults: [],
    });
  }
  return r;
}

// Process and machine facts from /proc: CPU time and memory of a pid, and the header line.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";

let clockTicks: number | undefined;

/** sysconf(_SC_CLK_TCK): the unit of utime/stime in /proc/<pid>/stat (100 on Linux). */
export function clkTck(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of all threads of `pid`, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // comm (field 2) may contain spaces and parentheses: count fields after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime is field 14 and stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat`);
  return (utime + stime) / clkTck();
}

export interface Memory {
  /** VmRSS in KiB. */
  rssKiB: number;
  /** VmHWM (peak RSS) in KiB. */
  hwmKiB: number;
}

export function memory(pid: number): Memory {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
    if (!m?.[1]) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rssKiB: field("VmRSS"), hwmKiB: field("VmHWM") };
}

/**
 * CPU share of `pid` over `ms` of wall time, in percent of one core, measured from the
 * /proc/<pid>/stat tick counters at both ends of the window.
 */
export async function cpuPercentOver(pid: number, ms: number, sleep: (ms: number) => Promise<void>): Promise<number> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(ms);
  const c1 = cpuSeconds(pid);
  const t1 = performance.now();
  return ((c1 - c0) / ((t1 - t0) / 1000)) * 100;
}

export interface MachineFacts {
  nproc: number;
  cpuModel: string;
  kernel: string;
  node: string;
  memTotalGiB: number;
  /** 1-minute load average when the bench started (other work on the machine skews results). */
  loadAvg1: number;
}

export function machineFacts(): MachineFacts {
  let cpuModel = "unknown";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync("/proc/cpuinfo", "utf8"));
    if (m?.[1]) cpuModel = m[1].trim();
  } catch {
    // keep "unknown"
  }
  return {
    nproc: os.availableParallelism(),
    cpuModel,
    kernel: os.release(),
    node: process.version,
    memTotalGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAvg1: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  };
}

/** CPU time the whole machine spent busy (all cores, /proc/stat), in seconds. */
export function machineBusySeconds(): number {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  const busy = [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0);
  return busy / clkTck();
}

/**
 * Measures how busy the machine is with work other than `ours` (pids whose CPU is excluded):
 * call start() before and stop() after a phase; the result is other processes' CPU in % of one
 * core, averaged over the phase. A busy machine makes every latency figure pessimistic.
 */
export class ForeignLoad {
  private busy = 0;
  private own = 0;
  private wall = 0;
  private total = { foreign: 0, wall: 0 };

  constructor(private readonly ours: () => number[]) {}

  private ownSeconds(): number {
    let s = 0;
    for (const pid of this.ours()) {
      try {
        s += cpuSeconds(pid);
      } catch {
        // exited
      }
    }
    return s;
  }

  start(): void {
    this.busy = machineBusySeconds();
    this.own = this.ownSeconds();
    this.wall = performance.now();
  }

  stop(): void {
    const foreign = machineBusySeconds() - this.busy - (this.ownSeconds() - this.own);
    this.total.foreign += Math.max(0, foreign);
    this.total.wall += (performance.now() - this.wall) / 1000;
  }

  /** Other processes' CPU over all measured phases, % of one core. */
  percent(): number {
    return this.total.wall > 0 ? (this.total.foreign / this.total.wall) * 100 : 0;
  }
}

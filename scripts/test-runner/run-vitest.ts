// Runs vitest on a list of files, natively or inside a user-mode Linux guest, writing a JSON
// report to a file of its own; guest output lines get a prefix so parallel guests stay readable.

import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { killDescendants, silenceTimer } from "./guest-watchdog.js";

export interface VitestRun {
  files: string[];
  reportFile: string;
  /** Boot a guest with this kernel and run vitest inside it. */
  guestKernel?: string;
  /** Put before every output line (parallel guests). */
  prefix?: string;
  env?: NodeJS.ProcessEnv;
  /** Stop the run (everything it started) when it prints nothing for this long. */
  silenceMs?: number;
  /** Each output line (needs a prefix: only piped output is seen). */
  onLine?: (line: string) => void;
}

export interface VitestExit {
  code: number;
  /** Stopped by the silence limit. */
  stalled: boolean;
}

/** Resolves with the exit code; never rejects (a failed start is exit code 1). */
export function runVitest(root: string, run: VitestRun): Promise<VitestExit> {
  const vitest = [process.execPath, path.join(root, "node_modules/vitest/vitest.mjs"), "run",
    "--reporter=default", "--reporter=json", `--outputFile.json=${run.reportFile}`, ...run.files];
  const argv = run.guestKernel === undefined ? vitest : [path.join(root, "scripts/uml/run-in-guest.sh"), ...vitest];
  const env = { ...process.env, ...run.env, ...(run.guestKernel === undefined ? {} : { MFCD_UML_KERNEL: run.guestKernel }) };
  const [cmd, ...args] = argv as [string, ...string[]];
  const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", run.prefix ? "pipe" : "inherit", run.prefix ? "pipe" : "inherit"] });
  let stalled = false;
  const silence = run.silenceMs === undefined ? undefined : silenceTimer(run.silenceMs, () => {
    stalled = true;
    const killed = child.pid === undefined ? 0 : killDescendants(child.pid);
    process.stderr.write(`${run.prefix ?? ""}no output for ${run.silenceMs! / 1000} s: stopped (${killed} processes killed)\n`);
  });
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    const out = stream === child.stdout ? process.stdout : process.stderr;
    readline.createInterface({ input: stream }).on("line", (line) => {
      silence?.touch();
      run.onLine?.(line);
      out.write(`${run.prefix}${line}\n`);
    });
  }
  // Ctrl-C reaches the children through the terminal's process group; wait for them to end.
  return new Promise((resolve) => {
    child.on("error", (err) => {
      silence?.stop();
      process.stderr.write(`${run.prefix ?? ""}cannot start ${cmd}: ${err.message}\n`);
      resolve({ code: 1, stalled });
    });
    child.on("close", (code, signal) => {
      silence?.stop();
      resolve({ code: code ?? (signal ? 128 : 1), stalled });
    });
  });
}

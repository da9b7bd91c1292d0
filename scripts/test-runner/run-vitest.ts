// Runs vitest on a list of files, natively or inside a user-mode Linux guest, writing a JSON
// report to a file of its own; guest output lines get a prefix so parallel guests stay readable.

import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";

export interface VitestRun {
  files: string[];
  reportFile: string;
  /** Boot a guest with this kernel and run vitest inside it. */
  guestKernel?: string;
  /** Put before every output line (parallel guests). */
  prefix?: string;
  env?: NodeJS.ProcessEnv;
}

/** Resolves with the exit code; never rejects (a failed start is exit code 1). */
export function runVitest(root: string, run: VitestRun): Promise<number> {
  const vitest = [process.execPath, path.join(root, "node_modules/vitest/vitest.mjs"), "run",
    "--reporter=default", "--reporter=json", `--outputFile.json=${run.reportFile}`, ...run.files];
  const argv = run.guestKernel === undefined ? vitest : [path.join(root, "scripts/uml/run-in-guest.sh"), ...vitest];
  const env = { ...process.env, ...run.env, ...(run.guestKernel === undefined ? {} : { MFCD_UML_KERNEL: run.guestKernel }) };
  const [cmd, ...args] = argv as [string, ...string[]];
  const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", run.prefix ? "pipe" : "inherit", run.prefix ? "pipe" : "inherit"] });
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    const out = stream === child.stdout ? process.stdout : process.stderr;
    readline.createInterface({ input: stream }).on("line", (line) => out.write(`${run.prefix}${line}\n`));
  }
  // Ctrl-C reaches the children through the terminal's process group; wait for them to end.
  return new Promise((resolve) => {
    child.on("error", (err) => {
      process.stderr.write(`${run.prefix ?? ""}cannot start ${cmd}: ${err.message}\n`);
      resolve(1);
    });
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

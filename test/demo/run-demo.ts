// `npm run demo` as a newcomer runs it: `npx tsx scripts/demo.ts` as a child process in its own
// process group (like a terminal's foreground job, so a group SIGINT is exactly Ctrl-C).

import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "../helpers/traffic.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface DemoRun {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Demos still running (a test's afterEach stops them). */
export const runningDemos = new Set<ChildProcess>();

export function runDemo(env: NodeJS.ProcessEnv = process.env): DemoRun {
  const child = spawn("npx", ["tsx", "scripts/demo.ts"], {
    cwd: REPO_ROOT,
    detached: true, // own process group: kill(-pid, SIGINT) is what Ctrl-C does
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  runningDemos.add(child);
  let text = "";
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (d: string) => (text += d));
  child.stderr?.on("data", (d: string) => (text += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("close", (code, signal) => {
      runningDemos.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, output: () => text, exited };
}

export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // group already gone
  }
}

/**
 * Waits until the demo prints a WatchStats row (traffic flows, mfcd holds a route: there is
 * something to clean up), then Ctrl-C's its process group and waits for it to end.
 */
export async function ctrlCWhileStreaming(
  demo: DemoRun,
  opts: { timeoutMs: number; intervalMs: number },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  await waitFor(() => /^ {4}\d+\.\d s +10\.\d+\.0\.2 → /m.test(demo.output()), {
    ...opts,
    message: () => `no WatchStats row printed:\n${demo.output()}`,
  });
  signalGroup(demo.child, "SIGINT");
  const { code, signal } = await demo.exited;
  return { code, signal, output: demo.output() };
}

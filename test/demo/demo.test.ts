// kernel-needs: ipv4
// `npm run demo` as a newcomer runs it: `npx tsx scripts/demo.ts` as a child process, in its own
// process group (like a terminal's foreground job, so a group SIGINT is exactly Ctrl-C).
// Checks the exit code, the verdict line, and that nothing is left behind: no namespace with the
// demo's `mfct-<pid>-` prefix, no process still using its socket, no socket directory.

import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { listNetns } from "../helpers/netns.js";
import { settle } from "../helpers/traffic.js";
import { bound } from "../helpers/time-bounds.js";
import { runDemo, runningDemos as running, signalGroup, ctrlCWhileStreaming } from "./run-demo.js";


/** What the demo created, from its own output: namespace prefix and socket path. */
function traces(output: string): { prefix: string; socketPath: string } {
  const prefix = /\b(mfct-\d+-)\d+-router\b/.exec(output)?.[1];
  const socketPath = /--listen unix:(\S+)/.exec(output)?.[1];
  if (prefix === undefined || socketPath === undefined) {
    throw new Error(`demo output names no lab namespace or socket:\n${output}`);
  }
  return { prefix, socketPath };
}

/** Processes whose command line mentions `needle` (e.g. mfcd started with that socket). */
function processesMentioning(needle: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmd.includes(needle)) found.push(`${pid}: ${cmd.trim()}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

function expectNothingLeft(output: string): void {
  const { prefix, socketPath } = traces(output);
  expect(listNetns().filter((n) => n.startsWith(prefix)), output).toEqual([]);
  expect(processesMentioning(socketPath), output).toEqual([]);
  expect(fs.existsSync(path.dirname(socketPath)), output).toBe(false);
}

afterEach(async () => {
  // A failed assertion must not leave a demo running: Ctrl-C it, then SIGKILL the group.
  for (const child of [...running]) {
    signalGroup(child, "SIGINT");
    const gone = await Promise.race([
      new Promise<boolean>((resolve) => child.once("close", () => resolve(true))),
      settle(bound(10_000)).then(() => false),
    ]);
    if (!gone) signalGroup(child, "SIGKILL");
  }
});

describe("npm run demo", () => {
  it("forwards every packet to both receivers, prints the verdict and leaves nothing behind", async () => {
    const demo = runDemo();
    const { code } = await demo.exited;
    const output = demo.output();
    expect(code, output).toBe(0);
    expect(output).toMatch(/result: INSTALLED/);
    expect(output).toMatch(/^ {4}time +route \(S → G\) +packets +bytes +pkt\/s +in0 in +out1 out +out2 out$/m);
    expect(output).toMatch(/\(10\.\d+\.0\.2,239\.1\.2\.3\) Iif: in0 Oifs: out1 out2/);
    expect(output).toMatch(/TTL 1 → route \+10, out1 \+0, out2 \+0, receivers \+0\/\+0 — matched, not forwarded/);
    const verdict = /^OK: (\d+)\/(\d+) packets forwarded to each of 2 receivers/m.exec(output);
    expect(verdict, output).not.toBeNull();
    expect(verdict![1]).toBe(verdict![2]);
    expect(Number(verdict![1])).toBeGreaterThan(0);
    for (const i of [1, 2]) {
      expect(output).toMatch(new RegExp(`receiver${i} +\\S+ +${verdict![1]}/${verdict![1]} datagrams +from 10\\.\\d+\\.0\\.2`));
    }
    expectNothingLeft(output);
  }, bound(90_000));

  it("cleans up on Ctrl-C (SIGINT to the process group) in the middle of the traffic", async () => {
    const demo = runDemo();
    const { code, signal, output } = await ctrlCWhileStreaming(demo, { timeoutMs: 45_000, intervalMs: 50 });
    // npx itself dies of the group's SIGINT (like npm in a terminal); the demo under it exits 130.
    expect(code === 130 || signal === "SIGINT", `${String(code)}/${String(signal)}\n${output}`).toBe(true);
    expect(output).toMatch(/^INTERRUPTED: demo aborted by SIGINT; lab removed/m);
    expect(output).not.toMatch(/^OK:/m);
    expectNothingLeft(output);
  }, bound(90_000));
});

// kernel-needs: uml-kernel
// `npm run demo` where the lab must run in a user-mode Linux guest (MFCD_KERNEL=uml forces what
// auto does on a host kernel without CONFIG_IP_MROUTE): one line says so, then the same demo
// runs inside the guest with the same output and exit code, and Ctrl-C stops the lab in the
// guest and then the guest. Needs the guest kernel the test runner prepared (MFCD_UML_KERNEL);
// skipped with that reason when run without it.
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { settle, waitFor } from "../helpers/traffic.js";
import { runDemo as run, runningDemos as running, signalGroup, ctrlCWhileStreaming } from "./run-demo.js";

const runDemo = () => run({ ...process.env, MFCD_KERNEL: "uml" });

const kernel = process.env.MFCD_UML_KERNEL;

/** Host processes of guests (user-mode Linux runs as host processes; its command line names the job). */
function guestProcesses(): Set<string> {
  const found = new Set<string>();
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("mfcd_job=")) found.add(pid);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

const newGuests = (before: Set<string>) => [...guestProcesses()].filter((p) => !before.has(p));

afterEach(async () => {
  for (const child of [...running]) {
    signalGroup(child, "SIGINT");
    if (!(await Promise.race([new Promise<boolean>((r) => child.once("close", () => r(true))), settle(60_000).then(() => false)]))) {
      signalGroup(child, "SIGKILL");
    }
  }
});

describe.skipIf(!kernel)(`npm run demo in a user-mode Linux guest${kernel ? "" : " (skipped: no guest kernel prepared — MFCD_UML_KERNEL unset; npm test sets it)"}`, () => {
  it("says so in one line, then forwards every packet inside the guest and exits 0", async () => {
    const before = guestProcesses();
    const demo = runDemo();
    const { code } = await demo.exited;
    const output = demo.output();
    expect(code, output).toBe(0);
    expect(output.split("\n")[0]).toMatch(/^demo: MFCD_KERNEL=uml — running the lab inside a user-mode Linux kernel/);
    expect(output.match(/user-mode Linux kernel/g)?.length, output).toBe(1);
    expect(output).toMatch(/^OK: (\d+)\/\1 packets forwarded to each of 2 receivers/m);
    expect(newGuests(before)).toEqual([]);
  }, 600_000);

  it("Ctrl-C in the middle of the traffic removes the lab inside the guest, then the guest stops", async () => {
    const before = guestProcesses();
    const demo = runDemo();
    const { code, signal, output } = await ctrlCWhileStreaming(demo, { timeoutMs: 300_000, intervalMs: 100 });
    expect(code === 130 || signal === "SIGINT", `${String(code)}/${String(signal)}\n${output}`).toBe(true);
    expect(output).toMatch(/^INTERRUPTED: demo aborted by SIGINT; lab removed/m);
    await waitFor(() => newGuests(before).length === 0, { timeoutMs: 30_000, message: () => `guest still running: ${newGuests(before).join(" ")}` });
  }, 600_000);
});

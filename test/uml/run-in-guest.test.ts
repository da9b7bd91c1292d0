// kernel-needs: uml-kernel
// scripts/uml/run-in-guest.sh, the guest every kernel test and the demo run in where the host
// lacks multicast routing: the command runs as root in the caller's directory — also one under
// the host's /tmp, as a CI checkout made by mktemp -d is (the guest mounts its own /tmp) — its
// output arrives as written, its exit code comes back, and SIGTERM reaches it as SIGINT.
// Needs the guest kernel the test runner prepared (MFCD_UML_KERNEL); skipped with that reason
// otherwise.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/traffic.js";

const RUN = path.resolve(import.meta.dirname, "../../scripts/uml/run-in-guest.sh");
const kernel = process.env.MFCD_UML_KERNEL;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfct-guest-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Guest {
  pid: number;
  output(): string;
  done: Promise<{ code: number | null; out: string }>;
}

function guest(script: string): Guest {
  const child = spawn(RUN, ["sh", "-c", script], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  return { pid: child.pid!, output: () => out, done: new Promise((resolve) => child.once("close", (code) => resolve({ code, out }))) };
}

describe.skipIf(!kernel)(`run-in-guest.sh${kernel ? "" : " (skipped: no guest kernel prepared — MFCD_UML_KERNEL unset; npm test sets it)"}`, () => {
  it("runs as root in a working directory under the host's /tmp, with its own /tmp, and returns the exit code", async () => {
    fs.writeFileSync(path.join(dir, "marker"), "from the host\n");
    const { code, out } = await guest("id -u; pwd; cat marker; echo guest > written; : > /tmp/mfct-guest-only; exit 7").done;
    expect(code, out).toBe(7);
    expect(out).toBe(`0\n${dir}\nfrom the host\n`);
    expect(fs.readFileSync(path.join(dir, "written"), "utf8")).toBe("guest\n");
    expect(fs.existsSync("/tmp/mfct-guest-only")).toBe(false);
  }, 120_000);

  it("SIGTERM to run-in-guest.sh reaches the command as SIGINT, then the guest stops", async () => {
    const g = guest('trap "echo interrupted; exit 5" INT; echo started; while :; do sleep 0.2; done');
    await waitFor(() => g.output().includes("started"), { timeoutMs: 60_000, message: () => g.output() });
    process.kill(g.pid, "SIGTERM");
    const { code, out } = await g.done;
    expect(out).toBe("started\ninterrupted\n");
    expect(code, out).toBe(5);
  }, 120_000);
});

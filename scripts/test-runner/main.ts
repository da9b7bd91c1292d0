// `npm test`'s test stage: runs every test file against a real kernel on any Linux host.
// Unit tests run natively. A kernel test runs natively when the host kernel has what its
// `// kernel-needs:` line names, otherwise in user-mode Linux guests (one per core, files
// sharded by their recorded durations). MFCD_KERNEL=host|uml|auto (default auto) picks the
// runner; in strict mode (CI=true or MFCD_TEST_STRICT=1) a kernel test that ran nowhere fails.
// Writes the merged report to .vitest-report.json; its `kernelTests` says where they ran.
//
//   tsx scripts/test-runner/main.ts [PATH-FILTER...]

import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { probeHostKernel, type HostKernel } from "../uml/host-kernel.js";
import { kernelRunner } from "../uml/kernel-runner.js";
import { listTestFiles, type TestFile } from "./test-needs.js";
import { planTests, shard, type TestPlan } from "./test-plan.js";
import { finishedFiles, finishedReport, GUEST_RETRIES, guestSilenceMs } from "./guest-watchdog.js";
import { runVitest } from "./run-vitest.js";
import { crashedReport, fileDurations, mergeReports, notRunReport, readReport, type VitestReport } from "./vitest-report.js";

const root = path.resolve(import.meta.dirname, "../..");
const REPORT = path.join(root, ".vitest-report.json");
const DURATIONS = path.join(import.meta.dirname, "guest-durations.json");

function readDurations(): Record<string, number> {
  try {
    return JSON.parse(fs.readFileSync(DURATIONS, "utf8")) as Record<string, number>;
  } catch {
    return {};
  }
}

const since = (t0: number): string => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

interface GuestKernel {
  file: string;
  release: string;
}

/** Builds (or finds the cached) guest kernel in the background: native tests run meanwhile. */
function buildGuestKernel(): Promise<GuestKernel> {
  const t0 = performance.now();
  const script = path.join(root, "scripts/uml/build-kernel.sh");
  const built = process.env.MFCD_UML_KERNEL
    ? Promise.resolve(process.env.MFCD_UML_KERNEL)
    : new Promise<string>((resolve, reject) => {
        // Its progress lines go straight to stderr; stdout is the kernel's path.
        const child = spawn(script, [], { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
        child.once("error", reject);
        child.once("close", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${script} exited ${code}`))));
      });
  return built.then((file) => {
    const release = execFileSync(file, ["--version"], { encoding: "utf8" }).trim();
    console.log(`[test-runner] user-mode Linux ${release} ready in ${since(t0)}: ${file}`);
    return { file, release };
  });
}

function describeWhere(plan: TestPlan, host: HostKernel, guest: GuestKernel | undefined): string {
  const lacks = [...new Set(host.lacks.values())].join(", ");
  const nativeKernel = plan.native.some((f) => f.needs.length > 0);
  const parts: string[] = [];
  if (guest) parts.push(`user-mode Linux ${guest.release}${lacks ? ` (host kernel lacks ${lacks})` : ""}`);
  if (nativeKernel) parts.push(`host Linux ${host.release}`);
  if (plan.debianGuest.length > 0) parts.push(`a user-mode Linux lacking options (Debian's, or self-built where Debian's cannot boot) for ${plan.debianGuest.length} file(s)`);
  if (plan.unrunnable.length > 0) parts.push(`${plan.unrunnable.length} file(s) nowhere (host kernel lacks ${lacks})`);
  return parts.join(" + ") || "none selected";
}

async function runGuests(files: TestFile[], kernel: string): Promise<VitestReport[]> {
  const durations = readDurations();
  const wanted = Number(process.env.MFCD_UML_GUESTS) || Math.min(os.availableParallelism(), 4);
  const shards = shard(files, wanted, (f) => durations[f.file] ?? f.size / 1000);
  console.log(`[test-runner] ${files.length} kernel test file(s) in ${shards.length} user-mode Linux guest(s)`);
  const t0 = performance.now();
  return Promise.all(
    shards.map(async (s, i) => {
      const name = shards.length > 1 ? `${i + 1}/${shards.length}` : "1";
      const report = await runGuest(s.map((f) => f.file), kernel, name, `.vitest-report.uml-${i + 1}.json`);
      console.log(`[test-runner] guest ${name} done after ${since(t0)}`);
      return report;
    }),
  );
}

/**
 * One guest; if it goes silent, a new one runs the files it had not finished, up to `retries`
 * times: the user-mode kernel sometimes livelocks (the guest spins in its kernel and answers
 * nothing), more than once in some runs on an Intel AMX host.
 */
async function runGuest(list: string[], kernel: string, name: string, report: string, retries = GUEST_RETRIES): Promise<VitestReport> {
  const reportFile = path.join(root, report);
  fs.rmSync(reportFile, { force: true });
  const lines: string[] = [];
  const { stalled } = await runVitest(root, {
    files: list,
    reportFile,
    guestKernel: kernel,
    prefix: `[uml ${name}] `,
    env: { MFCD_TEST_BUNDLED: "1" },
    silenceMs: guestSilenceMs(),
    onLine: (l) => lines.push(l),
  });
  if (!stalled) return readReport(reportFile) ?? crashedReport(`user-mode Linux guest ${name}`, list);
  const done = finishedFiles(lines).filter((f) => list.includes(f.file));
  const rest = list.filter((f) => !done.some((d) => d.file === f));
  const finished = finishedReport(root, done);
  if (rest.length === 0) return finished;
  if (retries <= 0) return mergeReports([finished, crashedReport(`user-mode Linux guest ${name} (stalled)`, rest)]);
  console.log(`[test-runner] guest ${name} stalled after ${done.length} file(s); ${rest.length} file(s) again in a new guest`);
  return mergeReports([finished, await runGuest(rest, kernel, `${name} again`, report.replace(/\.json$/, ".again.json"), retries - 1)]);
}

async function runNative(files: TestFile[], name: string, env: NodeJS.ProcessEnv): Promise<VitestReport> {
  const reportFile = path.join(root, `.vitest-report.${name}.json`);
  fs.rmSync(reportFile, { force: true });
  const list = files.map((f) => f.file);
  const t0 = performance.now();
  await runVitest(root, { files: list, reportFile, env: { MFCD_TEST_BUNDLED: "1", ...env } });
  console.log(`[test-runner] ${name} run done in ${since(t0)}`);
  return readReport(reportFile) ?? crashedReport(`${name} vitest`, list);
}

/** Files that prove how mfcd degrades, in Debian's user-mode kernel (it lacks options). */
async function runDebianGuest(files: TestFile[]): Promise<VitestReport> {
  const list = files.map((f) => f.file);
  let kernel: string;
  try {
    kernel = execFileSync(path.join(root, "scripts/uml/debian-kernel.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  } catch (err) {
    return crashedReport(`Debian's user-mode kernel (${String(err)})`, list);
  }
  const reportFile = path.join(root, ".vitest-report.uml-debian.json");
  fs.rmSync(reportFile, { force: true });
  console.log(`[test-runner] ${list.length} file(s) in Debian's user-mode kernel (lacks options on purpose)`);
  await runVitest(root, {
    files: list,
    reportFile,
    guestKernel: kernel,
    prefix: "[uml-debian] ",
    env: { MFCD_TEST_BUNDLED: "1", MFCD_UML_APPEND: "mfcd_modprobe=veth" },
  });
  return readReport(reportFile) ?? crashedReport("Debian user-mode Linux guest", list);
}

async function main(): Promise<number> {
  // Ctrl-C reaches vitest and the guests through the process group; this process waits for them.
  process.on("SIGINT", () => undefined);
  const mode = kernelRunner();
  const strict = process.env.CI === "true" || process.env.MFCD_TEST_STRICT === "1";
  const filters = process.argv.slice(2);
  const files = listTestFiles(root).filter((f) => filters.length === 0 || filters.some((p) => f.file.includes(p)));
  const host = probeHostKernel();
  const plan = planTests(files, host.has, mode);
  fs.rmSync(REPORT, { force: true });

  const reports: VitestReport[] = [];
  // The guest kernel builds (on the first run on a machine: minutes) while native tests run;
  // the native files that boot it themselves (uml-kernel) run once it is there.
  const building = plan.guest.length > 0 ? buildGuestKernel() : undefined;
  building?.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  if (plan.native.length > 0) reports.push(await runNative(plan.native, "native", {}));
  if (plan.debianGuest.length > 0) reports.push(await runDebianGuest(plan.debianGuest));
  let guest: GuestKernel | undefined;
  try {
    guest = await building;
  } catch (err) {
    reports.push(crashedReport(`user-mode Linux kernel build (${String(err)})`, plan.guest.map((f) => f.file)));
  }
  if (plan.nativeWithKernel.length > 0) {
    reports.push(await runNative(plan.nativeWithKernel, "native-uml", guest ? { MFCD_UML_KERNEL: guest.file } : {}));
  }
  if (guest) {
    const guestReports = await runGuests(plan.guest, guest.file);
    reports.push(...guestReports);
    if (process.env.MFCD_TEST_RECORD_DURATIONS === "1") {
      const merged = { ...readDurations(), ...Object.assign({}, ...guestReports.map((r) => fileDurations(r, root))) };
      fs.writeFileSync(DURATIONS, `${JSON.stringify(merged, Object.keys(merged).sort(), 2)}\n`);
    }
  }
  for (const { file, missing } of plan.unrunnable) {
    const why = `not run: needs ${missing.map((m) => `${m} (${host.lacks.get(m) ?? "a user-mode guest"})`).join(", ")}, which the host kernel lacks, and MFCD_KERNEL=host`;
    reports.push(notRunReport(path.join(root, file.file), why, strict));
    console.log(`[test-runner] ${strict ? "FAIL" : "skip"} ${file.file}: ${why}`);
  }
  const merged = mergeReports(reports);
  merged.kernelTests = describeWhere(plan, host, guest);
  fs.writeFileSync(REPORT, JSON.stringify(merged));
  console.log(`[test-runner] kernel tests: ${merged.kernelTests}`);
  return merged.success && merged.numFailedTests === 0 ? 0 : 1;
}

process.exitCode = await main();

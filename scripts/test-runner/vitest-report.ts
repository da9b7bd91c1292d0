// vitest's JSON report (the part .ci/run and this runner read), and merging the reports of
// several runs (native + one per guest) into the one .vitest-report.json that .ci/run reads.

import fs from "node:fs";

export interface FileResult {
  name: string;
  status: string;
  message?: string;
  startTime?: number;
  endTime?: number;
  assertionResults: { status: string; title: string; fullName?: string }[];
}

export interface VitestReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTestSuites?: number;
  numFailedTestSuites?: number;
  success: boolean;
  startTime?: number;
  testResults: FileResult[];
  /** Added by this runner: where the kernel tests ran, for the closing line. */
  kernelTests?: string;
}

export function readReport(file: string): VitestReport | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as VitestReport;
  } catch {
    return undefined;
  }
}

export function emptyReport(): VitestReport {
  return { numTotalTests: 0, numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, success: true, testResults: [] };
}

export function mergeReports(reports: VitestReport[]): VitestReport {
  const out = emptyReport();
  for (const r of reports) {
    out.numTotalTests += r.numTotalTests;
    out.numPassedTests += r.numPassedTests;
    out.numFailedTests += r.numFailedTests;
    out.numPendingTests += r.numPendingTests;
    out.numTodoTests += r.numTodoTests;
    out.numFailedTestSuites = (out.numFailedTestSuites ?? 0) + (r.numFailedTestSuites ?? 0);
    out.success &&= r.success;
    out.testResults.push(...r.testResults);
  }
  return out;
}

/** A file that did not run at all, as one failed (strict) or skipped test with the reason. */
export function notRunReport(absFile: string, why: string, failed: boolean): VitestReport {
  const r = emptyReport();
  r.numTotalTests = 1;
  if (failed) r.numFailedTests = 1;
  else r.numPendingTests = 1;
  r.success = !failed;
  r.testResults.push({
    name: absFile,
    status: failed ? "failed" : "skipped",
    message: why,
    assertionResults: [{ status: failed ? "failed" : "skipped", title: why }],
  });
  return r;
}

/** A run that crashed before writing its report (a guest that died, vitest that could not start). */
export function crashedReport(what: string, files: string[]): VitestReport {
  const r = emptyReport();
  r.numTotalTests = 1;
  r.numFailedTests = 1;
  r.success = false;
  r.testResults.push({ name: what, status: "failed", message: `${what} wrote no report; files: ${files.join(" ")}`, assertionResults: [] });
  return r;
}

/** Seconds each file took, from a report's per-file start and end times. */
export function fileDurations(report: VitestReport, root: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of report.testResults) {
    if (t.startTime === undefined || t.endTime === undefined) continue;
    const rel = t.name.startsWith(`${root}/`) ? t.name.slice(root.length + 1) : t.name;
    out[rel] = Math.round((t.endTime - t.startTime) / 100) / 10;
  }
  return out;
}

// `mfcctl info`: what mfcd is and can do, for people (GetInfo).

import type { GetInfoResponse } from "../sdk/index.js";
import { renderTable } from "./render-table.js";

/** "3d 4h", "2h 5m", "7m 12s", "40s": the two largest units. */
export function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const units: [number, string][] = [
    [Math.floor(s / 86400), "d"],
    [Math.floor(s / 3600) % 24, "h"],
    [Math.floor(s / 60) % 60, "m"],
    [s % 60, "s"],
  ];
  const first = units.findIndex(([n]) => n > 0);
  if (first < 0) return "0s";
  return units
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, u]) => `${n}${u}`)
    .join(" ");
}

/** The whole `mfcctl info` text (ends with a newline); `now` for the uptime. */
export function renderInfo(info: GetInfoResponse, now: Date = new Date()): string {
  const ts = info.startTime;
  const started = ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : undefined;
  const tables = info.ownedTables.map((t) => `${t.family} ${t.table}`).join(", ");
  const lines = [
    `mfcd        ${info.version || "?"}`,
    `kernel      ${info.kernelRelease || "?"}`,
    `started     ${started ? `${started.toISOString()} (up ${formatUptime(now.getTime() - started.getTime())})` : "?"}`,
    `state file  ${info.stateFile || "none (--state-file none)"}`,
    `tables      ${tables || "none"}`,
    "",
  ];
  if (info.kernelCapabilities.length === 0) {
    lines.push("kernel capabilities: not reported by this mfcd");
  } else {
    lines.push(
      "kernel capabilities:",
      ...renderTable(
        [{ header: "NAME" }, { header: "AVAILABLE" }, { header: "NEEDS" }, { header: "DETAIL" }],
        info.kernelCapabilities.map((c) => [c.name, c.available ? "yes" : "no", c.option || "-", c.detail]),
        "  ",
      ),
    );
  }
  return `${lines.join("\n")}\n`;
}

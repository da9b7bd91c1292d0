// `mfcctl watch` on a terminal: a top-like screen redrawn in place on the alternate screen,
// restored on exit (also Ctrl-C). Off a terminal, renderWatchLines gives one plain line per
// route and update instead.

import type { RouteStats } from "../sdk/index.js";
import { describeFlow } from "./describe-route.js";
import { formatBitRate, formatPps } from "./format-quantity.js";
import { renderTable } from "./render-table.js";
import type { WatchUpdate } from "./watch-updates.js";

const ESC = "\x1b[";
const ENTER = `${ESC}?1049h${ESC}?25l`; // alternate screen, hide cursor
const LEAVE = `${ESC}?25h${ESC}?1049l`; // show cursor, back to the normal screen
const HOME = `${ESC}H`;
const CLEAR_LINE = `${ESC}K`;
const CLEAR_BELOW = `${ESC}J`;

function clock(t: Date): string {
  return t.toISOString().slice(11, 23);
}

/** Busiest first, then by flow, so the screen is stable while rates are equal. */
function byRate(a: RouteStats, b: RouteStats): number {
  return (
    b.packetsPerSecond - a.packetsPerSecond ||
    a.group.localeCompare(b.group) ||
    a.source.localeCompare(b.source) ||
    a.iif.localeCompare(b.iif) ||
    a.table - b.table
  );
}

export interface WatchFrameInfo {
  addr: string;
  intervalMs: number;
  /** Terminal size; rows that do not fit are summarised in the last line. */
  columns: number;
  rows: number;
}

/** The lines of one screen (each at most `columns` wide, at most `rows` lines). */
export function renderWatchFrame(update: WatchUpdate, info: WatchFrameInfo): string[] {
  const routes = [...update.routes].sort(byRate);
  const totalPps = routes.reduce((s, r) => s + r.packetsPerSecond, 0);
  const totalBps = routes.reduce((s, r) => s + r.bytesPerSecond, 0);
  const head = [
    `mfcctl watch  ${info.addr}  every ${info.intervalMs} ms  ${clock(update.time)}  (Ctrl-C quits)`,
    `${routes.length} route(s)  total ${formatPps(totalPps)} pkt/s  ${formatBitRate(totalBps)}`,
    "",
  ];
  const withTable = routes.some((r) => r.table !== 0);
  const withLearned = routes.some((r) => r.learned);
  const table = renderTable(
    [
      { header: "SOURCE" },
      { header: "GROUP" },
      ...(withTable ? [{ header: "TABLE", align: "right" as const }] : []),
      { header: "IIF" },
      { header: "PKT/S", align: "right" },
      { header: "BIT/S", align: "right" },
      { header: "WRONG_IF", align: "right" },
      { header: "PACKETS", align: "right" },
      { header: "BYTES", align: "right" },
      ...(withLearned ? [{ header: "LEARNED FROM" }] : []),
    ],
    routes.map((r) => [
      r.source || "*",
      r.group,
      ...(withTable ? [String(r.table)] : []),
      r.iif || "-",
      formatPps(r.packetsPerSecond),
      formatBitRate(r.bytesPerSecond),
      String(r.counters?.wrongIf ?? 0n),
      String(r.counters?.packets ?? 0n),
      String(r.counters?.bytes ?? 0n),
      ...(withLearned ? [r.template] : []),
    ]),
  );
  let lines = [...head, ...(routes.length === 0 ? ["no routes"] : table)];
  const rows = Math.max(info.rows, 4);
  if (lines.length > rows) {
    const hidden = lines.length - (rows - 1);
    lines = [...lines.slice(0, rows - 1), `… ${hidden} more route(s); a larger window shows them`];
  }
  const width = Math.max(info.columns, 20);
  return lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
}

/** Plain output: one line per route per update (an update without routes says so). */
export function renderWatchLines(update: WatchUpdate): string[] {
  const t = clock(update.time);
  if (update.routes.length === 0) return [`${t} no routes`];
  return update.routes.map(
    (r) =>
      `${t} ${describeFlow(r.source, r.group, r.table)} iif ${r.iif || "-"} ` +
      `pps=${r.packetsPerSecond.toFixed(1)} bps=${Math.round(r.bytesPerSecond * 8)} ` +
      `wrong_if=${r.counters?.wrongIf ?? 0n} packets=${r.counters?.packets ?? 0n} bytes=${r.counters?.bytes ?? 0n}` +
      (r.learned ? ` learned_from="${r.template}"` : ""),
  );
}

export interface Terminal {
  write(s: string): unknown;
  columns?: number;
  rows?: number;
}

/** The live screen. enter() once, draw() per update, leave() always (idempotent). */
export class WatchScreen {
  private active = false;
  private last: WatchUpdate | undefined;
  private readonly onExit = () => this.leave();

  constructor(
    private readonly term: Terminal,
    private readonly info: Omit<WatchFrameInfo, "columns" | "rows">,
  ) {}

  enter(): void {
    if (this.active) return;
    this.active = true;
    process.once("exit", this.onExit); // restore the terminal whatever happens
    this.term.write(ENTER + HOME + CLEAR_BELOW + "waiting for mfcd…");
  }

  draw(update: WatchUpdate): void {
    this.last = update;
    const lines = renderWatchFrame(update, {
      ...this.info,
      // A terminal that does not know its size (0) gets the classic 80x24.
      columns: this.term.columns || 80,
      rows: this.term.rows || 24,
    });
    this.term.write(HOME + lines.map((l) => l + CLEAR_LINE).join("\n") + CLEAR_BELOW);
  }

  /** Redraw the last update (after a resize). */
  redraw(): void {
    if (this.active && this.last) this.draw(this.last);
  }

  leave(): void {
    if (!this.active) return;
    this.active = false;
    process.removeListener("exit", this.onExit);
    this.term.write(LEAVE);
  }
}

// Structured JSON logs on stderr (stdout stays free for future CLI output).

import { pino, type Logger } from "pino";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export function createLogger(level: string): Logger {
  return pino({ name: "mfcd", level, base: { pid: process.pid } }, pino.destination(2));
}

// What the daemon starts with and reports about itself: its command-line flags, the logger, and
// GetInfo's data source (version, kernel, owned tables, start time).
export { type CliOptions, parseCliOptions, USAGE, UsageError } from "./cli-options.js";
export { createLogger, type Logger } from "./logger.js";
export { daemonInfoSource, type DaemonInfoSource } from "./daemon-info.js";

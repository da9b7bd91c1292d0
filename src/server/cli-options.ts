// Command-line flags of mfcd.

import { parseArgs } from "node:util";
import { LOG_LEVELS } from "./logger.js";
import { defaultSocketPath, parseListenAddress, type ListenAddress } from "./listen-address.js";

export interface CliOptions {
  listen: ListenAddress[];
  logLevel: string;
  help: boolean;
}

export const USAGE = `Usage: mfcd [options]

Owns this network namespace's multicast routing table (MRT_INIT) and serves mfc.v1.MfcService.

Options:
  --listen ADDR      unix:/path or host:port; repeatable
                     (default unix:/run/mfcd/mfcd.sock; unix:/run/mfcd/NAME.sock
                     inside "ip netns exec NAME")
  --log-level LEVEL  ${LOG_LEVELS.join("|")} (default info)
  -h, --help         show this help
`;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export function parseCliOptions(argv: string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        listen: { type: "string", multiple: true },
        "log-level": { type: "string", default: "info" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const logLevel = values["log-level"] ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level ${logLevel}: expected one of ${LOG_LEVELS.join(", ")}`);
  }
  let listen: ListenAddress[];
  try {
    listen = (values.listen ?? [`unix:${defaultSocketPath()}`]).map(parseListenAddress);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return { listen, logLevel, help: values.help ?? false };
}

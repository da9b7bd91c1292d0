// Command-line flags of mfcd.

import { parseArgs, type ParseArgsConfig } from "node:util";
import { LOG_LEVELS } from "./logger.js";
import { defaultSocketPath, parseListenAddress, type ListenAddress } from "../../shared/listen-address.js";
import { defaultStatePath } from "../../state/default-state-path.js";

export interface CliOptions {
  listen: ListenAddress[];
  logLevel: string;
  help: boolean;
  /** undefined = persistence off (`--state-file none`). */
  stateFile: string | undefined;
  resetState: boolean;
  /** SIGTERM/SIGINT leave VIFs and routes in the kernel for the next mfcd (`--keep-forwarding`). */
  keepForwarding: boolean;
  config: string | undefined;
  maxRoutes: number;
  maxMessageBytes: number;
  /** ms without traffic after which learned entries and stop filters go; 0 = never. */
  learnedIdleMs: number;
  /** Multicast routing rules mfcd installs at start and removes at exit (`--mrule`). */
  mrules: { family: "ipv4" | "ipv6"; iif: string; table: number }[];
  /** Prometheus endpoint (`--metrics-listen`); undefined = none. */
  metricsListen: ListenAddress | undefined;
  /** Per-(S,G) series for learned entries and stop filters too (`--metrics-learned`). */
  metricsLearned: boolean;
  /** Plaintext listener serving only grpc.health.v1 (kubelet probes). */
  healthListen: ListenAddress[];
  /** Group owning the Unix sockets (name or numeric gid); undefined = the process's group. */
  socketGroup: string | undefined;
  /** TLS for TCP listeners; clientCa makes it mutual. */
  tls: { cert: string; key: string; clientCa?: string } | undefined;
}

export const USAGE = `Usage: mfcd [options]

Owns this network namespace's multicast routing table (MRT_INIT) and serves mfc.v1.MfcService.

Options:
  --listen ADDR      unix:/path or host:port; repeatable
                     (default unix:/run/mfcd/mfcd.sock; unix:/run/mfcd/NAME.sock
                     inside "ip netns exec NAME")
  --log-level LEVEL  ${LOG_LEVELS.join("|")} (default info)
  --state-file PATH  where routes are kept across restarts (default
                     /var/lib/mfcd/<netns>.state: host, the ip-netns name, or
                     netns-<inode>; $STATE_DIRECTORY overrides the directory);
                     "none" disables persistence
  --reset-state      start empty; an existing state file is renamed aside
  --keep-forwarding  on SIGTERM/SIGINT leave this mfcd's VIFs and routes in the
                     kernel, for the next mfcd to adopt with their counters (a
                     planned or container restart); SIGUSR2 always does. Without
                     it a stopped mfcd leaves no route behind. Nothing forwards
                     until the next mfcd has started.
  --config FILE      routes from a YAML/JSON file (owner "config"), re-read on SIGHUP
  --max-routes N     refuse more routes than N (default 100000)
  --mrule [6:]IIF=TABLE
                     steer multicast arriving on IIF to routing table TABLE
                     (ip mrule add iif IIF lookup TABLE; "6:" for IPv6);
                     installed at start, removed on exit; repeatable
  --learned-idle SEC (*,G)-learned entries and stop filters without traffic for SEC
                     seconds are removed (default 60; 0 = never)
  --max-message-bytes N
                     largest request accepted (default 33554432)

Operations and security:
  --socket-group GROUP
                     group owning the Unix sockets (mode 0660: only root and
                     GROUP's members may connect); name or numeric gid
  --tls-cert FILE    serve TCP listeners over TLS with this certificate chain (PEM)
  --tls-key FILE     ... and this private key (PEM)
  --tls-client-ca FILE
                     require client certificates signed by this CA (mutual TLS)
  --health-listen ADDR
                     plaintext listener serving only grpc.health.v1 (for kubelet
                     gRPC probes next to a TLS or Unix-socket API); repeatable
  --metrics-listen ADDR
                     Prometheus metrics over HTTP at ADDR/metrics (host:port or
                     unix:/path)
  --metrics-learned  one series per (S,G) learned from templates and per stop
                     filter (default: summed per template, to bound cardinality)
  -h, --help         show this help
`;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** mfcd's flags (node:util parseArgs). */
const OPTIONS = {
  listen: { type: "string", multiple: true },
  "log-level": { type: "string", default: "info" },
  "state-file": { type: "string" },
  "reset-state": { type: "boolean", default: false },
  "keep-forwarding": { type: "boolean", default: false },
  config: { type: "string" },
  "max-routes": { type: "string" },
  "max-message-bytes": { type: "string" },
  "learned-idle": { type: "string" },
  mrule: { type: "string", multiple: true },
  "metrics-listen": { type: "string" },
  "metrics-learned": { type: "boolean", default: false },
  "health-listen": { type: "string", multiple: true },
  "socket-group": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-client-ca": { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} satisfies ParseArgsConfig["options"];

export function parseCliOptions(argv: string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const logLevel = values["log-level"] ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level ${logLevel}: expected one of ${LOG_LEVELS.join(", ")}`);
  }
  let listen: ListenAddress[];
  try {
    listen = (values.listen ?? [`unix:${defaultSocketPath()}`]).map((text) => parseListenAddress(text));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const stateFlag = values["state-file"];
  if (stateFlag === "") throw new UsageError(`--state-file: expected a path or "none"`);
  const stateFile = stateFlag === "none" ? undefined : (stateFlag ?? defaultStatePath());
  if (values["reset-state"] && stateFile === undefined) {
    throw new UsageError("--reset-state has nothing to reset with --state-file none");
  }
  if (values["keep-forwarding"] && stateFile === undefined) {
    throw new UsageError("--keep-forwarding needs a state file: with --state-file none the next mfcd cannot know the routes it would adopt");
  }
  if (values.config === "") throw new UsageError("--config: expected a file path");
  const address = (flag: string, text: string): ListenAddress => {
    try {
      return parseListenAddress(text, flag);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  };
  const metricsListen =
    values["metrics-listen"] === undefined ? undefined : address("--metrics-listen", values["metrics-listen"]);
  if (values["metrics-learned"] && metricsListen === undefined) {
    throw new UsageError("--metrics-learned needs --metrics-listen");
  }
  const healthListen = (values["health-listen"] ?? []).map((text) => address("--health-listen", text));
  const socketGroup = values["socket-group"];
  if (socketGroup !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/.test(socketGroup)) {
    throw new UsageError(`--socket-group ${JSON.stringify(socketGroup)}: expected a group name or a numeric gid`);
  }
  const tls = tlsOptions(values["tls-cert"], values["tls-key"], values["tls-client-ca"]);
  if (tls && !listen.some((a) => a.kind === "tcp")) {
    throw new UsageError("--tls-cert/--tls-key apply to TCP listeners: add --listen host:port (Unix sockets are protected by file permissions)");
  }
  return {
    listen,
    logLevel,
    help: values.help ?? false,
    stateFile,
    resetState: values["reset-state"] ?? false,
    keepForwarding: values["keep-forwarding"] ?? false,
    config: values.config,
    maxRoutes: positiveInt("--max-routes", values["max-routes"], 100_000),
    maxMessageBytes: positiveInt("--max-message-bytes", values["max-message-bytes"], 32 * 1024 * 1024),
    mrules: (values.mrule ?? []).map(parseMrule),
    learnedIdleMs:
      values["learned-idle"] === "0" ? 0 : positiveInt("--learned-idle", values["learned-idle"], 60) * 1000,
    metricsListen,
    metricsLearned: values["metrics-learned"] ?? false,
    healthListen,
    socketGroup,
    tls,
  };
}

function tlsOptions(
  cert: string | undefined,
  key: string | undefined,
  clientCa: string | undefined,
): CliOptions["tls"] {
  if (cert === undefined && key === undefined) {
    if (clientCa !== undefined) throw new UsageError("--tls-client-ca needs --tls-cert and --tls-key");
    return undefined;
  }
  if (cert === undefined || cert === "") throw new UsageError("--tls-key needs --tls-cert (the certificate chain, PEM)");
  if (key === undefined || key === "") throw new UsageError("--tls-cert needs --tls-key (the private key, PEM)");
  if (clientCa === "") throw new UsageError("--tls-client-ca: expected a file path");
  return clientCa === undefined ? { cert, key } : { cert, key, clientCa };
}

function parseMrule(text: string): { family: "ipv4" | "ipv6"; iif: string; table: number } {
  const m = /^(6:)?([^=/\s:]{1,15})=([1-9][0-9]{0,9})$/.exec(text);
  const table = m ? Number(m[3]) : NaN;
  if (!m || !m[2] || table > 0xffffffff || table === 253 || table === 254) {
    throw new UsageError(`--mrule ${text}: expected [6:]IIF=TABLE with TABLE 1..4294967295 (not 253/254, the defaults), e.g. eth1=7`);
  }
  return { family: m[1] ? "ipv6" : "ipv4", iif: m[2], table };
}

function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`${flag} ${value}: expected a positive integer`);
  }
  return Number(value);
}

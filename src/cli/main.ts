#!/usr/bin/env node
// mfcctl: the command-line client of mfcd, on the SDK. Exit status 0 on success, 1 on any error
// (the gRPC status and its details are printed), 2 on a usage error.

import { ChannelCredentials } from "@grpc/grpc-js";
import { readFlagFile } from "../shared/tls-files.js";
import { createMfcClient } from "../sdk/index.js";
import { defaultSocketPath } from "../shared/listen-address.js";
import { commandUsage, GENERAL_USAGE } from "./command-usage.js";
import { describeError } from "./describe-error.js";
import { CliUsageError, parseCommand, type Invocation } from "./parse-command.js";
import { runCommand } from "./run-command.js";

function tlsCredentials(tls: NonNullable<Invocation["tls"]>): ChannelCredentials {
  const read = (flag: string, file: string | undefined) => (file === undefined ? null : readFlagFile(flag, file));
  return ChannelCredentials.createSsl(read("--tls-ca", tls.ca), read("--tls-key", tls.key), read("--tls-cert", tls.cert));
}

// grpc-js sets the TLS servername to the target host even when it is an IP address (--addr
// 127.0.0.1:7443), and Node warns about that (DEP0123) on every TLS connection: noise, not news.
process.removeAllListeners("warning");
process.on("warning", (w: Error & { code?: string }) => {
  if (w.code !== "DEP0123") process.stderr.write(`mfcctl: ${w.name}: ${w.message}\n`);
});

async function main(argv: string[]): Promise<number> {
  let inv: Invocation;
  try {
    inv = parseCommand(argv);
  } catch (err) {
    if (err instanceof CliUsageError) {
      const hint = err.command ? `mfcctl ${err.command} --help` : "mfcctl --help";
      if (argv.includes("--json")) process.stderr.write(`${JSON.stringify({ error: { usage: err.message } })}\n`);
      else if (err.message === "missing command") process.stderr.write(`mfcctl: missing command\n\n${GENERAL_USAGE}`);
      else process.stderr.write(`mfcctl: ${err.message}\n(see "${hint}")\n`);
      return 2;
    }
    throw err;
  }
  if (inv.command.name === "help") {
    process.stdout.write(inv.command.topic === undefined ? GENERAL_USAGE : commandUsage(inv.command.topic));
    return 0;
  }

  const addr = inv.addr ?? `unix:${defaultSocketPath()}`;
  let credentials: ChannelCredentials | undefined;
  try {
    credentials = inv.tls ? tlsCredentials(inv.tls) : undefined;
  } catch (err) {
    process.stderr.write(`mfcctl: ${(err as Error).message}\n`);
    return 1;
  }
  const client = createMfcClient(addr, credentials ? { credentials } : {});
  const abort = new AbortController();
  const streaming = inv.command.name === "watch" || inv.command.name === "trace";
  if (streaming) {
    // First Ctrl-C (or SIGTERM) ends the stream cleanly (terminal restored, exit 0); a second one
    // does not wait for that.
    const stop = (signal: NodeJS.Signals) => {
      if (abort.signal.aborted) process.exit(signal === "SIGINT" ? 130 : 143);
      abort.abort();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  }
  // `mfcctl watch | head`: a closed pipe ends the command quietly.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  try {
    return await runCommand(inv, { client, addr, stdout: process.stdout, signal: abort.signal });
  } catch (err) {
    const report = describeError(err, addr);
    if (inv.json) process.stderr.write(`${JSON.stringify(report.json)}\n`);
    else process.stderr.write(`mfcctl: ${report.lines.join("\n")}\n`);
    return 1;
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`mfcctl: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

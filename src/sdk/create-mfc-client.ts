// createMfcClient: the typed client over the generated definition, with sane defaults —
// a deadline on unary calls, retries only for idempotent reads, and MfcError for every failure.

import { ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { createChannel, createClientFactory, type Client } from "nice-grpc";
import type { ClientMiddleware } from "nice-grpc-common";
import { ClientError } from "nice-grpc-common";
import { deadlineMiddleware, type DeadlineOptions } from "nice-grpc-client-middleware-deadline";
import { retryMiddleware, type RetryOptions } from "nice-grpc-client-middleware-retry";
import { errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { HealthDefinition } from "nice-grpc-server-health";
import { MfcServiceDefinition } from "../gen/mfc.js";
import { MfcError } from "./mfc-error.js";

export interface MfcClientOptions {
  /** Deadline of unary calls in ms (default 5000). WatchStats has none. */
  deadlineMs?: number;
  /** Deadline of ApplyRoutes in ms (default 60000). */
  applyDeadlineMs?: number;
  /** Attempts for idempotent reads (ListRoutes, GetInfo) on UNAVAILABLE etc. (default 3). */
  readAttempts?: number;
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
}

export type MfcCallOptions = DeadlineOptions & RetryOptions;

export type MfcClient = Client<typeof MfcServiceDefinition, MfcCallOptions> & {
  /** grpc.health.v1 Check: "SERVING" once mfcd owns the kernel table. */
  health(service?: string): Promise<string>;
  close(): void;
};

/** "unix:/p" and "unix:p" mean the same as "unix:///p" (grpc-js appends ":80" to the former). */
export function normalizeTarget(address: string): string {
  if (address.startsWith("unix:") && !address.startsWith("unix://")) {
    return `unix://${address.slice("unix:".length)}`;
  }
  if (address.startsWith("/")) return `unix://${address}`;
  return address;
}

const toMfcError: ClientMiddleware = async function* (call, options) {
  try {
    return yield* call.next(call.request, options);
  } catch (err) {
    throw err instanceof ClientError ? new MfcError(err) : err;
  }
};

export function createMfcClient(address: string, options: MfcClientOptions = {}): MfcClient {
  const channel = createChannel(
    normalizeTarget(address),
    options.credentials ?? ChannelCredentials.createInsecure(),
    // A 64 KiB HTTP/2 window makes a 1 MB ListRoutes/WatchStats message wait for ~16 window
    // updates; a larger receive window lets the server write it in one go.
    {
      "grpc-node.flow_control_window": 4 * 1024 * 1024,
      // ListRoutes at 100k routes and big ApplyRoutes diffs exceed grpc-js's 4 MiB default.
      "grpc.max_receive_message_length": 256 * 1024 * 1024,
      // Nothing reads channelz in a client process: skip its per-call bookkeeping.
      "grpc.enable_channelz": 0,
      ...options.channelOptions,
    },
  );
  // On the client the last middleware added is the outermost: details are decoded first,
  // retried per attempt, bounded by one overall deadline, and finally wrapped as MfcError.
  const factory = createClientFactory()
    .use(errorDetailsClientMiddleware)
    .use(retryMiddleware)
    .use(deadlineMiddleware)
    .use(toMfcError);
  const deadline = options.deadlineMs ?? 5000;
  const client = factory.create(MfcServiceDefinition, channel, {
    addRoute: { deadline },
    delRoute: { deadline },
    listRoutes: { deadline, retryMaxAttempts: options.readAttempts ?? 3, retryBaseDelayMs: 100 },
    getInfo: { deadline, retryMaxAttempts: options.readAttempts ?? 3, retryBaseDelayMs: 100 },
    // Not retried: a second Stop could reach the next mfcd.
    stop: { deadline },
    // A 100k-route apply takes about a second; leave room on slow machines.
    applyRoutes: { deadline: Math.max(deadline, options.applyDeadlineMs ?? 60_000) },
    // Diagnose observes the flow for window_ms (≤ 30 s) before it answers.
    diagnose: { deadline: Math.max(deadline, 35_000) },
  });
  const healthClient = factory.create(HealthDefinition, channel, { "*": { deadline } });
  return Object.assign(client, {
    async health(service = "") {
      const { status } = await healthClient.check({ service });
      return ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][status] ?? String(status);
    },
    close() {
      channel.close();
    },
  });
}

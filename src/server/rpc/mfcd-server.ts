// Assembles the gRPC servers (one per listen address: a nice-grpc server listens once) around
// one route engine, with health, reflection, error mapping and graceful shutdown.

import type { KernelCapabilities } from "../../kernel/index.js";
import fs from "node:fs";
import { createServer, type Server } from "nice-grpc";
import { errorDetailsServerMiddleware } from "nice-grpc-error-details";
import { HealthDefinition, HealthServiceImpl, HealthState } from "nice-grpc-server-health";
import type { RouteEngine } from "../../engine/route-engine.js";
import { MfcServiceDefinition } from "../../gen/mfc.js";
import { errorMapperMiddleware } from "./error-mapper.js";
import { formatListenAddress, grpcTarget, type ListenAddress } from "../../shared/listen-address.js";
import type { Logger, DaemonInfoSource } from "../config/index.js";
import { createMfcService, type Diagnostics, type StopHandler } from "./mfc-service.js";
import { malformedRequestMiddleware, MfcWireServiceDefinition } from "./mfc-service-definition.js";
import { addReflection } from "./reflection.js";
import { createTerminator } from "./terminator.js";
import { createRpcObserver } from "./rpc-observer.js";
import { RpcStats } from "../metrics/index.js";
import { credentialsFor } from "./server-credentials.js";
import { prepareUnixSocket } from "../listen/index.js";
import type { RouteStore } from "../../state/route-store.js";

export const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

export interface MfcdServerOptions {
  engine: RouteEngine;
  /** Durable state; every mutation is flushed before its RPC answers. */
  store: RouteStore;
  /** Kernel probes and nft tracing for Diagnose/Trace. */
  diagnostics?: Diagnostics;
  /** What GetInfo reports (version, kernel capabilities, owned tables...); without it GetInfo is UNAVAILABLE. */
  info?: DaemonInfoSource;
  /** What the Stop RPC calls (after answering); without it Stop is UNAVAILABLE. */
  onStop?: StopHandler;
  /** Largest request accepted (larger → RESOURCE_EXHAUSTED); default 32 MiB (100k-route applies). */
  maxMessageBytes?: number;
  listen: ListenAddress[];
  logger: Logger;
  /** Mode of Unix sockets (default 0660: root and the socket's group). */
  socketMode?: number;
  /** Where every call is counted and timed (for --metrics-listen); default a private one. */
  rpcStats?: RpcStats;
  /** TLS (PEM contents) for TCP listeners; with clientCa, clients must present a certificate. */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
  /** Group owning the Unix sockets (`--socket-group`). */
  socketGid?: number;
  /** Plaintext listeners serving only grpc.health.v1 (kubelet probes). */
  healthListen?: ListenAddress[];
  /** What the kernel offers (probed at start), for GetInfo. */
  kernelCapabilities?: KernelCapabilities;
}

export class MfcdServer {
  private constructor(
    private readonly servers: Server[],
    private readonly health: HealthState,
    private readonly terminate: () => void,
    private readonly unixPaths: string[],
    /** Bound addresses (a tcp port 0 becomes the real port). */
    readonly addresses: string[],
  ) {}

  static async start(options: MfcdServerOptions): Promise<MfcdServer> {
    const health = HealthState();
    health.setStatus("unknown");
    const terminator = createTerminator();
    const observer = createRpcObserver(options.logger, options.rpcStats ?? new RpcStats());
    const service = createMfcService(options.engine, options.store, options.diagnostics, options.info, options.onStop);
    const servers: Server[] = [];
    const unixPaths: string[] = [];
    const addresses: string[] = [];
    const bind = async (server: Server, addr: ListenAddress, tls: MfcdServerOptions["tls"]): Promise<void> => {
      if (addr.kind === "unix") await prepareUnixSocket(addr.path);
      const port = await server.listen(grpcTarget(addr), credentialsFor(addr, tls));
      servers.push(server);
      if (addr.kind === "unix") {
        unixPaths.push(addr.path);
        fs.chmodSync(addr.path, options.socketMode ?? 0o660);
        if (options.socketGid !== undefined) fs.chownSync(addr.path, -1, options.socketGid);
        addresses.push(formatListenAddress(addr));
      } else {
        addresses.push(formatListenAddress({ ...addr, port }));
      }
    };
    try {
      for (const addr of options.listen) {
        const server = createServer({
          "grpc.max_receive_message_length": options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
          // Idle or dead clients must not pin resources forever.
          "grpc.keepalive_time_ms": 60_000,
          "grpc.keepalive_timeout_ms": 20_000,
          // mfcd serves no channelz service: skip its per-call bookkeeping.
          "grpc.enable_channelz": 0,
        })
          .use(errorDetailsServerMiddleware)
          .use(observer)
          .use(terminator.middleware)
          .use(errorMapperMiddleware)
          .use(malformedRequestMiddleware);
        server.add(MfcWireServiceDefinition, service);
        server.add(HealthDefinition, HealthServiceImpl(health));
        addReflection(server);
        await bind(server, addr, options.tls);
        const tls = addr.kind === "tcp" && options.tls ? (options.tls.clientCa ? "mutual TLS" : "TLS") : "plaintext";
        options.logger.info({ address: addresses.at(-1), security: addr.kind === "unix" ? "unix socket" : tls }, "listening");
      }
      // Health only, plaintext: what a kubelet gRPC probe can reach when the API needs TLS or
      // lives on a Unix socket. It reveals nothing but SERVING / NOT_SERVING.
      for (const addr of options.healthListen ?? []) {
        const server = createServer().use(observer).use(terminator.middleware);
        server.add(HealthDefinition, HealthServiceImpl(health));
        await bind(server, addr, undefined);
        options.logger.info({ address: addresses.at(-1), security: "plaintext, grpc.health.v1 only" }, "listening");
      }
    } catch (err) {
      for (const server of servers) server.forceShutdown();
      throw err;
    }
    // The engine exists only once MRT_INIT succeeded, so we are really serving now.
    health.setStatus("healthy");
    health.setStatus("healthy", MfcServiceDefinition.fullName);
    return new MfcdServer(servers, health, () => terminator.terminate(), unixPaths, addresses);
  }

  private stopping: Promise<void> | undefined;

  /** NOT_SERVING, end live streams with UNAVAILABLE, close listeners, remove socket files. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.health.setStatus("unhealthy");
    this.health.setStatus("unhealthy", MfcServiceDefinition.fullName);
    this.terminate();
    await Promise.all(this.servers.map((server) => server.shutdown()));
    for (const p of this.unixPaths) fs.rmSync(p, { force: true });
  }
}

#!/usr/bin/env -S node --max-semi-space-size=2
// (A 2 MiB young generation instead of 16 MiB: ~25 MiB less RSS at 10k routes for more, cheap, scavenges.)
// mfcd entry point: MRT_INIT first (health can only be SERVING once we own the table), then
// listen; on SIGTERM/SIGINT shut down gracefully and MRT_DONE, which clears our kernel state.
//
// Start order is about wall time (spawn → SERVING): the readers' worker (one thread for all of
// them, src/kernel/poll-hub.ts) boots on its own (~70 ms) and the gRPC modules (most of mfcd's
// code) are imported dynamically, so their loading, the restore on this thread and the nft
// calls all overlap instead of queueing. Nothing imported statically may import @grpc/grpc-js
// (~40 ms to evaluate before main() could start the worker: TLS files are read by tls-files.ts,
// credentials built in the server chunk), and nft runs in one child process, spawned before
// the state file is read.

import { RouteEngine } from "../engine/route-engine.js";
import { KernelError } from "../kernel/kernel-error.js";
import { MrouteSocket } from "../kernel/mroute-socket.js";
import { addMrule, delMrule } from "../kernel/mrule.js";
import { Mroute6Socket } from "../kernel/mroute6-socket.js";
import { RtnetlinkMonitor, listLinks } from "../kernel/rtnetlink-monitor.js";
import type { NftAvailability, NftStartupProbe } from "../kernel/nft-detect.js";
import { NftRescueTable } from "../kernel/nft-rescue-table.js";
import { NftTrace } from "../kernel/nft-trace.js";
import { UpcallReader } from "../kernel/upcall-reader.js";
import { UpcallRing } from "../kernel/upcall-ring.js";
import { isLocalAddress, kernelFlowProbes } from "./kernel-flow-probes.js";
import { RescueSync } from "./rescue-sync.js";
import type { TraceStarter } from "./trace-flow.js";
import { NullStateStore } from "../state/null-state-store.js";
import { StateStore } from "../state/state-store.js";
import { parseCliOptions, USAGE, UsageError, type CliOptions } from "./cli-options.js";
import { KernelSync } from "./kernel-sync.js";
import { createLogger, type Logger } from "./logger.js";
import type { MfcdServer } from "./mfcd-server.js";
import type { RouteStore } from "../state/route-store.js";
import type { StoredRoute } from "../state/stored-route.js";
import { fromStoredRoute } from "./stored-routes.js";
import { CONFIG_OWNER } from "./validate-route.js";
import { missingCapabilities } from "../kernel/capabilities.js";
import { hasCapability, probeKernelCapabilities, withNftCapability } from "../kernel/kernel-capabilities.js";
import { missingForTable, noRoutingMessage, unavailableSummary } from "../kernel/kernel-requirements.js";
import { daemonInfoSource } from "./daemon-info.js";
import { tuneMalloc } from "../kernel/malloc-tuning.js";
import { renderMetrics, type UpcallCount } from "./metrics-exposition.js";
import { startMetricsServer, type MetricsServer } from "./metrics-server.js";
import { RpcStats } from "./rpc-stats.js";
import { loadTls } from "../shared/tls-files.js";
import { resolveGroupId } from "./socket-group.js";

function explainOpenFailure(err: unknown): string {
  if (err instanceof KernelError) {
    if (err.code === "EADDRINUSE") {
      return (
        "another multicast router already owns this network namespace's multicast routing table " +
        "(MRT_INIT: EADDRINUSE). Usual suspects: smcroute, pimd, igmpproxy, mrouted, or another mfcd. " +
        "Stop it, or run mfcd in another network namespace."
      );
    }
    if (err.code === "EPERM" || err.code === "EACCES") {
      return `${err.message}: mfcd needs CAP_NET_RAW (raw IGMP socket) and CAP_NET_ADMIN; run as root or grant them`;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

async function main(): Promise<number> {
  // `pidof mfcd` / `pkill -HUP mfcd` find us instead of a generic "node".
  process.title = "mfcd";
  let options: CliOptions;
  try {
    options = parseCliOptions(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`mfcd: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const logger = createLogger(options.logLevel);
  const mallocTuned = tuneMalloc();
  if (mallocTuned.length > 0) logger.debug({ mallopt: mallocTuned }, "malloc tuned for a long-running daemon");
  // SIGHUP's default action kills the process: until the config can be reloaded, ignore it.
  let onHangup = () => logger.info("SIGHUP: still starting, ignored");
  process.on("SIGHUP", () => onHangup());
  const fail = (why: string): number => {
    process.stderr.write(`mfcd: cannot start: ${why}\n`);
    return 1;
  };

  // nft runs in child processes while this thread loads and restores the routes; its answer
  // (rescue options and Trace need it) is in before SERVING.
  const nftDetecting = NftRescueTable.detectAsync();
  // Everything that can refuse the start happens before we take the kernel table.
  // Without these the raw socket or MRT_INIT fails with a bare EPERM; say which one is missing.
  const missing = missingCapabilities();
  if (missing.length > 0) {
    return fail(
      `missing ${missing.map((c) => `${c.name} (${c.why})`).join(" and ")}; ` +
        "run as root or grant them (systemd AmbientCapabilities=, Kubernetes securityContext.capabilities.add)",
    );
  }

  // What this kernel offers, decided from syscalls' errnos (nft's ip family is asked off this
  // thread with the detection above): nothing usable stops the start with one message naming the
  // missing options; a missing part (IPv6, tables, IPv4) is refused per request (FAILED_PRECONDITION).
  // Kept for GetInfo; its nft entry is filled in once nft has answered.
  let kernelCapabilities = probeKernelCapabilities({ nft: false });
  const noRouting = noRoutingMessage(kernelCapabilities);
  if (noRouting !== undefined) return fail(noRouting);
  const lacking = unavailableSummary(kernelCapabilities).filter((c) => c.name !== "nft");
  if (lacking.length > 0) logger.warn({ unavailable: lacking }, "this kernel lacks parts of multicast routing: serving what works");

  let store: RouteStore & { close(): Promise<void> };
  let persisted: StoredRoute[];
  try {
    ({ store, persisted } = openState(options, logger));
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  let configRoutes: Awaited<ReturnType<typeof configSpecs>> | undefined;
  if (options.config !== undefined) {
    try {
      configRoutes = await configSpecs(options.config);
    } catch (err) {
      return fail(err instanceof Error ? err.message : String(err));
    }
  }

  let tls: ReturnType<typeof loadTls> | undefined;
  let socketGid: number | undefined;
  try {
    tls = options.tls ? loadTls(options.tls) : undefined;
    socketGid = options.socketGroup === undefined ? undefined : resolveGroupId(options.socketGroup);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
  let socket: MrouteSocket | undefined;
  if (hasCapability(kernelCapabilities, "ipv4")) {
    try {
      socket = MrouteSocket.open();
    } catch (err) {
      return fail(explainOpenFailure(err));
    }
  }
  // One MRT_INIT socket per (family, table), opened on first use; the IPv4 default table is
  // taken first (above), so "another multicast router owns it" stops the start.
  const sockets: { close(): void; family: "ipv4" | "ipv6"; table: number }[] = socket ? [socket] : [];
  // Other tables' upcalls (templates learn from them) are read by a reader each, on the shared thread.
  const extraReaders: Promise<UpcallReader | undefined>[] = [];
  // Every running upcall reader, for the upcall counts in --metrics-listen.
  const upcallReaders: { family: "ipv4" | "ipv6"; reader: UpcallReader }[] = [];
  // Diagnose evidence: NOCACHE/WRONGVIF upcalls (MRT_ASSERT enables the latter), one ring per
  // IPv4 table (a VIF index names an interface only within its table).
  const rings = new Map<number, UpcallRing>([[0, new UpcallRing()]]);
  const engine: RouteEngine = new RouteEngine(
    (family, table) => {
      if (family === "ipv4" && table === 0 && socket) return socket;
      const opened = family === "ipv4" ? MrouteSocket.open({ table }) : Mroute6Socket.open({ table });
      sockets.push(opened);
      // WRONGVIF / MRT6MSG_WRONGMIF upcalls re-learn a moved flow at once (as in the default table).
      opened.setAssert(true);
      logger.info({ family, table }, "multicast routing table opened");
      const reader = UpcallReader.start({
        fd: opened.fd,
        family,
        onUpcall: (u) => {
          if (family === "ipv4") {
            let ring = rings.get(table);
            if (!ring) rings.set(table, (ring = new UpcallRing()));
            ring.push(u);
          }
          logUpcall(logger, { family, table, ...u }, engine.onUpcall({ family, table, ...u }));
        },
        onError: (err) => logger.error({ err, family, table }, "upcall reader stopped"),
      }).catch((err: unknown) => {
        logger.error({ err, family, table }, "upcall reader not started: templates in this table will not learn");
        return undefined;
      });
      extraReaders.push(reader);
      void reader.then((r) => r && upcallReaders.push({ family, reader: r }));
      return opened;
    },
    {
      maxRoutes: options.maxRoutes,
      // Tables this kernel cannot serve: refused per request, restored routes wait (PENDING).
      kernelSupport: (family, table) => missingForTable(kernelCapabilities, family, table),
    },
  );

  let upcalls: UpcallReader | undefined;

  let server: MfcdServer;
  let rescue: RescueSync;
  let sync: KernelSync | undefined;
  let metrics: MetricsServer | undefined;
  let startedServer: MfcdServer | undefined;
  const rpcStats = new RpcStats();
  try {
    const upcallsStarting = socket
      ? startUpcallReader(socket, engine, rings.get(0) as UpcallRing, logger)
      : Promise.resolve(undefined);
    // The rtnetlink worker boots on its own thread (~70 ms) while this thread restores; once it
    // is subscribed KernelSync re-checks every interface, so nothing that changed meanwhile is lost.
    const syncStarting = KernelSync.start({
      engine,
      logger,
      subscribe: (onEvent) => RtnetlinkMonitor.start({
          onEvent,
          onError: (err: Error) => logger.error({ err }, "rtnetlink"),
          dropOwnMfcUpdates: true,
        }),
      listLinks: () => listLinks(),
    });
    syncStarting.catch(() => undefined);
    // Evaluated at this thread's first await below, while the workers boot.
    const modules = Promise.all([import("./mfcd-server.js"), import("./mfc-service.js")]);
    modules.catch(() => undefined);
    const restored = engine.restore(persisted.map(fromStoredRoute));
    if (persisted.length > 0) logger.info({ ...restored, file: options.stateFile }, "routes restored");
    for (const why of engine.unopenable) logger.error({ table: why }, "routes of this table not restored now (kept in the state file)");
    // After the restore: the rescue rules are those of the restored routes.
    const nftReady = startNft(nftDetecting, engine, logger);
    const [[{ MfcdServer }, { applyAndStore }], started] = await Promise.all([modules, syncStarting, upcallsStarting, nftReady]).then(
      ([m, s, u, n]) => [m, { sync: s, upcalls: u, ...n }] as const,
      async (err: unknown) => {
        // Whatever did start would keep the process alive.
        await Promise.allSettled([syncStarting.then((s) => s.close()), upcallsStarting.then((u) => u?.close())]);
        throw err;
      },
    );
    ({ sync, upcalls, rescue } = started);
    const { nft, nftTable } = started;
    kernelCapabilities = withNftCapability(kernelCapabilities, started.ipFamily.available, started.ipFamily.detail);
    if (configRoutes) {
      rescue.check(configRoutes, options.config ?? "config");
      const result = applyAndStore(engine, store, CONFIG_OWNER, configRoutes, { allowEmpty: true });
      if (rescue.relevant(configRoutes)) {
        await rescue.sync().catch((err: unknown) => logger.error({ err }, "nftables rescue rules of the config not applied"));
      }
      await store.flush();
      logger.info(summary(result, options.config), "config applied");
    }
    for (const rule of options.mrules) {
      engine.ensureTable(rule.family, rule.table); // own the table before traffic is steered to it
      addMrule(rule);
      logger.info(rule, "mrule installed");
    }
    server = await MfcdServer.start({
      engine,
      store,
      listen: options.listen,
      healthListen: options.healthListen,
      tls,
      socketGid,
      rpcStats,
      logger,
      maxMessageBytes: options.maxMessageBytes,
      kernelCapabilities,
      info: daemonInfoSource({ kernel: kernelCapabilities, sockets, stateFile: options.stateFile }),
      diagnostics: {
        probes: kernelFlowProbes(rings, nftTable ? { table: nftTable } : { why: nft.available ? "" : nft.why }),
        trace: nftTrace(nft),
        rescue,
        isLocalAddress,
      },
    });
    startedServer = server;
    if (started.upcalls) upcallReaders.push({ family: "ipv4", reader: started.upcalls });
    if (options.metricsListen) {
      metrics = await startMetricsServer(options.metricsListen, () => {
        const { routes, vifs, foreign } = engine.list();
        return renderMetrics({
          routes,
          vifs,
          foreignEntries: foreign.length,
          upcalls: upcallCounts(upcallReaders),
          rpc: rpcStats,
          kernelCapabilities: kernelCapabilities.capabilities,
          includeLearned: options.metricsLearned,
        });
      });
      logger.info({ address: metrics.address }, "metrics listening");
    }
  } catch (err) {
    // The rtnetlink and upcall workers would keep the process alive.
    await startedServer?.stop().catch(() => undefined);
    await sync?.close().catch(() => undefined);
    await upcalls?.close().catch(() => undefined);
    for (const s of sockets) s.close();
    return fail(err instanceof Error ? err.message : String(err));
  }
  const running = sync;
  // Learned entries and stop filters without traffic go after --learned-idle; the sweep also
  // notices a learned flow that moved to another iif (wrong_if rising, packets still).
  const sweepMs = Math.min(10_000, Math.max(1000, (options.learnedIdleMs || 10_000) / 4));
  const expiry = setInterval(() => {
    try {
      const removed = engine.expireLearned(options.learnedIdleMs);
      if (removed > 0) logger.info({ removed }, "idle learned entries removed");
    } catch (err) {
      logger.error({ err }, "learned-entry sweep failed");
    }
  }, sweepMs).unref();
  logger.info({ addresses: server.addresses, routes: engine.size }, "serving");

  const configPath = options.config;
  onHangup = () => {
    if (configPath === undefined) logger.info("SIGHUP: no --config file to reload");
    else void reloadConfig(engine, store, rescue, configPath, logger);
  };

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting now");
        for (const s of sockets) s.close();
        resolve(1);
        return;
      }
      stopping = true;
      clearInterval(expiry);
      logger.info({ signal }, "shutting down");
      server
        .stop()
        .then(() => metrics?.close())
        .then(() => running.close())
        .then(() => upcalls?.close())
        .then(() => Promise.all(extraReaders))
        .then((readers) => Promise.all(readers.map((r) => r?.close())))
        .then(() => rescue.remove())
        .then(() => {
          for (const rule of options.mrules) delMrule(rule);
        })
        .then(() => store.close())
        .catch((err: unknown) => logger.error({ err }, "shutdown error"))
        .finally(() => {
          for (const s of sockets) s.close(); // MRT_DONE: the kernel drops our VIFs and MFC entries.
          logger.info("stopped");
          resolve(0);
        });
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
}

/**
 * nftables once `detecting` answers: mfcd's rescue table (whose rules are those of the routes
 * restored by now), or the reason rescue options and Trace are refused. Never rejects: nft
 * failures here are logged and leave mfcd serving.
 */
async function startNft(
  detecting: Promise<NftStartupProbe>,
  engine: RouteEngine,
  logger: Logger,
): Promise<{
  nft: NftAvailability;
  nftTable: NftRescueTable | undefined;
  rescue: RescueSync;
  ipFamily: NftStartupProbe["ipFamily"];
}> {
  const { availability, ipTablesJson, ipFamily } = await detecting;
  // nft runs, but the kernel has no nf_tables `ip` family (CONFIG_NF_TABLES_IPV4): as unusable.
  const nft: NftAvailability = availability.available && !ipFamily.available ? { available: false, why: ipFamily.detail } : availability;
  if (!nft.available) {
    logger.warn({ why: nft.why }, "nftables unavailable: rescue options and Trace are disabled");
    return { nft, nftTable: undefined, rescue: new RescueSync(engine, undefined, nft.why, logger), ipFamily };
  }
  const nftTable = new NftRescueTable();
  const rescue = new RescueSync(engine, nftTable, "", logger);
  try {
    const { tableExists } = await nftTable.cleanUpAtStart(ipTablesJson);
    if (!tableExists) rescue.noTable();
  } catch (err) {
    logger.warn({ err }, "could not remove stale nft tables");
  }
  // Rules of restored routes (also replaces a table a killed mfcd left behind); applying the
  // config later syncs again when its routes have or had rescue options.
  await rescue.sync().catch((err: unknown) => logger.error({ err }, "nftables rescue rules not restored"));
  return { nft, nftTable, rescue, ipFamily };
}

function nftTrace(nft: NftAvailability): TraceStarter {
  return (flow, onEvent) => {
    if (!nft.available) return nft.why;
    return NftTrace.start(flow, (e) =>
      onEvent({ id: e.id, table: e.table, chain: e.chain, hook: e.hook, rule: e.rule, verdict: e.verdict, raw: e.raw }),
    );
  };
}

/** Learning is a kernel event worth a log line; every other upcall outcome is debug noise. */
function logUpcall(
  logger: Logger,
  u: { family: string; table: number; source: string; group: string; vif: number },
  outcome: ReturnType<RouteEngine["onUpcall"]>,
): void {
  if (outcome === "ignored") return;
  const fields = { family: u.family, table: u.table, source: u.source, group: u.group, vif: u.vif, outcome };
  if (outcome === "learned" || outcome === "relearned") logger.info(fields, "route learned from template");
  else logger.debug(fields, "upcall");
}

/** Upcalls read per (family, type), summed over every table's reader. */
function upcallCounts(readers: { family: string; reader: UpcallReader }[]): UpcallCount[] {
  const sums = new Map<string, UpcallCount>();
  for (const { family, reader } of readers) {
    const stats = reader.stats;
    for (const type of ["nocache", "wrongvif"] as const) {
      const key = `${family}/${type}`;
      const entry = sums.get(key) ?? { family, type, count: 0 };
      entry.count += stats[type];
      sums.set(key, entry);
    }
  }
  return [...sums.values()];
}

/** NOCACHE/WRONGVIF upcalls of the default table (MRT_ASSERT enables the latter): Diagnose and templates. */
function startUpcallReader(socket: MrouteSocket, engine: RouteEngine, ring: UpcallRing, logger: Logger): Promise<UpcallReader> {
  socket.setAssert(true);
  const starting = UpcallReader.start({
    fd: socket.fd,
    onUpcall: (u) => {
      ring.push(u);
      logUpcall(logger, { family: "ipv4", table: 0, ...u }, engine.onUpcall({ family: "ipv4", table: 0, ...u }));
    },
    onError: (err) => logger.error({ err }, "upcall reader stopped"),
  });
  starting.catch(() => undefined);
  return starting;
}

function openState(
  options: CliOptions,
  logger: Logger,
): { store: RouteStore & { close(): Promise<void> }; persisted: StoredRoute[] } {
  if (options.stateFile === undefined) return { store: new NullStateStore(), persisted: [] };
  if (options.resetState) {
    const aside = StateStore.moveAside(options.stateFile);
    if (aside) logger.warn({ file: options.stateFile, keptAs: aside }, "--reset-state: starting empty, old state kept aside");
  }
  const { store, routes } = StateStore.open(options.stateFile);
  return { store, persisted: routes as StoredRoute[] };
}

/** The YAML parser loads only when a config file is used (~50 ms of startup otherwise). */
async function configSpecs(path: string) {
  const { loadConfigFile } = await import("../shared/route-file.js");
  return loadConfigFile(path).map(({ line: _line, ...spec }) => spec);
}

/** SIGHUP: re-apply the config-owned routes; any error keeps the running state. */
async function reloadConfig(engine: RouteEngine, store: RouteStore, rescue: RescueSync, path: string, logger: Logger): Promise<void> {
  let specs;
  try {
    specs = await configSpecs(path);
  } catch (err) {
    const problems = err instanceof Error ? err.message.split("\n") : [String(err)];
    logger.error({ file: path, problems }, "config reload failed: keeping the running routes");
    return;
  }
  const { applyAndStore } = await import("./mfc-service.js");
  try {
    rescue.check(specs, path);
    const result = applyAndStore(engine, store, CONFIG_OWNER, specs, { allowEmpty: true });
    if (rescue.relevant(specs)) {
      rescue.sync().catch((err: unknown) => logger.error({ err }, "nftables rescue rules of the config not applied"));
    }
    store.flush().then(
      () => logger.info(summary(result, path), "config reloaded"),
      (err: unknown) => logger.error({ err }, "config reloaded but the state file could not be written"),
    );
  } catch (err) {
    logger.error({ file: path, err: err instanceof Error ? err.message : String(err) }, "config reload refused: keeping the running routes");
  }
}

function summary(result: ReturnType<RouteEngine["apply"]>, file: string | undefined) {
  return {
    file,
    added: result.added.length,
    removed: result.removed.length,
    replaced: result.replaced.length,
    unchanged: result.unchanged.length,
  };
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`mfcd: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

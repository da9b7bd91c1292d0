#!/usr/bin/env -S node --max-semi-space-size=2
// (A 2 MiB young generation instead of 16 MiB: less RSS for more, cheap, scavenges; README "Measured figures in the code".)
// mfcd entry point: MRT_INIT first (health can only be SERVING once we own the table), then
// listen; on SIGTERM/SIGINT shut down gracefully and MRT_DONE, which clears our kernel state.
// Each start step that changes the system pushes its undo on one CleanupStack, which a failed
// start and a shutdown both unwind (newest first, one failing undo never skipping the others).
//
// Start order is about wall time (spawn → SERVING): the readers' worker (one thread for all of
// them, src/kernel/poll/poll-hub.ts) boots on its own and the gRPC modules (most of mfcd's
// code) are imported dynamically, so their loading, the restore on this thread and the nft
// calls all overlap instead of queueing. Nothing imported statically may import @grpc/grpc-js
// (its evaluation would come before main() could start the worker: TLS files are read by
// tls-files.ts, credentials built in the server chunk), and nft runs in one child process,
// spawned before the state file is read. What each step costs: README "Measured figures in the
// code".

import { RouteEngine } from "../engine/route-engine.js";
import {
  addMrule,
  delMrule,
  NftRescueTable,
  missingCapabilities,
  probeKernelCapabilities,
  withNftCapability,
  type KernelCapabilities,
  missingForTable,
  noRoutingMessage,
  unavailableSummary,
  listLinks,
  tuneMalloc,
  type NftStartupProbe,
  listenFds,
  notifySocket,
  reexec,
  sdNotify,
} from "../kernel/index.js";
import {
  isLocalAddress,
  kernelFlowProbes,
  CleanupStack,
  TableSockets,
  installMrules,
  ReconcileTimers,
  type Handoff,
} from "./lifecycle/index.js";
import { NullStateStore } from "../state/null-state-store.js";
import { StateStore } from "../state/state-store.js";
import {
  parseCliOptions,
  USAGE,
  UsageError,
  type CliOptions,
  createLogger,
  type Logger,
  daemonInfoSource,
} from "./config/index.js";
import { nftTrace, startNft, type NftStartup, type RescueSync } from "./nft/index.js";
import type { RouteStore } from "../state/route-store.js";
import type { StoredRoute } from "../state/stored-route.js";
import { fromStoredRoute, CONFIG_OWNER } from "./routes/index.js";
import { renderMetrics, startMetricsServer, RpcStats } from "./metrics/index.js";
import { loadTls } from "../shared/tls-files.js";
import { resolveGroupId } from "./listen/index.js";

/** What a successful start leaves for SIGHUP and the signal handlers. */
interface Daemon {
  engine: RouteEngine;
  store: RouteStore;
  tables: TableSockets;
  rescue: RescueSync;
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
  // Sockets the previous mfcd handed over (re-exec, systemd's fd store): taken before anything
  // else, so that no child process inherits them.
  const handoff: Handoff = { handed: listenFds(), fdStore: notifySocket() !== undefined && process.env.FDSTORE !== undefined };
  const logger = createLogger(options.logLevel);
  const mallocTuned = tuneMalloc();
  if (mallocTuned.length > 0) logger.debug({ mallopt: mallocTuned }, "malloc tuned for a long-running daemon");
  // SIGHUP's default action kills the process: until the config can be reloaded, ignore it.
  let onHangup = () => logger.info("SIGHUP: still starting, ignored");
  process.on("SIGHUP", () => onHangup());

  // Every step that changes the system pushes its undo here; a failed start and a shutdown
  // both unwind it.
  const cleanup = new CleanupStack();
  // The Stop RPC: served only once the daemon serves, by then wired to the signal handlers.
  let requestStop = (_how: StopHow): void => undefined;
  let daemon: Daemon;
  try {
    daemon = await startDaemon(options, logger, cleanup, handoff, (how) => requestStop(how));
  } catch (err) {
    // Undo what did start: mrules, the nft table, the kernel tables, and the workers that would
    // keep the process alive.
    await cleanup.unwind(({ name, err }) => logger.error({ err, step: name }, "cleanup after a failed start: step failed"));
    process.stderr.write(`mfcd: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }

  const configPath = options.config;
  onHangup = () => {
    if (configPath === undefined) logger.info("SIGHUP: no --config file to reload");
    else void reloadConfig(daemon.engine, daemon.store, daemon.rescue, configPath, logger);
  };
  const ended = await untilSignal(daemon.tables, cleanup, logger, (stop) => (requestStop = (how) => stop("Stop RPC", how)));
  if (typeof ended === "number") return ended;
  try {
    reexec(ended);
  } catch (err) {
    logger.error({ err }, "upgrade: re-exec failed; exiting (forwarding state kept for the next mfcd)");
    return 1;
  }
}

/** How the Stop RPC ends this mfcd (proto StopRequest). */
type StopHow = { keepForwarding: boolean; upgrade: boolean };

/**
 * Everything that can refuse the start happens before we take the kernel table; then tables,
 * restore, nft, config, mrules, gRPC, metrics. Throws with the reason to print; whatever it
 * started is in `cleanup`.
 */
async function startDaemon(
  options: CliOptions,
  logger: Logger,
  cleanup: CleanupStack,
  handoff: Handoff,
  onStop: (how: StopHow) => void,
): Promise<Daemon> {
  // nft runs in child processes while this thread loads and restores the routes; its answer
  // (rescue options and Trace need it) is in before SERVING.
  const nftDetecting = NftRescueTable.detectAsync();
  // Kept for GetInfo and per-request refusals; its nft entry is filled in once nft has answered.
  let kernelCapabilities = checkKernel(logger);
  // MRT_INIT as early as possible: from here the kernel forwards again what the previous mfcd
  // left (adopted later). A start refused below closes the table without removing any of that:
  // close() removes only VIFs this process adopted or wrote.
  const tables = TableSockets.open(kernelCapabilities, logger, handoff);
  const mrtInitMs = Math.round(performance.now());
  cleanup.push("kernel tables", () => tables.close());
  const { store, persisted } = openState(options, logger);
  cleanup.push("state file", () => store.close());
  tables.keepForwarding = options.keepForwarding;
  const configRoutes = options.config === undefined ? undefined : await configSpecs(options.config);
  const tls = options.tls ? loadTls(options.tls) : undefined;
  const socketGid = options.socketGroup === undefined ? undefined : resolveGroupId(options.socketGroup);

  const engine = new RouteEngine(tables.opener, {
    maxRoutes: options.maxRoutes,
    // Tables this kernel cannot serve: refused per request, restored routes wait (PENDING).
    kernelSupport: (family, table) => missingForTable(kernelCapabilities, family, table),
    // Names answered without opening a table (queries and dry runs never claim one).
    ifindex: (name) => listLinks().find((l) => l.name === name)?.ifindex,
    onLearnFailure: (f) => logger.warn(f, "learned entry not installed: the kernel refused it"),
  });
  const timers = new ReconcileTimers({ engine, logger, learnedIdleMs: options.learnedIdleMs });
  // Event-driven drift checks run from the monitor's start on.
  cleanup.push("drift checks", () => timers.stop());

  const { modules, nft } = await startKernelSide({ engine, tables, timers, persisted, nftDetecting, cleanup, logger, options });
  const { MfcdServer, applyAndStore } = modules;
  kernelCapabilities = withNftCapability(kernelCapabilities, nft.ipFamily.available, nft.ipFamily.detail);
  if (configRoutes) {
    nft.rescue.check(configRoutes, options.config ?? "config");
    const result = applyAndStore(engine, store, CONFIG_OWNER, configRoutes, { allowEmpty: true });
    if (nft.rescue.relevant(configRoutes)) {
      await nft.rescue.sync().catch((err: unknown) => logger.error({ err }, "nftables rescue rules of the config not applied"));
    }
    await store.flush();
    logger.info(summary(result, options.config), "config applied");
  }
  installMrules(options.mrules, { ensureTable: (f, t) => engine.ensureTable(f, t), add: addMrule, del: delMrule }, cleanup, logger);

  const rpcStats = new RpcStats();
  const server = await MfcdServer.start({
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
    info: daemonInfoSource({ kernel: kernelCapabilities, sockets: tables.sockets, stateFile: options.stateFile }),
    onStop,
    diagnostics: diagnosticsOf(tables, nft),
  });
  cleanup.push("gRPC server", () => server.stop());
  if (options.metricsListen) {
    const metrics = await startMetricsServer(options.metricsListen, () => {
      const { routes, vifs, foreign } = engine.list();
      return renderMetrics({
        routes,
        vifs,
        foreignEntries: foreign.length,
        upcalls: tables.upcallCounts(),
        learnFailures: engine.learnFailures,
        rpc: rpcStats,
        kernelCapabilities: kernelCapabilities.capabilities,
        includeLearned: options.metricsLearned,
      });
    });
    cleanup.push("metrics listener", () => metrics.close());
    logger.info({ address: metrics.address }, "metrics listening");
  }
  timers.start();
  cleanup.push("background checks", () => timers.stop()); // first to stop at shutdown
  notifyManager("READY=1", logger);
  logger.info({ addresses: server.addresses, routes: engine.size, mrtInitMs, servingMs: Math.round(performance.now()) }, "serving");
  return { engine, store, tables, rescue: nft.rescue };
}

/** Diagnose's kernel evidence and Trace: the upcall rings, nft (when it runs here). */
function diagnosticsOf(tables: TableSockets, nft: NftStartup) {
  return {
    probes: kernelFlowProbes(tables.rings, nft.nftTable ? { table: nft.nftTable } : { why: nft.nft.available ? "" : nft.nft.why }),
    trace: nftTrace(nft.nft),
    rescue: nft.rescue,
    isLocalAddress,
  };
}

/**
 * What this kernel offers, decided from syscalls' errnos (nft's ip family is asked off this
 * thread): nothing usable stops the start with one message naming the missing options; a
 * missing part (IPv6, tables, IPv4) is refused per request (FAILED_PRECONDITION).
 */
function checkKernel(logger: Logger): KernelCapabilities {
  // Without these the raw socket or MRT_INIT fails with a bare EPERM; say which one is missing.
  const missing = missingCapabilities();
  if (missing.length > 0) {
    throw new Error(
      `missing ${missing.map((c) => `${c.name} (${c.why})`).join(" and ")}; ` +
        "run as root or grant them (systemd AmbientCapabilities=, Kubernetes securityContext.capabilities.add)",
    );
  }
  const capabilities = probeKernelCapabilities({ nft: false });
  const noRouting = noRoutingMessage(capabilities);
  if (noRouting !== undefined) throw new Error(noRouting);
  const lacking = unavailableSummary(capabilities).filter((c) => c.name !== "nft");
  if (lacking.length > 0) logger.warn({ unavailable: lacking }, "this kernel lacks parts of multicast routing: serving what works");
  return capabilities;
}

/**
 * The readers' worker and the rtnetlink monitor boot on their own thread and the gRPC
 * modules load while this thread restores the routes; then nft programs the restored routes'
 * rescue rules. Resolves once all of it is in.
 */
async function startKernelSide(p: {
  engine: RouteEngine;
  tables: TableSockets;
  timers: ReconcileTimers;
  persisted: StoredRoute[];
  nftDetecting: Promise<NftStartupProbe>;
  cleanup: CleanupStack;
  logger: Logger;
  options: CliOptions;
}): Promise<{ modules: typeof import("./rpc/index.js"); nft: NftStartup }> {
  const { engine, logger } = p;
  const tablesStarting = p.tables.start(engine, () => p.timers.queueDriftCheck());
  tablesStarting.catch(() => undefined);
  // Evaluated at this thread's first await below, while the workers boot.
  const rpc = import("./rpc/index.js");
  rpc.catch(() => undefined);
  const restored = engine.restore(p.persisted.map(fromStoredRoute), p.tables.adoptAtStart());
  p.tables.closeUnclaimed();
  if (p.persisted.length > 0 || restored.removedLeftovers > 0) logger.info({ ...restored, file: p.options.stateFile }, "routes restored");
  for (const why of engine.unopenable) logger.error({ table: why }, "routes of this table not restored now (kept in the state file)");
  // After the restore: the rescue rules are those of the restored routes.
  const nftReady = startNft(p.nftDetecting, engine, logger);
  // The rules must not outlive the routes they serve.
  p.cleanup.push("nft rescue table", async () => (await nftReady).rescue.stop(p.tables.keepsRoutes));
  const [modules, , nft] = await Promise.all([rpc, tablesStarting, nftReady]);
  return { modules, nft };
}

/**
 * Shutdown on SIGTERM/SIGINT, SIGUSR2 (keeping forwarding state) or the Stop RPC: unwind every
 * started step; a second signal exits at once. Resolves to the exit code, or — for an upgrade —
 * to the table sockets to hand to the re-executed mfcd (the unwind left them open).
 */
function untilSignal(
  tables: TableSockets,
  cleanup: CleanupStack,
  logger: Logger,
  onStopper: (stop: (why: string, how: StopHow) => void) => void,
): Promise<number | Map<string, number>> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (why: string, how: StopHow = { keepForwarding: false, upgrade: false }) => {
      if (stopping) {
        logger.warn({ signal: why }, "second signal: exiting now");
        tables.closeSockets();
        resolve(1);
        return;
      }
      stopping = true;
      // A planned restart: leave forwarding state for the next mfcd to adopt.
      if (how.keepForwarding) tables.keepForwarding = true;
      // An upgrade: the sockets stay open through execve, the kernel never sees the table's owner go.
      const handing = how.upgrade ? tables.handOff() : undefined;
      logger.info({ signal: why, keepForwarding: tables.keepForwarding, upgrade: how.upgrade }, "shutting down");
      notifyManager(how.upgrade ? "RELOADING=1" : "STOPPING=1", logger);
      void cleanup
        .unwind(({ name, err }) => logger.error({ err, step: name }, "shutdown error"))
        .then(() => {
          logger.info(handing ? "stopped: re-executing" : "stopped");
          resolve(handing ?? 0);
        });
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGUSR2", () => stop("SIGUSR2", { keepForwarding: true, upgrade: false }));
    onStopper(stop);
  });
}

/** sd_notify for Type=notify units; a failure is only logged (the manager then times the start out). */
function notifyManager(state: string, logger: Logger): void {
  try {
    sdNotify(state);
  } catch (err) {
    logger.warn({ err, state }, "sd_notify failed");
  }
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

/** The YAML parser loads only when a config file is used (it would cost every start otherwise). */
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
  const { applyAndStore } = await import("./rpc/index.js");
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

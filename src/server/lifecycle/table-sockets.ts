// mfcd's kernel tables and what reads them: one MRT_INIT socket per (family, table) — the IPv4
// default table taken at start, others on first use — each with its upcall reader (templates
// learn from NOCACHE upcalls; MRT_ASSERT's WRONGVIF upcalls re-learn a moved flow at once), and
// the rtnetlink monitor (links and MFC events, through KernelSync). close() undoes all of it.

import type { RouteEngine, TableOpener } from "../../engine/route-engine.js";
import {
  type KernelCapabilities,
  hasCapability,
  hasStaticVifs,
  IPV6_MROUTE,
  KernelError,
  MrouteSocket,
  Mroute6Socket,
  RtnetlinkMonitor,
  listLinks,
  UpcallReader,
  type Upcall,
  UpcallRing,
} from "../../kernel/index.js";
import { KernelSync } from "./kernel-sync.js";
import type { Logger } from "../config/index.js";
import type { UpcallCount } from "../metrics/index.js";

type Family = "ipv4" | "ipv6";
type TableSocket = MrouteSocket | Mroute6Socket;

export class TableSockets {
  /** Every open MRT_INIT socket (GetInfo's owned tables), the IPv4 default table's first. */
  readonly sockets: TableSocket[] = [];
  /** Diagnose evidence: NOCACHE/WRONGVIF upcalls, one ring per IPv4 table (a VIF index names an interface only within its table). */
  readonly rings = new Map<number, UpcallRing>([[0, new UpcallRing()]]);
  /** Every reader started, resolved to undefined when its start failed. */
  private readonly readers: Promise<UpcallReader | undefined>[] = [];
  /** Every running reader, for the upcall counts in --metrics-listen. */
  private readonly running: { family: Family; reader: UpcallReader }[] = [];
  private engine: RouteEngine | undefined;
  private monitor: Promise<KernelSync> | undefined;
  private closing: Promise<void> | undefined;
  /** close() leaves the VIFs and routes in the kernel for the next mfcd (--keep-forwarding, SIGUSR2). */
  keepForwarding = false;

  private constructor(
    private readonly logger: Logger,
    private readonly defaultSocket: MrouteSocket | undefined,
    private readonly capabilities: KernelCapabilities,
  ) {
    if (defaultSocket) this.sockets.push(defaultSocket);
  }

  /**
   * Takes the IPv4 default table when this kernel routes IPv4 multicast, so that "another
   * multicast router owns it" stops the start; throws an Error saying what to do.
   */
  static open(capabilities: KernelCapabilities, logger: Logger): TableSockets {
    if (!hasCapability(capabilities, "ipv4")) return new TableSockets(logger, undefined, capabilities);
    try {
      return new TableSockets(logger, MrouteSocket.open(), capabilities);
    } catch (err) {
      throw new Error(explainOpenFailure(err), { cause: err });
    }
  }

  /**
   * Tables the restore adopts even without a route in them: the IPv4 default table (held from
   * the start anyway) and the IPv6 one when a previous mfcd left static MIFs there.
   */
  adoptAtStart(): { family: Family; table: number }[] {
    const tables: { family: Family; table: number }[] = [];
    if (this.defaultSocket) tables.push({ family: "ipv4", table: 0 });
    if (hasCapability(this.capabilities, "ipv6") && hasStaticVifs(IPV6_MROUTE)) tables.push({ family: "ipv6", table: 0 });
    return tables;
  }

  /** The engine's TableOpener: the default IPv4 table, or a new socket (and reader) per other table. */
  readonly opener: TableOpener = (family, table) => {
    if (family === "ipv4" && table === 0 && this.defaultSocket) return this.defaultSocket;
    const opened = family === "ipv4" ? MrouteSocket.open({ table }) : Mroute6Socket.open({ table });
    this.sockets.push(opened);
    this.logger.info({ family, table }, "multicast routing table opened");
    const reader = this.startReader(opened, family, table);
    reader.catch((err: unknown) => {
      this.logger.error({ err, family, table }, "upcall reader not started: templates in this table will not learn");
    });
    return opened;
  };

  /**
   * Starts the default table's upcall reader and the rtnetlink monitor (both on worker threads,
   * while the caller restores); rejects when either fails. Whatever did start, close() stops.
   */
  start(engine: RouteEngine, queueDriftCheck: () => void): Promise<void> {
    this.engine = engine;
    const reading = this.defaultSocket ? this.startReader(this.defaultSocket, "ipv4", 0) : Promise.resolve(undefined);
    // Once subscribed, KernelSync re-checks every interface, so nothing that changed while the
    // worker booted is lost.
    this.monitor = KernelSync.start({
      engine,
      logger: this.logger,
      queueDriftCheck,
      subscribe: (onEvent) =>
        RtnetlinkMonitor.start({
          onEvent,
          onError: (err: Error) => this.logger.error({ err }, "rtnetlink"),
          // Drops what mfcd writes through its MRT_INIT sockets (learned entries: a flood of
          // new flows costs no events). Route entries are written through the static writer:
          // the kernel reports them like any other socket's (RTPROT_STATIC), and KernelSync
          // finds each one matching what mfcd wrote.
          dropOwnMfcUpdates: true,
        }),
      listLinks: () => listLinks(),
    });
    this.monitor.catch(() => undefined);
    return Promise.all([reading, this.monitor]).then(() => undefined);
  }

  /** Upcalls read per (family, type), summed over every table's reader. */
  upcallCounts(): UpcallCount[] {
    const sums = new Map<string, UpcallCount>();
    for (const { family, reader } of this.running) {
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

  /**
   * The monitor, then every upcall reader, then the sockets: our VIFs and MFC entries are
   * removed (unless keepForwarding), then MRT_DONE. The sockets close even when a reader fails
   * to stop (it is logged).
   */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  /** A second signal: MRT_DONE now, without waiting for the readers. */
  closeSockets(): void {
    for (const s of this.sockets) s.close({ keepForwarding: this.keepForwarding });
  }

  private async closeAll(): Promise<void> {
    try {
      const stopping = [
        this.monitor?.then((m) => m.close(), () => undefined),
        ...this.readers.map((r) => r.then((reader) => reader?.close())),
      ];
      for (const result of await Promise.allSettled(stopping)) {
        if (result.status === "rejected") this.logger.error({ err: result.reason }, "kernel reader did not stop cleanly");
      }
    } finally {
      this.closeSockets();
    }
  }

  private startReader(socket: TableSocket, family: Family, table: number): Promise<UpcallReader> {
    // WRONGVIF / MRT6MSG_WRONGMIF upcalls re-learn a moved flow at once.
    socket.setAssert(true);
    const starting = UpcallReader.start({
      fd: socket.fd,
      family,
      onUpcall: (u) => this.onUpcall(family, table, u),
      onError: (err) => this.logger.error({ err, family, table }, "upcall reader stopped"),
    });
    this.readers.push(starting.catch(() => undefined));
    void starting.then(
      (reader) => this.running.push({ family, reader }),
      () => undefined,
    );
    return starting;
  }

  private onUpcall(family: Family, table: number, u: Upcall): void {
    if (family === "ipv4") {
      let ring = this.rings.get(table);
      if (!ring) this.rings.set(table, (ring = new UpcallRing()));
      ring.push(u);
    }
    const upcall = { family, table, ...u };
    const outcome = this.engine?.onUpcall(upcall) ?? "ignored";
    // Learning is a kernel event worth a log line; every other outcome is debug noise.
    if (outcome === "ignored") return;
    const fields = { family, table, source: u.source, group: u.group, vif: u.vif, outcome };
    if (outcome === "learned" || outcome === "relearned") this.logger.info(fields, "route learned from template");
    else this.logger.debug(fields, "upcall");
  }
}

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

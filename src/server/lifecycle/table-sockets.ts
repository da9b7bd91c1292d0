// mfcd's kernel tables and what reads them: one MRT_INIT socket per (family, table) — the IPv4
// default table taken at start, others on first use — each with its upcall reader (templates
// learn from NOCACHE upcalls; MRT_ASSERT's WRONGVIF upcalls re-learn a moved flow at once), and
// the rtnetlink monitor (links and MFC events, through KernelSync). close() undoes all of it.

import fs from "node:fs";
import type { RouteEngine, TableOpener } from "../../engine/route-engine.js";
import {
  type KernelCapabilities,
  hasCapability,
  hasStaticVifs,
  ipv4TablesWithStaticVifs,
  IPV6_MROUTE,
  KernelError,
  MrouteSocket,
  Mroute6Socket,
  RtnetlinkMonitor,
  listLinks,
  UpcallReader,
  type Upcall,
  UpcallRing,
  sdNotify,
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
  /** close() stops the readers but leaves the sockets open: they are handed to the next mfcd (re-exec). */
  private handingOff = false;
  private defaultSocket: MrouteSocket | undefined;

  private constructor(
    private readonly logger: Logger,
    private readonly capabilities: KernelCapabilities,
    private readonly handoff: Handoff,
  ) {}

  /**
   * Takes the IPv4 default table when this kernel routes IPv4 multicast, so that "another
   * multicast router owns it" stops the start; throws an Error saying what to do. Sockets in
   * `handoff.handed` (by tableName) are taken over instead of opened.
   */
  static open(capabilities: KernelCapabilities, logger: Logger, handoff: Handoff = { handed: new Map(), fdStore: false }): TableSockets {
    const tables = new TableSockets(logger, capabilities, handoff);
    if (!hasCapability(capabilities, "ipv4")) return tables;
    try {
      tables.defaultSocket = tables.openSocket("ipv4", 0) as MrouteSocket;
      return tables;
    } catch (err) {
      throw new Error(explainOpenFailure(err), { cause: err });
    }
  }

  /** Opens (or takes over) one table's socket; in fd-store mode hands a new one to the service manager. */
  private openSocket(family: Family, table: number): TableSocket {
    const name = tableName(family, table);
    const inheritedFd = this.handoff.handed.get(name);
    this.handoff.handed.delete(name);
    // In systemd's fd store the socket itself outlives mfcd: write through it (nothing static
    // then lingers once the unit really stops and the store lets it go).
    const opts = { table, inheritedFd, survive: !this.handoff.fdStore };
    const opened = family === "ipv4" ? MrouteSocket.open(opts) : Mroute6Socket.open(opts);
    this.sockets.push(opened);
    if (inheritedFd !== undefined) this.logger.info({ family, table, fd: inheritedFd }, "multicast routing table handed over by the previous mfcd");
    else if (this.handoff.fdStore) this.storeSocket(name, opened.fd);
    return opened;
  }

  /** FDSTORE=1: the service manager keeps a copy, and gives it to the next mfcd of this unit. */
  private storeSocket(name: string, fd: number): void {
    try {
      sdNotify(`FDSTORE=1\nFDNAME=${name}`, [fd]);
    } catch (err) {
      this.logger.warn({ err, name }, "fd store: socket not stored (FileDescriptorStoreMax= unset?): a restart will not be hitless");
    }
  }

  /**
   * Whether the routes outlive this mfcd's exit: asked for (keepForwarding), or decided by
   * systemd's fd store, which keeps the sockets across a restart. What serves the routes (the
   * nft rescue table) stays with them.
   */
  get keepsRoutes(): boolean {
    return this.keepForwarding || this.handoff.fdStore;
  }

  /** Every open table socket by tableName, for reexec(): close() will then leave them open. */
  handOff(): Map<string, number> {
    this.handingOff = true;
    this.keepForwarding = true;
    return new Map(this.sockets.filter((s) => !s.closed).map((s) => [tableName(s.family, s.table), s.fd]));
  }

  /** Handed sockets no table claimed (their family is not served here): closed, which releases them. */
  closeUnclaimed(): void {
    for (const [name, fd] of this.handoff.handed) {
      this.logger.warn({ name }, "handed socket not used: closed");
      closeFd(fd);
    }
    this.handoff.handed.clear();
  }

  /**
   * Tables the restore adopts even without a route in them: the IPv4 default table (held from
   * the start anyway), the IPv6 one and other IPv4 tables where a previous mfcd left static VIFs,
   * and every table handed over.
   */
  adoptAtStart(): { family: Family; table: number }[] {
    const tables: { family: Family; table: number }[] = [];
    if (this.defaultSocket) tables.push({ family: "ipv4", table: 0 });
    if (hasCapability(this.capabilities, "ipv6") && hasStaticVifs(IPV6_MROUTE)) tables.push({ family: "ipv6", table: 0 });
    if (hasCapability(this.capabilities, "tables")) {
      for (const table of ipv4TablesWithStaticVifs()) tables.push({ family: "ipv4", table });
    }
    // Every table handed over: what it holds is adopted or removed now.
    for (const name of this.handoff.handed.keys()) {
      const m = /^mrt-(ipv4|ipv6)-(\d+)$/.exec(name);
      const family = m?.[1] as Family | undefined;
      if (!family || !hasCapability(this.capabilities, family)) continue;
      const table = Number(m?.[2]);
      if (!tables.some((t) => t.family === family && t.table === table)) tables.push({ family, table });
    }
    return tables;
  }

  /** The engine's TableOpener: the default IPv4 table, or a new socket (and reader) per other table. */
  readonly opener: TableOpener = (family, table) => {
    if (family === "ipv4" && table === 0 && this.defaultSocket) return this.defaultSocket;
    const opened = this.openSocket(family, table);
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
    if (this.handingOff) return;
    // In the fd store a stop cannot tell a restart from a stop: the store decides. It keeps the
    // sockets while the unit restarts, and closes them when it stops — the kernel then removes
    // everything they wrote (nothing is static in this mode).
    const keepOwner = this.handoff.fdStore;
    for (const s of this.sockets) s.close({ keepForwarding: this.keepForwarding || keepOwner, keepOwner });
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

/** What a start is handed by the previous mfcd (kernel/handoff): sockets by tableName, and whether systemd's fd store is in use. */
export interface Handoff {
  handed: Map<string, number>;
  fdStore: boolean;
}

/** The name a table's socket is handed over under (FDNAME=, MFCD_HANDOFF). */
export function tableName(family: Family, table: number): string {
  return `mrt-${family}-${table}`;
}

function closeFd(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
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

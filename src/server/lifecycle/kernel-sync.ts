// Keeps the engine in step with the kernel while mfcd runs: rtnetlink link events drive
// hot-plug (a route waiting for an interface installs when it appears; a deleted interface's
// routes are rewritten before its VIF index can be reused), MFC events catch entries removed
// or altered behind our back, and a 1 s interface sweep covers lost events (overrun).

import type { LinkState, RouteEngine } from "../../engine/route-engine.js";
import type { RouteKey } from "../../engine/route-key.js";
import { RT6_TABLE_DFLT, RT_TABLE_DEFAULT } from "../../kernel/index.js";
import type { Logger } from "../config/index.js";


/** The subset of src/kernel's RtnetlinkEvent this module consumes. */
export type KernelEvent =
  | { kind: "link-new" | "link-del"; link: LinkState }
  | {
      kind: "mroute-new" | "mroute-del";
      /** An unresolved (upcall-only) entry: not ours to judge. */
      unresolved?: boolean;
      family: "ipv4" | "ipv6";
      table: number;
      source: string;
      group: string;
      iifIndex: number;
      oifs: ReadonlyMap<number, number>;
    }
  | { kind: "overrun" };

export interface KernelSyncOptions {
  engine: RouteEngine;
  logger: Logger;
  /** Starts the event source; resolves once subscribed. */
  subscribe: (onEvent: (e: KernelEvent) => void) => Promise<{ close(): Promise<void> }>;
  listLinks: () => LinkState[];
  /** Period of the fallback interface sweep (default 1000; 0 = off). */
  sweepIntervalMs?: number;
  /** An MFC event disagrees with a route: the ReconcileTimers runs one debounced full drift check. */
  queueDriftCheck: () => void;
}

export class KernelSync {
  private syncQueued = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private source: { close(): Promise<void> } | undefined;
  private closed = false;
  /** ifindexes present, to log an interface's arrival once (RTM_NEWLINK also reports flag changes). */
  private readonly known = new Set<number>();

  private constructor(private readonly options: KernelSyncOptions) {}

  static async start(options: KernelSyncOptions): Promise<KernelSync> {
    const sync = new KernelSync(options);
    // Subscribe first, then take the snapshot: a change in between arrives as an event.
    sync.source = await options.subscribe((e) => sync.onEvent(e));
    sync.snapshot();
    sync.syncNow();
    const every = options.sweepIntervalMs ?? 1000;
    if (every > 0) sync.sweepTimer = setInterval(() => sync.syncNow(), every).unref();
    return sync;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    await this.source?.close();
  }

  private onEvent(e: KernelEvent): void {
    if (this.closed) return;
    const { engine, logger } = this.options;
    switch (e.kind) {
      case "link-new":
        if (!this.known.has(e.link.ifindex)) {
          this.known.add(e.link.ifindex);
          logger.info({ interface: e.link.name, ifindex: e.link.ifindex }, "interface added");
        }
        engine.noteLink(e.link);
        this.queueSync();
        break;
      case "link-del":
        this.known.delete(e.link.ifindex);
        logger.info({ interface: e.link.name, ifindex: e.link.ifindex }, "interface deleted");
        engine.forgetLink(e.link);
        this.queueSync();
        break;
      case "mroute-del": {
        if (e.unresolved) break;
        const key = toKey(e);
        if (!engine.has(key)) break;
        // After the event loop turn: our own delete of the same key may be what this reports.
        setImmediate(() => {
          if (!this.closed && engine.checkEntry(key)) {
            logger.warn({ source: key.source, group: key.group }, "kernel entry removed behind mfcd's back: repaired");
          }
        });
        break;
      }
      case "mroute-new": {
        if (e.unresolved) break;
        const key = toKey(e);
        if (engine.has(key) && !engine.matchesKernelEvent(key, e.iifIndex, e.oifs)) this.options.queueDriftCheck();
        break;
      }
      case "overrun":
        logger.warn("rtnetlink events were lost (receive buffer overrun): resynchronising");
        this.snapshot();
        this.queueSync();
        this.options.queueDriftCheck();
        break;
    }
  }

  private snapshot(): void {
    const links = this.options.listLinks();
    this.known.clear();
    for (const l of links) this.known.add(l.ifindex);
    this.options.engine.setLinks(links);
  }

  private queueSync(): void {
    if (this.syncQueued) return;
    this.syncQueued = true;
    setImmediate(() => {
      this.syncQueued = false;
      if (!this.closed) this.syncNow();
    });
  }

  private syncNow(): void {
    try {
      const changed = this.options.engine.syncInterfaces();
      if (changed > 0) this.options.logger.info({ routes: changed }, "interfaces changed: routes updated");
    } catch (err) {
      this.options.logger.error({ err }, "interface sync failed");
    }
  }
}

function toKey(e: { family: "ipv4" | "ipv6"; table: number; source: string; group: string }): RouteKey {
  const defaultTable = e.family === "ipv4" ? RT_TABLE_DEFAULT : RT6_TABLE_DFLT;
  return { family: e.family, table: e.table === defaultTable ? 0 : e.table, source: e.source, group: e.group };
}

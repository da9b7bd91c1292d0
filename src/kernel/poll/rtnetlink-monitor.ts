// Kernel change notifications for one network namespace: links (RTNLGRP_LINK) and MFC entries
// (RTNLGRP_IPV4_MROUTE, RTNLGRP_IPV6_MROUTE — the same message shape, ip6mr_fill_mroute), read
// off the event loop on the poll hub's thread (poll-hub.ts; rtnetlink-monitor-handler.ts says
// why it forwards raw bytes) and decoded here with the same codecs as the dumps.
//
// What the kernel sends on RTNLGRP_IPV4_MROUTE (Linux 6.18, observed; test/kernel pins most): one
// message per change, built like a dump reply (rtm_family RTNL_FAMILY_IPMR, RTA_TABLE, RTA_SRC,
// RTA_DST, RTA_IIF, RTA_MULTIPATH, RTA_MFC_STATS):
//   RTM_NEWROUTE  MRT_ADD_MFC from any socket, also when it replaces an existing (S,G) in
//                 place; a NOCACHE upcall's unresolved entry (RTNH_F_UNRESOLVED, no iif/oifs);
//                 resolving that entry with MRT_ADD_MFC sends just the new entry (no delete of
//                 the unresolved one first)
//   RTM_DELROUTE  MRT_DEL_MFC from any socket; every entry removed by MRT_DONE / close of the
//                 MRT_INIT socket (VIFs go first, so these carry iifIndex 0 and no oifs) or by
//                 MRT_FLUSH; expiry of an unresolved entry (after 10 s)
// As in dumps, only oifs whose VIF exists are listed, by ifindex, and RTA_IIF is missing
// (iifIndex 0) once the input VIF is gone. Adding or deleting a VIF sends no MFC event (and no
// visible link event) even though entries start or stop using it.

import { PollHubReader } from "./poll-hub-reader.js";
import {
  type LinkInfo,
  decodeLinkMessage,
  forEachNetlinkMessage,
  type NetlinkMfcEntry,
  decodeMfc6Message,
  decodeMfcMessage,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTNLGRP_IPV4_MROUTE,
  RTNLGRP_IPV6_MROUTE,
  RTNLGRP_LINK,
} from "../abi/index.js";
import type { MonitorHandlerData, MonitorHandlerMessage, OwnMfcUpdatesFilter } from "./rtnetlink-monitor-handler.js";
import { workerModuleUrl } from "./worker-module.js";

export type { LinkInfo } from "../abi/index.js";
export type { OwnMfcUpdatesFilter } from "./rtnetlink-monitor-handler.js";

export type RtnetlinkEvent =
  /** RTM_NEWLINK: a new link, a flags change (up/down, carrier) or a rename (same ifindex). */
  | { kind: "link-new"; link: LinkInfo }
  /** RTM_DELLINK: the link is gone (deleted, or moved to another namespace). */
  | { kind: "link-del"; link: LinkInfo }
  /**
   * RTM_NEWROUTE / RTM_DELROUTE of an IPv4 or IPv6 MFC entry: `family`, `table`, `source`,
   * `group`, `iifIndex`, `oifs` (ifindex → TTL threshold), plus `unresolved`, `static` and the
   * counters at the time of the change (for a delete: the final counters).
   */
  | ({ kind: "mroute-new" | "mroute-del"; family: "ipv4" | "ipv6" } & NetlinkMfcEntry)
  /**
   * The kernel dropped notifications (receive queue full): resync from listLinks / dumps. The
   * kernel reports ENOBUFS before the messages still queued, so events from before the loss
   * may follow this one: apply them idempotently (new = upsert, del = remove) after the resync.
   */
  | { kind: "overrun" };

export interface RtnetlinkMonitorOptions {
  /** Network namespace file, e.g. /run/netns/NAME; default: this process's namespace. */
  netns?: string;
  /**
   * Called on the event loop for each event, in kernel order. If it throws, the error goes to
   * onError when given, else it is thrown as an uncaught exception.
   */
  onEvent: (e: RtnetlinkEvent) => void;
  /**
   * A failure after start() resolved (KernelError from its poll/recv); the monitor
   * has stopped. Without onError such an error is thrown as an uncaught exception, like an
   * 'error' event nobody listens to.
   */
  onError?: (err: Error) => void;
  /**
   * Receive buffer requested with SO_RCVBUFFORCE (falls back to SO_RCVBUF, capped by
   * net.core.rmem_max). Default 8 MiB, which the kernel doubles to 16 MiB of accounting: each
   * MFC notification is charged its skb truesize, so a burst from a bulk apply of a large table
   * fits even if the worker did not read at all (how many: README "Measured figures in the
   * code"). Memory is only used while events are queued.
   */
  rcvbufBytes?: number;
  /**
   * Drop MFC updates the MRT_INIT owner made itself (rtm_protocol RTPROT_MROUTED): the owner
   * knows what it wrote, and a 100k-route apply would otherwise cost 100k wakeups, recvs and
   * decodes. A socket filter drops them in the kernel (the worker does, if it cannot be attached). Entries changed by any other socket are RTPROT_STATIC and still
   * reported, as are all deletions. Default false.
   */
  dropOwnMfcUpdates?: boolean;
}

const HANDLER = workerModuleUrl("rtnetlink-monitor-handler", import.meta.url);
const GROUPS = (1 << (RTNLGRP_LINK - 1)) | (1 << (RTNLGRP_IPV4_MROUTE - 1)) | (1 << (RTNLGRP_IPV6_MROUTE - 1));
export class RtnetlinkMonitor extends PollHubReader<MonitorHandlerMessage> {
  readonly #onEvent: (e: RtnetlinkEvent) => void;

  private constructor(opts: RtnetlinkMonitorOptions) {
    super(opts.onError);
    this.#onEvent = opts.onEvent;
  }

  /**
   * Opens the socket on the poll hub's thread; resolves once it is bound to the groups and
   * polled, so every change made after that is reported. Rejects with KernelError if the namespace cannot be entered or the
   * socket cannot be set up (then nothing is left running).
   */
  static async start(options: RtnetlinkMonitorOptions): Promise<RtnetlinkMonitor> {
    const data: MonitorHandlerData = {
      groups: GROUPS,
      rcvbufBytes: options.rcvbufBytes ?? 8 * 1024 * 1024,
      dropOwnMfcUpdates: options.dropOwnMfcUpdates ?? false,
    };
    if (!Number.isInteger(data.rcvbufBytes) || data.rcvbufBytes <= 0 || data.rcvbufBytes > 0x3fffffff) {
      throw new RangeError(`rcvbufBytes must be a positive integer, got ${data.rcvbufBytes}`);
    }
    const monitor = new RtnetlinkMonitor(options);
    await monitor.join({ name: "rtnetlink monitor", handler: HANDLER, data, netns: options.netns });
    return monitor;
  }

  /** Where dropOwnMfcUpdates takes effect ("kernel" unless SO_ATTACH_FILTER failed). */
  get ownMfcUpdatesFilter(): OwnMfcUpdatesFilter {
    const ready = this.member.readyMessage;
    return ready?.type === "ready" ? ready.ownFilter : "none";
  }

  #emit(e: RtnetlinkEvent): void {
    if (!this.member.stopped) this.deliver(this.#onEvent, e);
  }

  protected override onMessage(m: MonitorHandlerMessage): void {
    switch (m.type) {
      case "data":
        this.#decode(Buffer.from(m.bytes));
        break;
      case "overrun":
        this.#emit({ kind: "overrun" });
        break;
      default:
        break;
    }
  }

  #decode(buf: Buffer): void {
    forEachNetlinkMessage(buf, buf.length, (type, _flags, _seq, start, end) => {
      if (this.member.stopped) return false;
      switch (type) {
        case RTM_NEWLINK:
        case RTM_DELLINK: {
          const link = decodeLinkMessage(buf, start, end);
          if (link) this.#emit({ kind: type === RTM_NEWLINK ? "link-new" : "link-del", link });
          break;
        }
        case RTM_NEWROUTE:
        case RTM_DELROUTE: {
          const kind = type === RTM_NEWROUTE ? "mroute-new" : "mroute-del";
          const entry = decodeMfcMessage(buf, start, end);
          if (entry) this.#emit({ kind, family: "ipv4", ...entry });
          else {
            const entry6 = decodeMfc6Message(buf, start, end);
            if (entry6) this.#emit({ kind, family: "ipv6", ...entry6 });
          }
          break;
        }
        // NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE: nothing to report on a notification socket.
      }
      return true;
    });
  }
}

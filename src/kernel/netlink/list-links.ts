// The links of a network namespace from one RTM_GETLINK dump: the snapshot a consumer of
// RtnetlinkMonitor's link events starts from (and resyncs from after an "overrun").

import {
  type LinkInfo,
  decodeLinkMessage,
  writeU16,
  writeU32,
  IFINFOMSG_SIZE,
  IFLA_EXT_MASK,
  RTEXT_FILTER_SKIP_STATS,
  RTM_GETLINK,
  RTM_NEWLINK,
} from "../abi/index.js";
import { NetlinkRouteSocket } from "./netlink-route-socket.js";

/**
 * Every link of `netns` (a path such as /run/netns/NAME; default: the calling thread's
 * namespace), in kernel (ifindex) order. Synchronous: a dump is answered at once.
 */
export function listLinks(netns?: string): LinkInfo[] {
  const sock = NetlinkRouteSocket.open(netns);
  try {
    // ifinfomsg all zero (AF_UNSPEC, no filter) + IFLA_EXT_MASK: skip the per-link statistics,
    // which would be most of each reply.
    const body = Buffer.alloc(IFINFOMSG_SIZE + 8);
    writeU16(body, IFINFOMSG_SIZE, 8);
    writeU16(body, IFINFOMSG_SIZE + 2, IFLA_EXT_MASK);
    writeU32(body, IFINFOMSG_SIZE + 4, RTEXT_FILTER_SKIP_STATS);
    let links: LinkInfo[] = [];
    sock.dump(
      RTM_GETLINK,
      body,
      (type, buf, start, end) => {
        if (type !== RTM_NEWLINK) return;
        const link = decodeLinkMessage(buf, start, end);
        if (link) links.push(link);
      },
      () => (links = []),
    );
    return links;
  } finally {
    sock.close();
  }
}

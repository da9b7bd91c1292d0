// Decoder of links in rtnetlink form (struct ifinfomsg + attributes), shared by the
// RTM_GETLINK dump (listLinks) and the monitor's RTM_NEWLINK / RTM_DELLINK notifications.

import { forEachNetlinkAttribute, readI32, readU32 } from "./netlink-messages.js";
import {
  AF_UNSPEC,
  IFF_LOWER_UP,
  IFF_MULTICAST,
  IFF_RUNNING,
  IFF_UP,
  IFINFOMSG_SIZE,
  IFLA_IFNAME,
} from "./rtnetlink-constants.js";

/** A network interface as rtnetlink reports it. */
export interface LinkInfo {
  ifindex: number;
  name: string;
  /** IFF_UP: administratively up. */
  up: boolean;
  /** IFF_RUNNING or IFF_LOWER_UP: has carrier (a veth only when both ends are up). */
  running: boolean;
  /** IFF_MULTICAST. */
  multicast: boolean;
  /** All IFF_* bits of ifi_flags. */
  flags: number;
}

// ifinfomsg field offsets.
const IFI_FAMILY = 0;
const IFI_INDEX = 4;
const IFI_FLAGS = 8;

/**
 * Decodes the payload buf[start, end) of an RTM_NEWLINK / RTM_DELLINK message; undefined for
 * anything but a plain link message. In particular the bridge module sends RTM_NEWLINK and
 * RTM_DELLINK with ifi_family AF_BRIDGE to the same group when a port joins or leaves a bridge:
 * those are not link creations or deletions and are ignored here.
 */
export function decodeLinkMessage(buf: Buffer, start: number, end: number): LinkInfo | undefined {
  if (end - start < IFINFOMSG_SIZE || buf[start + IFI_FAMILY] !== AF_UNSPEC) return undefined;
  const flags = readU32(buf, start + IFI_FLAGS);
  let name = "";
  forEachNetlinkAttribute(buf, start + IFINFOMSG_SIZE, end, (type, p, pend) => {
    if (type !== IFLA_IFNAME) return;
    const nul = buf.indexOf(0, p);
    name = buf.toString("utf8", p, nul < 0 || nul > pend ? pend : nul);
  });
  return {
    ifindex: readI32(buf, start + IFI_INDEX),
    name,
    up: (flags & IFF_UP) !== 0,
    running: (flags & (IFF_RUNNING | IFF_LOWER_UP)) !== 0,
    multicast: (flags & IFF_MULTICAST) !== 0,
    flags,
  };
}

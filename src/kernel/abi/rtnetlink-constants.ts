// Numbers of the netlink / rtnetlink protocol that mfcd uses (linux/netlink.h,
// linux/rtnetlink.h, linux/if_link.h, linux/if.h). Kept apart from mroute-constants.ts: these
// describe the generic routing-socket protocol, not the multicast routing API.

// ---- netlink (linux/netlink.h) --------------------------------------------------------------
export const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
/** Set on a dump part when the dumped object set changed during the dump: start over. */
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;

export const SOL_NETLINK = 270;
/**
 * Makes the kernel validate dump requests strictly and honour filters in them (e.g. RTA_TABLE
 * on an RTNL_FAMILY_IPMR dump, so only that table is walked).
 */
export const NETLINK_GET_STRICT_CHK = 12;

/** sizeof(struct sockaddr_nl): family u16, pad u16, pid u32, groups u32. */
export const SOCKADDR_NL_SIZE = 12;

// ---- rtnetlink message types and groups (linux/rtnetlink.h) ---------------------------------
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

/** Multicast groups (numbers; the bind() bitmask uses bit group-1). */
export const RTNLGRP_LINK = 1;
export const RTNLGRP_IPV4_MROUTE = 6;
export const RTNLGRP_IPV6_MROUTE = 10;

/** rtm_family of multicast routes (defined with the other mroute constants). */
export { RTNL_FAMILY_IP6MR, RTNL_FAMILY_IPMR } from "./mroute-constants.js";
export const AF_UNSPEC = 0;

/** sizeof(struct rtmsg) and sizeof(struct ifinfomsg). */
export const RTMSG_SIZE = 12;
export const IFINFOMSG_SIZE = 16;

/** rtm_flags: an MFC entry still waiting for its route (queued packets after an upcall). */
export const RTNH_F_UNRESOLVED = 0x20;
/** rtm_protocol of an MFC entry: added by the MRT_INIT socket, or by another socket. */
export const RTPROT_STATIC = 4;
export const RTPROT_MROUTED = 17;

// ---- route attributes (enum rtattr_type_t) --------------------------------------------------
export const RTA_DST = 1;
export const RTA_SRC = 2;
export const RTA_IIF = 3;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;
export const RTA_MFC_STATS = 17;

// ---- link attributes and flags (linux/if_link.h, linux/if.h) --------------------------------
export const IFLA_IFNAME = 3;
export const IFLA_EXT_MASK = 29;
/** IFLA_EXT_MASK bit: leave the (large) statistics out of RTM_GETLINK dump replies. */
export const RTEXT_FILTER_SKIP_STATS = 1 << 3;

export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;
export const IFF_MULTICAST = 0x1000;
export const IFF_LOWER_UP = 0x10000;

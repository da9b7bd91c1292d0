// Numbers of the IPv4 multicast routing API (linux/mroute.h, linux/sockios.h, linux/if.h).
// Measured on Linux 6.18 x86_64; see /work/shared/docs/kernel-facts.md.

// setsockopt(IPPROTO_IP, MRT_*) option names.
export const MRT_INIT = 200;
export const MRT_DONE = 201;
export const MRT_ADD_VIF = 202;
export const MRT_DEL_VIF = 203;
export const MRT_ADD_MFC = 204;
export const MRT_DEL_MFC = 205;
export const MRT_VERSION = 206;
export const MRT_ASSERT = 207;
export const MRT_TABLE = 209;
export const MRT_FLUSH = 212;

/** MRT_FLUSH flags. */
export const MRT_FLUSH_MFC = 1;
export const MRT_FLUSH_MFC_STATIC = 2;
export const MRT_FLUSH_VIFS = 4;
export const MRT_FLUSH_VIFS_STATIC = 8;

/** vifctl.vifc_flags: vifc_lcl_ifindex instead of vifc_lcl_addr selects the device. */
export const VIFF_USE_IFINDEX = 0x8;
/** Shown in /proc/net/ip_mr_vif for VIFs added by a socket that does not own MRT_INIT. */
export const VIFF_STATIC = 0x8000;

/** The kernel's default multicast routing table id (RT_TABLE_DEFAULT); mfcd calls it table 0. */
export const RT_TABLE_DEFAULT = 253;

// ioctl requests. The mroute ones are SIOCPROTOPRIVATE + 0/1 and act on the socket's table.
export const SIOCGETVIFCNT = 0x89e0;
export const SIOCGETSGCNT = 0x89e1;
export const SIOCGIFNAME = 0x8910;
export const SIOCGIFINDEX = 0x8933;

/** Interface name buffer size including the NUL: names are at most 15 bytes. */
export const IFNAMSIZ = 16;

/** igmpmsg.im_msgtype of upcalls read from the MRT_INIT socket. */
export const IGMPMSG_NOCACHE = 1;
export const IGMPMSG_WRONGVIF = 2;
export const IGMPMSG_WHOLEPKT = 3;
export const IGMPMSG_WRVIFWHOLE = 4;

/** rtnetlink family of multicast routes (RTM_GETROUTE on any table). */
export const RTNL_FAMILY_IPMR = 128;

// ---- IPv6 (linux/mroute6.h, net/ipv6/ip6mr.c) ----------------------------------------------
// setsockopt(IPPROTO_IPV6, MRT6_*) on a raw ICMPv6 socket: the same numbers as MRT_*.
export const MRT6_INIT = 200;
export const MRT6_DONE = 201;
export const MRT6_ADD_MIF = 202;
export const MRT6_DEL_MIF = 203;
export const MRT6_ADD_MFC = 204;
export const MRT6_DEL_MFC = 205;
export const MRT6_VERSION = 206;
export const MRT6_ASSERT = 207;
export const MRT6_TABLE = 209;
export const MRT6_FLUSH = 212;

/** MRT6_FLUSH flags. */
export const MRT6_FLUSH_MFC = 1;
export const MRT6_FLUSH_MFC_STATIC = 2;
export const MRT6_FLUSH_MIFS = 4;
export const MRT6_FLUSH_MIFS_STATIC = 8;

/** MIF slots per table (MAXMIFS); index or parent ≥ MAXMIFS fails with ENFILE. */
export const MAXMIFS = 32;

/**
 * Kernel id of the default IPv6 multicast routing table: RT6_TABLE_DFLT, which is RT_TABLE_MAIN
 * (254) on kernels with IPv6 multiple tables, unlike IPv4's RT_TABLE_DEFAULT (253).
 */
export const RT6_TABLE_DFLT = 254;

// ioctl requests on the MRT6_INIT socket (SIOCPROTOPRIVATE + 0/1, as for IPv4).
export const SIOCGETMIFCNT_IN6 = 0x89e0;
export const SIOCGETSGCNT_IN6 = 0x89e1;

/** mrt6msg.im6_msgtype of upcalls read from the MRT6_INIT socket. */
export const MRT6MSG_NOCACHE = 1;
export const MRT6MSG_WRONGMIF = 2;
export const MRT6MSG_WHOLEPKT = 3;

/** rtnetlink family of IPv6 multicast routes. */
export const RTNL_FAMILY_IP6MR = 129;

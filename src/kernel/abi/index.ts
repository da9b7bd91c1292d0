// The kernel's binary interface as pure data: the numbers of linux/mroute.h, mroute6.h and
// rtnetlink, the struct codecs of both families (explicit offsets, LP64), netlink framing and the
// decoders of MFC and link messages. Pure Buffer code, no koffi: unit-testable anywhere, and what
// src/shared may import (mfcctl's bundle loads no native code).
export * from "./mroute-constants.js";
export {
  IFINFOMSG_SIZE,
  IFLA_EXT_MASK,
  NETLINK_GET_STRICT_CHK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  RTA_DST,
  RTA_IIF,
  RTA_MULTIPATH,
  RTA_SRC,
  RTA_TABLE,
  RTEXT_FILTER_SKIP_STATS,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTMSG_SIZE,
  RTNL_FAMILY_IP6MR,
  RTNL_FAMILY_IPMR,
  RTNLGRP_IPV4_MROUTE,
  RTNLGRP_IPV6_MROUTE,
  RTNLGRP_LINK,
  RTPROT_MROUTED,
  SOCKADDR_NL_SIZE,
  SOL_NETLINK,
} from "./rtnetlink-constants.js";
export {
  decodeSgReq,
  decodeUpcall,
  decodeVifReq,
  encodeMfcctl,
  encodeSgReq,
  encodeVifctl,
  encodeVifReq,
  type MrouteStructs,
  type UpcallLayout,
} from "./mroute-struct-codec.js";
export { IGMPMSG, IGMPMSG_SIZE, IPV4_STRUCTS } from "./mroute-structs.js";
export { encodeIcmp6FilterBlockAll, IPV6_STRUCTS, MRT6MSG, MRT6MSG_SIZE } from "./mroute6-structs.js";
export { decodeIfreqIndex, decodeIfreqName, encodeIfreqIndex, encodeIfreqName, ifnameLength, IFREQ_SIZE } from "./ifreq.js";
export {
  forEachNetlinkAttribute,
  forEachNetlinkMessage,
  readI32,
  readU16,
  readU32,
  writeU16,
  writeU32,
} from "./netlink-messages.js";
export {
  decodeMfc6Message,
  decodeMfcMessage,
  locateMfcStats,
  type MfcStatsAt,
  type NetlinkMfcEntry,
} from "./netlink-mfc-codec.js";
export { decodeLinkMessage, type LinkInfo } from "./netlink-link-codec.js";
export { decodeIpmrLinkMessage, type IpmrVif } from "./netlink-ipmr-vif-codec.js";
export { BPF_RET_K, encodeSockFilter } from "./sock-filter.js";

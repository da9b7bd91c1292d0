// Public surface of the kernel layer: the MRT_INIT socket (a KernelPort), its error type, the
// /proc parsers (also used by tests on `ip netns exec NS cat /proc/net/ip_mr_*`), rtnetlink
// (MFC dumps of any table, link listing, change notifications), and the struct codecs and
// constants for code that talks to the socket directly (upcall readers).
export { KernelError } from "./kernel-error.js";
export { FOREIGN_VIF_BASE, MrouteFamilySocket, type MrouteOpenOptions } from "./mroute-family-socket.js";
export type { MrouteCodec, MrouteFamily } from "./mroute-family.js";
export { IPV4_MROUTE, MrouteSocket, type MrouteSocketOptions } from "./mroute-socket.js";
export { MfcNetlinkDumper, type MfcDumpOptions } from "./mfc-netlink-dump.js";
export { type NetlinkMfcEntry, decodeMfcMessage } from "./netlink-mfc-codec.js";
export { type LinkInfo, decodeLinkMessage } from "./netlink-link-codec.js";
export { listLinks } from "./list-links.js";
export { RtnetlinkMonitor, type RtnetlinkEvent, type RtnetlinkMonitorOptions } from "./rtnetlink-monitor.js";
export { inNetns } from "./in-netns.js";
export { parseIpMrCache, parseIpMrVif, type ProcMfcEntry, type ProcVif } from "./proc-mroute.js";
export { IGMPMSG_SIZE, type IgmpMsg, decodeIgmpmsg } from "./mroute-structs.js";
export * from "./mroute-constants.js";
// IPv6: the MRT6_INIT socket, its rtnetlink dump and /proc parsers, upcall decoder, address text.
export { IPV6_MROUTE, Ipv6ThresholdError, Mroute6Socket, type Mroute6SocketOptions } from "./mroute6-socket.js";
export { type NetlinkMfc6Entry, decodeMfc6Message } from "./netlink-mfc-codec.js";
export { parseIp6MrCache, parseIp6MrVif, type ProcMfc6Entry, type ProcMif } from "./proc-mroute6.js";
export { MRT6MSG_SIZE, type Mrt6Msg, decodeMrt6msg } from "./mroute6-structs.js";
// What this kernel offers (multicast routing per family, tables, nft, MFC dumps) and the
// messages built from it.
export {
  type KernelCapabilities,
  type KernelCapability,
  type KernelCapabilityName,
  type ProbeOptions,
  capability,
  hasCapability,
  probeKernelCapabilities,
  withNftCapability,
} from "./kernel-capabilities.js";
export {
  CAPABILITY_OPTIONS,
  capabilitiesForTable,
  missingForTable,
  noRoutingMessage,
  probeFailureDetail,
} from "./kernel-requirements.js";

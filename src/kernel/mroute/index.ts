// The multicast routing sockets: one implementation for both families (MrouteFamilySocket,
// driven by a family descriptor), IPv4's MrouteSocket and IPv6's Mroute6Socket, and the parsers
// of the /proc/net multicast routing files.
export { FOREIGN_VIF_BASE, MrouteFamilySocket } from "./mroute-family-socket.js";
export { MrouteSocket } from "./mroute-socket.js";
export { IPV6_MROUTE, Ipv6ThresholdError, Mroute6Socket } from "./mroute6-socket.js";
export { parseIpMrCache, parseIpMrVif, type ProcMfcEntry, type ProcVif } from "./proc-mroute.js";
export { parseIp6MrCache, parseIp6MrVif } from "./proc-mroute6.js";
export { hasStaticVifs, ipv4TablesWithStaticVifs } from "./static-writer.js";

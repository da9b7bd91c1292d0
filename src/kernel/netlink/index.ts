// NETLINK_ROUTE requests on the calling thread: the socket, MFC dumps of any table (and IPv4 (S,G)
// counters from one dump), link listing, `ip route get` / address lookups for Diagnose, and
// `ip mrule` (multicast routing policy rules).
export { NetlinkRouteSocket } from "./netlink-route-socket.js";
export { MfcNetlinkDumper } from "./mfc-netlink-dump.js";
export { Ipv4SgCounters } from "./ipv4-sg-counters.js";
export { listLinks } from "./list-links.js";
export { localAddresses, reversePathOk } from "./route-lookup.js";
export { addMrule, delMrule, type Mrule } from "./mrule.js";

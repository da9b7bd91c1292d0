// Public surface of the kernel layer: the MRT_INIT socket (a KernelPort), its error type, the
// /proc parsers (also used by tests on `ip netns exec NS cat /proc/net/ip_mr_*`), and the
// struct codecs and constants for code that talks to the socket directly (upcall readers).
export { KernelError } from "./kernel-error.js";
export { MrouteSocket, type MrouteSocketOptions } from "./mroute-socket.js";
export { inNetns } from "./in-netns.js";
export { parseIpMrCache, parseIpMrVif, type ProcMfcEntry, type ProcVif } from "./proc-mroute.js";
export {
  IGMPMSG_SIZE,
  type IgmpMsg,
  bufferToIpv4,
  decodeIgmpmsg,
  ipv4ToBuffer,
} from "./mroute-structs.js";
export * from "./mroute-constants.js";

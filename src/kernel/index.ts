// Public surface of the kernel layer, the one entry point for the rest of src/ (src/shared, which
// mfcctl bundles too, imports only the pure ./abi/index.ts): the MRT_INIT sockets (KernelPorts),
// their error type, the /proc parsers (also used by tests on `ip netns exec NS cat
// /proc/net/ip_mr_*`), rtnetlink (MFC dumps of any table, link listing, change notifications,
// route lookups, mrules), the upcall readers, nftables, Diagnose's evidence and what this kernel
// offers. Each subfolder's index.ts is its entry point; see README "Architecture".
export { KernelError, inNetns } from "./ffi/index.js";
export { MrouteSocket, parseIpMrVif } from "./mroute/index.js";
export { addMrule, delMrule, listLinks, localAddresses, reversePathOk, type Mrule } from "./netlink/index.js";
// The constants, struct codecs and netlink decoders, for code that talks to the sockets directly
// (upcall readers, tests).
export * from "./abi/index.js";
export { RtnetlinkMonitor, UpcallReader, UpcallRing, type Upcall } from "./poll/index.js";
export { NftRescueTable, NftTrace, type NftAvailability, type NftStartupProbe } from "./nft/index.js";
// IPv6: the MRT6_INIT socket and its /proc parsers.
export { hasStaticVifs, ipv4TablesWithStaticVifs } from "./mroute/index.js";
export { IPV6_MROUTE, Mroute6Socket, parseIp6MrVif } from "./mroute/index.js";
// What this kernel offers (multicast routing per family, tables, nft, MFC dumps), the messages
// built from it, what this process holds, and the host evidence Diagnose reads.
export {
  type KernelCapabilities,
  hasCapability,
  probeKernelCapabilities,
  readNetstat,
  rpFilter,
  tuneMalloc,
  withNftCapability,
} from "./system/index.js";
export {
  missingCapabilities,
  missingForTable,
  neededLinuxCapability,
  noRoutingMessage,
  optionForSyscall,
  unavailableSummary,
} from "./requirements/index.js";
// Handing the MRT_INIT sockets to the next mfcd: systemd's fd store, the in-place re-exec.
export { listenFds, notifySocket, reexec, sdNotify } from "./handoff/index.js";

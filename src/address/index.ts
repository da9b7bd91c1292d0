// Pure address code of both families, free of kernel, engine and server: IPv4/IPv6 text and
// bytes, multicast ranges, and the template patterns ("" | address | address/len).
export type { AddressFamily } from "./address-family.js";
export {
  bufferToIpv4,
  ipv4ToBuffer,
  isIpv4LinkLocalMulticast,
  isIpv4Multicast,
  isIpv4UnicastSource,
  parseIpv4,
} from "./ipv4.js";
export {
  bufferToIpv6,
  canonicalIpv6,
  ipv6MulticastScope,
  ipv6ToBuffer,
  isCanonicalIpv6,
  isIpv6Multicast,
  parseIpv6,
} from "./ipv6.js";
export { formatPattern, isTemplateKey, parsePattern, patternContains } from "./address-pattern.js";

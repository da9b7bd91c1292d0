// The layout of the IPv4 multicast routing structs (linux/mroute.h; LP64), as data for the one
// codec of both families (mroute-struct-codec.ts). What only IPv4 has: addresses are a bare
// in_addr, vifctl names the device in its lcl_addr union (VIFF_USE_IFINDEX), mfcctl carries a TTL
// threshold per VIF, and igmpmsg overlays an IP header. Pure: no koffi.

import { VIFF_USE_IFINDEX } from "./mroute-constants.js";
import type { MrouteStructs } from "./mroute-struct-codec.js";
import { SIOC_VIF_COUNT, checkRange, writeI32 } from "./struct-fields.js";
import { bufferToIpv4, ipv4ToBuffer } from "../../address/index.js";

export const VIFCTL_SIZE = 16;
export const MFCCTL_SIZE = 60;
export const SIOC_SG_REQ_SIZE = 32;
export const IGMPMSG_SIZE = 20;

/** struct vifctl */
export const VIFCTL = { vifi: 0, flags: 2, threshold: 3, rateLimit: 4, lclIfindex: 8, rmtAddr: 12 } as const;
/** struct mfcctl: ttls[32] then 2 bytes of padding before the (unused on input) counters. */
export const MFCCTL = {
  origin: 0,
  group: 4,
  parent: 8,
  ttls: 10,
  pktCnt: 44,
  byteCnt: 48,
  wrongIf: 52,
  expire: 56,
} as const;
/** struct sioc_sg_req: counters are `unsigned long`. */
export const SIOC_SG_REQ = { src: 0, grp: 4, pktcnt: 8, bytecnt: 16, wrongIf: 24 } as const;
/** struct sioc_vif_req: vifi is padded to 8 (the layout of sioc_mif_req6 too). */
export const SIOC_VIF_REQ = { vifi: SIOC_VIF_COUNT.index, icount: 8, ocount: 16, ibytes: 24, obytes: 32 } as const;
/** struct igmpmsg: two unused u32, then type, mbz, vif (low byte), vif_hi, src, dst. */
export const IGMPMSG = { msgtype: 8, mbz: 9, vif: 10, vifHi: 11, src: 12, dst: 16 } as const;

/** mfcctl's ttls[32]: the threshold of each oif VIF; every other slot stays 0 (not an oif). */
function writeTtls(ttls: ReadonlyMap<number, number>, out: Buffer): void {
  for (const [vif, ttl] of ttls) {
    checkRange("oif vif", vif, 31);
    checkRange("oif ttl", ttl, 255);
    out[MFCCTL.ttls + vif] = ttl;
  }
}

/** vifctl's lcl_ifindex (an int in the lcl_addr union, read with VIFF_USE_IFINDEX). */
const LCL_IFINDEX = { at: VIFCTL.lclIfindex, name: "ifindex", max: 0x7fffffff, write: writeI32 };

export const IPV4_STRUCTS: MrouteStructs = {
  writeAddress: ipv4ToBuffer,
  vifctl: { size: VIFCTL_SIZE, slot: "vifi", ...VIFCTL, defaultFlags: VIFF_USE_IFINDEX, device: LCL_IFINDEX },
  mfcctl: { size: MFCCTL_SIZE, ...MFCCTL, writeOifs: writeTtls },
  sgReq: { size: SIOC_SG_REQ_SIZE, ...SIOC_SG_REQ },
  // Real IGMP packets arrive on the socket too: their byte 9 (the IP header's protocol, 2) is
  // where an upcall has im_mbz = 0.
  upcall: { size: IGMPMSG_SIZE, ...IGMPMSG, readVif: (buf) => (buf[IGMPMSG.vif] ?? 0) | ((buf[IGMPMSG.vifHi] ?? 0) << 8), readAddress: bufferToIpv4 },
};

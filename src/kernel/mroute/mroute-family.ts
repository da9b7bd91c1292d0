// What makes the multicast routing socket of one address family different from the other's,
// as data: the socket (domain, protocol), the setsockopt level, the struct layouts, the counter
// ioctls, the /proc VIF file and the kernel id of the default table, plus the names errors use
// ("MRT6_ADD_MIF"); the option numbers are the same in both families (MRT_OPTIONS).
// MrouteFamilySocket is the one implementation driven by it; mroute-socket.ts and
// mroute6-socket.ts hold the two descriptors and what truly differs.
import type { AddressFamily } from "../../address/index.js";
import {
  MRT_ADD_MFC,
  MRT_ADD_VIF,
  MRT_ASSERT,
  MRT_DEL_MFC,
  MRT_DEL_VIF,
  MRT_DONE,
  MRT_FLUSH,
  MRT_INIT,
  MRT_TABLE,
  type MrouteStructs,
} from "../abi/index.js";
import type { ProcVif } from "./proc-mroute.js";

/**
 * The MRT(6)_* option numbers, one table for both families: linux/mroute6.h numbers MRT6_* from
 * MRT6_BASE, which is 200 like MRT_BASE, in the same order (uapi, so it cannot change). Only their
 * names differ (MrouteFamily.optionPrefix, for errors); the level does (MrouteFamily.level).
 */
export const MRT_OPTIONS = {
  init: MRT_INIT,
  done: MRT_DONE,
  addVif: MRT_ADD_VIF,
  delVif: MRT_DEL_VIF,
  addMfc: MRT_ADD_MFC,
  delMfc: MRT_DEL_MFC,
  assert: MRT_ASSERT,
  table: MRT_TABLE,
  flush: MRT_FLUSH,
} as const;

/** An ioctl request and its name in error messages. */
export interface NamedRequest {
  readonly request: number;
  readonly name: string;
}

export interface MrouteFamily<F extends AddressFamily = AddressFamily> {
  readonly family: F;
  /** socket(domain, SOCK_RAW, protocol). */
  readonly domain: number;
  readonly protocol: number;
  /** setsockopt level of the MRT(6)_* options. */
  readonly level: number;
  /** Option name prefix in error messages: "MRT" or "MRT6". */
  readonly optionPrefix: string;
  /** What the kernel calls an interface slot: "VIF" or "MIF". */
  readonly slotName: string;
  /** The MRT(6)_FLUSH flag that removes this socket's VIFs. */
  readonly flushVifs: number;
  /** Kernel id of the table mfcd calls 0 (RT_TABLE_DEFAULT 253, RT6_TABLE_DFLT 254). */
  readonly defaultTable: number;
  /** SIOCGETSGCNT / SIOCGETSGCNT_IN6 and SIOCGETVIFCNT / SIOCGETMIFCNT_IN6. */
  readonly sgCountIoctl: NamedRequest;
  readonly vifCountIoctl: NamedRequest;
  /** /proc/net file listing the default table's VIFs, and its parser. */
  readonly procVifFile: string;
  parseProcVifs(input: Uint8Array): ProcVif[];
  /** Initial size of the /proc read buffer (grows as needed). */
  readonly procBufferSize: number;
  /**
   * Whether the VIFs of every table (not only the default one, as /proc) can be read back: IPv4's
   * RTNL_FAMILY_IPMR link dump. Then a table's VIFs and entries are written static everywhere and
   * adopted after a restart; IPv6 has no such dump, so its other tables are not.
   */
  readonly vifsOfEveryTable: boolean;
  /** The layout of the family's structs, for the one codec (src/kernel/abi). */
  readonly structs: MrouteStructs;
}

// What makes the multicast routing socket of one address family different from the other's,
// as data: the socket (domain, protocol), the setsockopt level and option numbers, the struct
// layouts, the counter ioctls, the /proc VIF file and the kernel id of the default table, plus
// the names errors use ("MRT6_ADD_MIF"). MrouteFamilySocket is the one implementation driven by
// it; mroute-socket.ts and mroute6-socket.ts hold the two descriptors and what truly differs.

import type { AddressFamily } from "../../address/index.js";
import type { MrouteStructs } from "../abi/index.js";
import type { ProcVif } from "./proc-mroute.js";

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
  /** MRT(6)_* option numbers (the same values today, but named per family by the kernel). */
  readonly options: {
    readonly init: number;
    readonly done: number;
    readonly addVif: number;
    readonly delVif: number;
    readonly addMfc: number;
    readonly delMfc: number;
    readonly assert: number;
    readonly table: number;
    readonly flush: number;
  };
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
  /** The layout of the family's structs, for the one codec (src/kernel/abi). */
  readonly structs: MrouteStructs;
}

// The narrow interface between the route engine and one kernel multicast routing table
// (one MRT_INIT socket). Every call is synchronous: each is a single setsockopt/ioctl of a few
// microseconds, and keeping them synchronous makes every engine operation atomic with respect
// to other RPCs (no interleaving on the event loop).
//
// Errors are thrown as KernelError (src/kernel/ffi/kernel-error.ts) carrying the errno.

/** Kernel MFC counters of one (S,G) entry. */
export interface SgCounters {
  packets: bigint;
  bytes: bigint;
  wrongIf: bigint;
}

/** Kernel counters of one VIF. */
export interface VifCounters {
  inPackets: bigint;
  inBytes: bigint;
  outPackets: bigint;
  outBytes: bigint;
}

/** Counters of many (S,G) entries of one table read at once (see KernelPort.sgCountersAll). */
export interface SgCountersLookup {
  /** undefined when the table had no such (resolved) entry. */
  get(source: string, group: string): SgCounters | undefined;
}

/**
 * KernelMfcEntry.parent of an entry whose input VIF no longer exists (the kernel then omits its
 * interface). Parents of VIFs that are not this port's are GONE_INPUT_VIF + their ifindex.
 */
export const GONE_INPUT_VIF = 1000;

/** One entry of the kernel's MFC as read back from the kernel. */
export interface KernelMfcEntry {
  source: string;
  group: string;
  /** Input VIF index. */
  parent: number;
  /** Output VIF index → TTL threshold, only VIFs with a threshold in 1..254. */
  oifs: Map<number, number>;
  counters: SgCounters;
}

/** A VIF as read back from the kernel. */
export interface KernelVif {
  vif: number;
  ifindex: number;
  name: string;
}

export interface KernelPort {
  /** ifindex of an interface in mfcd's network namespace, undefined if it does not exist. */
  ifindex(name: string): number | undefined;
  /** MRT_ADD_VIF with VIFF_USE_IFINDEX. */
  addVif(vif: number, ifindex: number): void;
  /** MRT_DEL_VIF. */
  delVif(vif: number): void;
  /**
   * MRT_ADD_MFC: creates or replaces in place (counters kept). `oifs` maps VIF → TTL threshold.
   * `dynamic`: the entry ends with mfcd's socket (learned entries: re-learned after a restart);
   * otherwise it outlives mfcd where the port can (see leftoverVifs).
   */
  addMfc(source: string, group: string, parent: number, oifs: ReadonlyMap<number, number>, dynamic?: boolean): void;
  /** MRT_DEL_MFC. */
  delMfc(source: string, group: string): void;
  /** SIOCGETSGCNT; undefined when the kernel has no such entry. */
  sgCounters(source: string, group: string): SgCounters | undefined;
  /**
   * The counters of every entry of this table from one bulk read, cheaper than sgCounters()
   * per entry when most entries are wanted; optional, and undefined when this table cannot be
   * read in bulk (callers then use sgCounters).
   */
  sgCountersAll?(): SgCountersLookup | undefined;
  /** SIOCGETVIFCNT; undefined when the VIF does not exist. */
  vifCounters(vif: number): VifCounters | undefined;
  /**
   * All resolved MFC entries of this table, keyed `${source}|${group}`, or undefined when this
   * table cannot be dumped cheaply (callers then fall back to sgCounters per route).
   */
  dumpMfc(): Map<string, KernelMfcEntry> | undefined;
  /**
   * The VIFs a previous mfcd left in this table, when this port writes VIFs and entries so that
   * they outlive it (and can read them back); undefined when it cannot. See adoption.ts.
   */
  leftoverVifs?(): KernelVif[] | undefined;
  /** Take over one of leftoverVifs() (no kernel call): dumpMfc() then maps its interface to `vif`. */
  adoptVif?(vif: number, ifindex: number): void;
}

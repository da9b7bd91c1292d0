// Unicast routing evidence for diagnostics: `ip route get` (one RTM_GETROUTE request), the
// IPv4 addresses of the host (RTM_GETADDR dump), and a model of the kernel's reverse-path check
// that rp_filter applies to multicast before the MFC lookup.
//
// What the kernel does (net/ipv4/fib_frontend.c, __fib_validate_source, called for multicast
// from ip_mc_validate_source with dst = 0 and no oif): one FIB lookup for daddr = S (the
// sender), saddr = 0, iif = lo — the same lookup `ip route get S` makes — then
//   - lookup fails (no route, or an unreachable / prohibit / blackhole route): drop if
//     rp_filter > 0, counted in TcpExtIPReversePathFilter (-EXDEV);
//   - result type local: drop whatever rp_filter says (martian: the source is this host;
//     -EINVAL, not counted), unless accept_local; other non-unicast types likewise;
//   - any nexthop of the matched route on the arrival interface: accept;
//   - otherwise: drop if the arrival interface has no IPv4 address (even in loose mode) or
//     rp_filter is 1 (strict), counted; accept in loose mode (2).
// With rp_filter 0 only the martian check remains (a source that is an interface address).
// Policy routing by fwmark (src_valid_mark), uid or VRF is not modelled.

import os from "node:os";
import {
  forEachNetlinkAttribute,
  readI32,
  readU16,
  readU32,
  writeU16,
  writeU32,
  RTA_DST,
  RTA_IIF,
  RTA_MULTIPATH,
  RTA_SRC,
  RTA_TABLE,
  RTMSG_SIZE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
} from "../abi/index.js";
import { type NetlinkReply, NetlinkRouteSocket } from "./netlink-route-socket.js";
import { bufferToIpv4, ipv4ToBuffer } from "../../address/index.js";

const errnoNames = new Map<number, string>(Object.entries(os.constants.errno).map(([name, num]) => [num, name]));
const { EACCES, EHOSTUNREACH, EINVAL } = os.constants.errno;

const AF_INET = 2;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_MARK = 16;
/** rtm_flags of a request: report the table the result came from / the matched FIB entry. */
const RTM_F_LOOKUP_TABLE = 0x1000;
const RTM_F_FIB_MATCH = 0x2000;
const RTM_GETADDR = 22;
const RTM_NEWADDR = 20;
const IFADDRMSG_SIZE = 8;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_LABEL = 3;
const RTNEXTHOP_SIZE = 8;

const ROUTE_TYPES = [
  "unspec",
  "unicast",
  "local",
  "broadcast",
  "anycast",
  "multicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
  "nat",
  "xresolve",
] as const;
/** rtm_type (RTN_*) by name. */
export type RouteType = (typeof ROUTE_TYPES)[number];

export interface Nexthop {
  /** ifindex of the nexthop's device. */
  oif: number;
  gateway?: string;
  /** rtnh_hops + 1, as `ip route` prints it. */
  weight: number;
}

/** A route the kernel picked. */
export interface RouteFound {
  type: RouteType;
  /** Routing table of the result (254 main, 255 local, ...); absent for error-derived types. */
  table?: number;
  /** ifindex the packet would leave by. */
  oif?: number;
  gateway?: string;
  /** Preferred source address. */
  prefsrc?: string;
  /** Prefix of the matched route (`fibMatch`), or the queried address with dstLen 32. */
  dst?: string;
  dstLen?: number;
  /** Every nexthop of a multipath route (`fibMatch` lookups only). */
  nexthops?: Nexthop[];
  metric?: number;
  /** rtm_scope and rtm_protocol of the answer. */
  scope?: number;
  protocol?: number;
  /**
   * Set when the kernel answered with this error rather than a route: for an output lookup
   * (no iif, no source) EHOSTUNREACH, EACCES and EINVAL are what an unreachable, prohibit and
   * blackhole route produce, so `type` says which. No oif/table are known then.
   */
  errno?: string;
}

/** The kernel refused the lookup: `error` is the errno name (ENETUNREACH: no route at all). */
export interface RouteError {
  error: string;
  errno: number;
}

export type RouteLookupResult = RouteFound | RouteError;

export function isRouteError(r: RouteLookupResult): r is RouteError {
  return "error" in r;
}

export interface RouteQuery {
  destination: string;
  /** Source address (RTA_SRC); with `iif`, the source of the simulated incoming packet. */
  source?: string;
  /** ifindex: simulate a packet received on it (input route, as `ip route get ... iif DEV`). */
  iif?: number;
  /** ifindex: restrict an output lookup to this device. */
  oif?: number;
  /** fwmark of the simulated packet. */
  mark?: number;
  /**
   * Report the FIB entry that matched (`ip route get fibmatch`): its prefix and, for multipath
   * routes, every nexthop, rather than the one route the cache would use.
   */
  fibMatch?: boolean;
}

/** An IPv4 address configured on an interface. */
export interface LocalAddress {
  ifindex: number;
  address: string;
  prefixlen: number;
  /** IFA_LABEL (the interface name, or an alias such as eth0:1). */
  label?: string;
  /** ifa_scope: 0 universe, 253 link, 254 host. */
  scope: number;
}

export type RpfVerdictCode =
  /** rp_filter 0: the source is not checked (except the martian check below). */
  | "rpf-off"
  /** A nexthop of the route back to the source uses the arrival interface. */
  | "match"
  /** Loose mode: some route back to the source exists (via another interface). */
  | "loose"
  /** No usable route back to the source (none, or unreachable / prohibit / blackhole). */
  | "no-route"
  /** Strict mode: the best route back to the source leaves by another interface. */
  | "wrong-iif"
  /** The route back leaves elsewhere and the arrival interface has no IPv4 address. */
  | "iif-no-address"
  /** The source is an address of this host (martian). */
  | "local-source"
  /** The route back to the source is neither unicast nor local (e.g. broadcast). */
  | "not-unicast";

export interface RpfVerdict {
  ok: boolean;
  code: RpfVerdictCode;
  /** One sentence for humans. */
  reason: string;
  /**
   * A dropped packet increments TcpExtIPReversePathFilter (the kernel's -EXDEV). False for
   * accepted packets and for martian / non-unicast drops (-EINVAL), which count nowhere.
   */
  counted: boolean;
  /** The lookup the verdict rests on (absent for rp_filter 0 without a martian source). */
  route?: RouteLookupResult;
}

export interface ReversePathOptions {
  /** net.ipv4.conf.*.accept_local is on (max of all/iif): a local source is not martian. */
  acceptLocal?: boolean;
}

function attr(buf: Buffer, off: number, type: number, payload: Buffer | number): number {
  const len = 4 + (typeof payload === "number" ? 4 : payload.length);
  writeU16(buf, off, len);
  writeU16(buf, off + 2, type);
  if (typeof payload === "number") writeU32(buf, off + 4, payload >>> 0);
  else payload.copy(buf, off + 4);
  return off + ((len + 3) & ~3);
}

function checkIndex(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v <= 0 || v > 0x7fffffff)) {
    throw new RangeError(`${name} must be a positive ifindex, got ${v}`);
  }
}

function decodeRoute(reply: NetlinkReply): RouteFound | undefined {
  const buf = reply.payload;
  if (reply.type !== RTM_NEWROUTE || buf.length < RTMSG_SIZE || buf[0] !== AF_INET) return undefined;
  const r: RouteFound = {
    type: ROUTE_TYPES[buf[7]!] ?? "unspec",
    table: buf[4]!,
    dstLen: buf[1]!,
    scope: buf[6]!,
    protocol: buf[5]!,
  };
  forEachNetlinkAttribute(buf, RTMSG_SIZE, buf.length, (type, start, end) => {
    const len = end - start;
    switch (type) {
      case RTA_DST:
        if (len === 4) r.dst = bufferToIpv4(buf, start);
        break;
      case RTA_OIF:
        if (len === 4) r.oif = readI32(buf, start);
        break;
      case RTA_GATEWAY:
        if (len === 4) r.gateway = bufferToIpv4(buf, start);
        break;
      case RTA_PREFSRC:
        if (len === 4) r.prefsrc = bufferToIpv4(buf, start);
        break;
      case RTA_PRIORITY:
        if (len === 4) r.metric = readU32(buf, start);
        break;
      case RTA_TABLE:
        if (len === 4) r.table = readU32(buf, start);
        break;
      case RTA_MULTIPATH: {
        const hops: Nexthop[] = [];
        let off = start;
        while (off + RTNEXTHOP_SIZE <= end) {
          const hlen = readU16(buf, off);
          if (hlen < RTNEXTHOP_SIZE || off + hlen > end) break;
          const hop: Nexthop = { oif: readI32(buf, off + 4), weight: buf[off + 3]! + 1 };
          forEachNetlinkAttribute(buf, off + RTNEXTHOP_SIZE, off + hlen, (t, s, e) => {
            if (t === RTA_GATEWAY && e - s === 4) hop.gateway = bufferToIpv4(buf, s);
          });
          hops.push(hop);
          off += (hlen + 3) & ~3;
        }
        r.nexthops = hops;
        break;
      }
    }
  });
  return r;
}

/** Error answers of an output lookup that name the route type which produced them. */
const ERRNO_ROUTE_TYPE = new Map<number, RouteType>([
  [EHOSTUNREACH, "unreachable"],
  [EACCES, "prohibit"],
  [EINVAL, "blackhole"],
]);

/**
 * Route lookups, address listing and reverse-path verdicts in one network namespace, over
 * one NETLINK_ROUTE socket created at open() (requests and dumps). Synchronous: the kernel
 * answers these at once.
 */
export class RouteInspector {
  readonly #sock: NetlinkRouteSocket;

  private constructor(sock: NetlinkRouteSocket) {
    this.#sock = sock;
  }

  /** The socket in `netns` (a path such as /run/netns/NAME), default the calling thread's. */
  static open(netns?: string): RouteInspector {
    return new RouteInspector(NetlinkRouteSocket.open(netns));
  }

  get closed(): boolean {
    return this.#sock.closed;
  }

  /** Idempotent. */
  close(): void {
    this.#sock.close();
  }

  /**
   * RTM_GETROUTE for one destination, as `ip route get`. Without `iif` this is an output
   * lookup from this host; with `iif` (and usually `source`) the kernel simulates a packet
   * received on that interface, which fails (EHOSTUNREACH...) unless it would be delivered
   * or forwarded. Throws RangeError for malformed input, KernelError if a system call fails.
   */
  lookup(q: RouteQuery): RouteLookupResult {
    checkIndex("iif", q.iif);
    checkIndex("oif", q.oif);
    const body = Buffer.alloc(RTMSG_SIZE + 5 * 8);
    body[0] = AF_INET;
    body[1] = 32; // rtm_dst_len: strict checking wants 0 or 32
    let off = attr(body, RTMSG_SIZE, RTA_DST, ipv4ToBuffer(q.destination));
    if (q.source !== undefined) {
      body[2] = 32;
      off = attr(body, off, RTA_SRC, ipv4ToBuffer(q.source));
    }
    if (q.iif !== undefined) off = attr(body, off, RTA_IIF, q.iif);
    if (q.oif !== undefined) off = attr(body, off, RTA_OIF, q.oif);
    if (q.mark !== undefined) off = attr(body, off, RTA_MARK, q.mark);
    writeU32(body, 8, RTM_F_LOOKUP_TABLE | (q.fibMatch ? RTM_F_FIB_MATCH : 0));
    const reply = this.#sock.request(RTM_GETROUTE, body.subarray(0, off));
    if ("errno" in reply) {
      // 0: acknowledged without a route (never seen; a request without NLM_F_ACK gets none).
      if (reply.errno === 0) return { error: "ENODATA", errno: os.constants.errno.ENODATA };
      const errno = reply.errno;
      const name = errnoNames.get(errno) ?? `errno ${errno}`;
      const derived = q.iif === undefined && q.source === undefined ? ERRNO_ROUTE_TYPE.get(errno) : undefined;
      return derived ? { type: derived, errno: name } : { error: name, errno };
    }
    const r = decodeRoute(reply);
    if (!r) return { error: "EPROTO", errno: os.constants.errno.EPROTO };
    return r;
  }

  /** IPv4 addresses of every interface (RTM_GETADDR dump), in kernel order. */
  localAddresses(): LocalAddress[] {
    const body = Buffer.alloc(IFADDRMSG_SIZE);
    body[0] = AF_INET;
    let out: LocalAddress[] = [];
    this.#sock.dump(
      RTM_GETADDR,
      body,
      (type, buf, start, end) => {
        if (type !== RTM_NEWADDR || end - start < IFADDRMSG_SIZE || buf[start] !== AF_INET) return;
        let local: string | undefined;
        let address: string | undefined;
        let label: string | undefined;
        forEachNetlinkAttribute(buf, start + IFADDRMSG_SIZE, end, (t, s, e) => {
          if (t === IFA_LOCAL && e - s === 4) local = bufferToIpv4(buf, s);
          else if (t === IFA_ADDRESS && e - s === 4) address = bufferToIpv4(buf, s);
          else if (t === IFA_LABEL) {
            const nul = buf.indexOf(0, s);
            label = buf.toString("utf8", s, nul < 0 || nul > e ? e : nul);
          }
        });
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
        const addr = local ?? address;
        if (addr === undefined) return;
        const a: LocalAddress = { ifindex: readU32(buf, start + 4), address: addr, prefixlen: buf[start + 1]!, scope: buf[start + 3]! };
        if (label !== undefined) a.label = label;
        out.push(a);
      },
      () => (out = []),
    );
    return out;
  }

  /**
   * Would the kernel's reverse-path filter accept a multicast packet from `source` arriving
   * on interface `iifIndex` with effective rp_filter `mode` (max of conf.all and conf.<iif>,
   * see rpFilter())? 0 off, 1 strict, 2 (or more) loose. Mirrors __fib_validate_source; see
   * the top of this file.
   */
  reversePath(source: string, iifIndex: number, mode: number, opts: ReversePathOptions = {}): RpfVerdict {
    checkIndex("iifIndex", iifIndex);
    ipv4ToBuffer(source); // validates
    if (!Number.isInteger(mode) || mode < 0) throw new RangeError(`rp_filter mode must be a non-negative integer, got ${mode}`);
    const addrs = this.localAddresses();
    if (mode === 0) {
      if (!opts.acceptLocal && addrs.some((a) => a.address === source)) {
        return { ok: false, code: "local-source", counted: false, reason: `source ${source} is an address of this host (martian)` };
      }
      return { ok: true, code: "rpf-off", counted: false, reason: "rp_filter is off" };
    }
    const route = this.lookup({ destination: source, fibMatch: true });
    if (isRouteError(route) || route.errno !== undefined) {
      const what = isRouteError(route) ? `no route to ${source} (${route.error})` : `the route to ${source} is ${route.type}`;
      return { ok: false, code: "no-route", counted: true, route, reason: `${what}: reverse-path check fails` };
    }
    if (route.type === "local") {
      if (!opts.acceptLocal) {
        return { ok: false, code: "local-source", counted: false, route, reason: `source ${source} is an address of this host (martian)` };
      }
    } else if (route.type !== "unicast") {
      return { ok: false, code: "not-unicast", counted: false, route, reason: `the route to ${source} is ${route.type}, not unicast` };
    }
    const oifs = route.nexthops?.map((h) => h.oif) ?? (route.oif === undefined ? [] : [route.oif]);
    if (oifs.includes(iifIndex)) {
      return { ok: true, code: "match", counted: false, route, reason: `the route to ${source} uses the arrival interface` };
    }
    const via = oifs.length > 0 ? `ifindex ${oifs.join("/")}` : "another interface";
    if (!addrs.some((a) => a.ifindex === iifIndex)) {
      return {
        ok: false,
        code: "iif-no-address",
        counted: true,
        route,
        reason: `the route to ${source} leaves by ${via} and arrival ifindex ${iifIndex} has no IPv4 address`,
      };
    }
    if (mode === 1) {
      return {
        ok: false,
        code: "wrong-iif",
        counted: true,
        route,
        reason: `strict rp_filter: the route to ${source} leaves by ${via}, not arrival ifindex ${iifIndex}`,
      };
    }
    return { ok: true, code: "loose", counted: false, route, reason: `loose rp_filter: a route to ${source} exists (via ${via})` };
  }
}

/** One-shot RouteInspector.lookup in `netns` (default: the calling thread's namespace). */
export function routeLookup(q: RouteQuery, netns?: string): RouteLookupResult {
  const ri = RouteInspector.open(netns);
  try {
    return ri.lookup(q);
  } finally {
    ri.close();
  }
}

/** One-shot RouteInspector.localAddresses in `netns`. */
export function localAddresses(netns?: string): LocalAddress[] {
  const ri = RouteInspector.open(netns);
  try {
    return ri.localAddresses();
  } finally {
    ri.close();
  }
}

/** One-shot RouteInspector.reversePath in `netns`. */
export function reversePathOk(
  source: string,
  iifIndex: number,
  mode: number,
  opts: ReversePathOptions & { netns?: string } = {},
): RpfVerdict {
  const ri = RouteInspector.open(opts.netns);
  try {
    return ri.reversePath(source, iifIndex, mode, opts);
  } finally {
    ri.close();
  }
}

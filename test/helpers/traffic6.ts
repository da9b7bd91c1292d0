// IPv6 multicast for the namespace lab: unique-local addresses on the lab's source link, and
// the IPv6 spelling of traffic.ts's sender and receiver (the scripts serve both families).
//
//   source ns  eth0 fd00:0:K::2/64 (nodad) --- in0 fd00:0:K::1/64 (nodad)  router
//              default via fd00:0:K::1
//
// K is the lab number in hex, so two labs never share addresses; the addresses exist only
// inside the lab's namespaces. Receivers need no address of their own (they join by interface
// index; the link-local address is enough).

import type { Lab } from "./lab.js";
import { ipBatch } from "./netns.js";
import { type Receiver, type SendResult, sendMulticast, startReceiver } from "./traffic.js";

export interface Lab6Addrs {
  /** The source's IPv6 address on its eth0 (canonical text). */
  source: string;
  /** The router's IPv6 address on in0. */
  routerIn: string;
}

/** Adds the IPv6 addresses (without DAD, usable at once) and the source's default route. */
export async function addIpv6(lab: Lab): Promise<Lab6Addrs> {
  const prefix = `fd00:0:${lab.k.toString(16)}`;
  const addrs = { source: `${prefix}::2`, routerIn: `${prefix}::1` };
  await Promise.all([
    ipBatch([`addr add ${addrs.routerIn}/64 dev ${lab.routerIfaces.in} nodad`], lab.router),
    ipBatch(
      [
        `addr add ${addrs.source}/64 dev ${lab.sourceIface} nodad`,
        `route add default via ${addrs.routerIn} dev ${lab.sourceIface}`,
      ],
      lab.source,
    ),
  ]);
  return addrs;
}

/** An IPv6 receiver: the receiver of traffic.ts (one script, mcast-recv.mjs, for both families). */
export type Receiver6 = Receiver;

/** A receiver of [group]:port joined on `iface` in `ns`; resolves once it has joined. */
export function startReceiver6(ns: string, opts: { group: string; port: number; iface: string }): Promise<Receiver6> {
  return startReceiver(ns, opts);
}

export interface Send6Options {
  group: string;
  port: number;
  /** Hop limit; ≥ 2 to be forwarded by a router. */
  hops: number;
  /** Address to bind (an address of `ns`). */
  source: string;
  /** Interface to send through. */
  iface: string;
  count: number;
  firstSeq?: number;
  /** Payload bytes (default 64). */
  size?: number;
  /** Gap between datagrams (default 1 ms). */
  intervalMs?: number;
}

/**
 * Sends `count` datagrams from `ns` (mcast-send.mjs, as for IPv4) and resolves when the sender
 * has finished; rejects if any send failed.
 */
export async function sendMulticast6(ns: string, opts: Send6Options): Promise<SendResult> {
  const summary = await sendMulticast(ns, {
    group: opts.group,
    port: opts.port,
    ttl: opts.hops,
    ifaceAddr: opts.source,
    iface: opts.iface,
    count: opts.count,
    firstSeq: opts.firstSeq ?? 0,
    size: opts.size ?? 64,
    intervalMs: opts.intervalMs ?? 1,
  });
  if (summary.errors > 0) throw new Error(`IPv6 sender in ${ns}: ${summary.errors} send errors (${summary.firstError})`);
  return summary;
}

// A multicast test lab made of network namespaces:
//
//   source ns            router ns                       receiver ns i
//   eth0 10.k.0.2 ---veth--- in0   10.k.0.1
//                            out<i> 10.k.<i>.1 ---veth--- eth0 10.k.<i>.2      (i = 1..receivers)
//                            x<j>   10.k.<128+j>.1 -veth- p<j> 10.k.<128+j>.2  (in the "xtra" ns)
//
// Veth pairs are created directly inside the namespaces, so no interface ever appears in the
// host namespace, and the 10.k.0.0/16 addresses exist only inside the lab. `k` changes per lab
// in this process (1..254) so that two labs of one test file never share addresses.
// The source and the receivers have a default route via the router; rp_filter in the router is
// 0 (all, default, lo and every router interface) unless `rpFilter` says otherwise.

import { addNetns, delNetns, execIn, ipBatch, uniqueName } from "./netns.js";

export interface LabOptions {
  /** Receiver namespaces, each behind its own router interface `out<i>` (default 2, 0..127). */
  receivers?: number;
  /** Extra router interfaces `x1..xN` (default 0, 0..127); their peers share one namespace. */
  extraRouterLinks?: number;
  /** net.ipv4.conf.{all,default,lo,<router ifaces>}.rp_filter in the router (default 0). */
  rpFilter?: 0 | 1 | 2;
}

export interface LabAddrs {
  prefixLen: 24;
  /** The source's address (on its eth0). */
  source: string;
  /** The router's address on in0. */
  routerIn: string;
  /** Receiver i's address (index i-1), on its eth0. */
  receivers: string[];
  /** The router's address on out<i> (index i-1). */
  routerOuts: string[];
  /** The router's address on x<j> (index j-1). */
  routerExtra: string[];
  /** The address of x<j>'s peer p<j> in the extra namespace (index j-1). */
  extraPeers: string[];
}

export interface Lab {
  /** Lab number `k` of the 10.k.0.0/16 addresses. */
  readonly k: number;
  readonly router: string;
  readonly source: string;
  readonly receivers: string[];
  /** Namespace holding the peers p1..pN of the extra links (undefined without extra links). */
  readonly extraPeer: string | undefined;
  /** Every namespace of this lab. */
  readonly namespaces: string[];
  readonly routerIfaces: { in: "in0"; outs: string[]; extra: string[] };
  /** Interface name of the source's and each receiver's veth end. */
  readonly sourceIface: "eth0";
  readonly receiverIface: "eth0";
  readonly addrs: LabAddrs;
  /** Deletes every namespace of the lab. Idempotent; also done at process exit. */
  cleanup(): Promise<void>;
}

const MAX_LINKS = 127;
const LAB_KEY = Symbol.for("mfcd.test.lab.counter");

function nextK(): number {
  const g = globalThis as Record<symbol, unknown>;
  const n = typeof g[LAB_KEY] === "number" ? (g[LAB_KEY] as number) : 0;
  g[LAB_KEY] = n + 1;
  return (n % 254) + 1;
}

function checkCount(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_LINKS) {
    throw new RangeError(`createLab: ${name} must be an integer 0..${MAX_LINKS}, got ${v}`);
  }
}

/** Builds the lab. On failure everything created so far is removed before the error is thrown. */
export async function createLab(opts: LabOptions = {}): Promise<Lab> {
  const nRcv = opts.receivers ?? 2;
  const nExtra = opts.extraRouterLinks ?? 0;
  const rpFilter = opts.rpFilter ?? 0;
  checkCount("receivers", nRcv);
  checkCount("extraRouterLinks", nExtra);
  if (![0, 1, 2].includes(rpFilter)) throw new RangeError(`createLab: rpFilter must be 0, 1 or 2`);

  const k = nextK();
  const net = (third: number, host: number): string => `10.${k}.${third}.${host}`;
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

  const router = uniqueName("router");
  const source = uniqueName("src");
  const receivers = range(nRcv).map((i) => uniqueName(`rcv${i}`));
  const extraPeer = nExtra > 0 ? uniqueName("xtra") : undefined;
  const namespaces = [router, source, ...receivers, ...(extraPeer === undefined ? [] : [extraPeer])];

  const outs = range(nRcv).map((i) => `out${i}`);
  const extra = range(nExtra).map((j) => `x${j}`);
  const addrs: LabAddrs = {
    prefixLen: 24,
    source: net(0, 2),
    routerIn: net(0, 1),
    receivers: range(nRcv).map((i) => net(i, 2)),
    routerOuts: range(nRcv).map((i) => net(i, 1)),
    routerExtra: range(nExtra).map((j) => net(128 + j, 1)),
    extraPeers: range(nExtra).map((j) => net(128 + j, 2)),
  };

  let cleanupPromise: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleanupPromise ??= (async () => {
      const results = await Promise.allSettled(namespaces.map((ns) => delNetns(ns)));
      const errors = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
      if (errors.length > 0) {
        cleanupPromise = undefined; // let a later call retry
        throw new AggregateError(errors, "lab cleanup failed");
      }
    })();
    return cleanupPromise;
  };

  try {
    // addNetns records each name, so the process-exit hook removes them even without cleanup().
    for (const ns of namespaces) await addNetns(ns);

    // Router side: create every veth pair with its far end directly in the peer namespace.
    const r: string[] = ["link set lo up"];
    const link = (name: string, peer: string, peerNs: string, addr: string): void => {
      r.push(`link add ${name} type veth peer name ${peer} netns ${peerNs}`);
      r.push(`addr add ${addr}/24 dev ${name}`);
      r.push(`link set ${name} multicast on up`);
    };
    link("in0", "eth0", source, addrs.routerIn);
    receivers.forEach((ns, i) => link(outs[i]!, "eth0", ns, addrs.routerOuts[i]!));
    if (extraPeer !== undefined) {
      extra.forEach((x, j) => link(x, `p${j + 1}`, extraPeer, addrs.routerExtra[j]!));
    }
    await ipBatch(r, router);

    const leaf = (iface: string, addr: string, gw: string): string[] => [
      "link set lo up",
      `addr add ${addr}/24 dev ${iface}`,
      `link set ${iface} multicast on up`,
      `route add default via ${gw} dev ${iface}`,
    ];
    const sysctls = ["all", "default", "lo", "in0", ...outs, ...extra].map(
      (c) => `net.ipv4.conf.${c}.rp_filter=${rpFilter}`,
    );
    await Promise.all([
      ipBatch(leaf("eth0", addrs.source, addrs.routerIn), source),
      ...receivers.map((ns, i) => ipBatch(leaf("eth0", addrs.receivers[i]!, addrs.routerOuts[i]!), ns)),
      extraPeer === undefined
        ? Promise.resolve()
        : ipBatch(
            [
              "link set lo up",
              ...extra.flatMap((_, j) => [
                `addr add ${addrs.extraPeers[j]!}/24 dev p${j + 1}`,
                `link set p${j + 1} multicast on up`,
              ]),
            ],
            extraPeer,
          ),
      execIn(router, ["sysctl", "-q", "-w", ...sysctls]),
    ]);
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }

  return {
    k,
    router,
    source,
    receivers,
    extraPeer,
    namespaces,
    routerIfaces: { in: "in0", outs, extra },
    sourceIface: "eth0",
    receiverIface: "eth0",
    addrs,
    cleanup,
  };
}

/** Builds a lab, runs fn, and always removes the lab (also when fn throws). */
export async function withLab<T>(opts: LabOptions, fn: (lab: Lab) => Promise<T> | T): Promise<T> {
  const lab = await createLab(opts);
  try {
    return await fn(lab);
  } finally {
    await lab.cleanup();
  }
}

// kernel-needs: ipv4 nft
// Experiment 1: `nft monitor trace` shows a packet's path through the netfilter hooks.
//
//   src —in0— router (mfcd; a local member of GL on in0) —out1— rcv1 (member of GF)
//
// In the router: a raw-priority prerouting chain sets `meta nftrace set 1` for the source's UDP
// flows, and one accepting chain per hook (prerouting, input, forward, postrouting) counts them.
// A packet to the locally joined group GL must go prerouting → input; a packet of the forwarded
// flow GF (MFC route through mfcd) must go prerouting → forward → postrouting, never input.
import { describe, expect, it } from "vitest";
import { startReceiver, waitFor } from "../helpers/traffic.js";
import {
  addRoute,
  burst,
  chainHooks,
  conclude,
  nftLoad,
  PORT,
  receiver,
  startTraceMonitor,
  withRig,
  type TraceEvent,
} from "./kit.js";

if (process.getuid?.() !== 0) throw new Error("test/experiments needs root (network namespaces, nft, MRT_INIT)");

const GL = "239.71.0.1"; // joined by a socket in the router itself
const GF = "239.71.0.2"; // forwarded in0 → out1 by an MFC route
const PROBE_PORT = PORT + 1;
const N = 3;
const TABLE = "exp_trace";

/** Hooks a packet went through, in order, with repeats (two prerouting chains) collapsed. */
function hookPath(events: readonly TraceEvent[], hooks: ReadonlyMap<string, string>): string[] {
  const path: string[] = [];
  for (const e of events) {
    const h = hooks.get(e.chain) ?? `?${e.chain}`;
    if (path.at(-1) !== h) path.push(h);
  }
  return path;
}

/** The final verdict of each chain the packet went through, as "chain:verdict". */
function chainVerdicts(events: readonly TraceEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.verdict === undefined || e.verdict === "continue") continue;
    out.push(`${e.chain}:${e.verdict}`);
  }
  return out;
}

describe("experiment 1: nft trace", () => {
  it("shows prerouting → input for a locally joined group and prerouting → forward → postrouting for a forwarded flow", async () => {
    await withRig({ receivers: 1 }, async (rig) => {
      const { lab } = rig;
      const S = lab.addrs.source;
      await addRoute(rig, S, GF, ["out1"]);
      await nftLoad(
        lab.router,
        `table ip ${TABLE} {
  chain x_raw {
    type filter hook prerouting priority -300; policy accept;
    iifname "in0" ip saddr ${S} udp dport { ${PORT}, ${PROBE_PORT} } meta nftrace set 1
  }
  chain x_prerouting {
    type filter hook prerouting priority 0; policy accept;
    ip saddr ${S} ip daddr { ${GL}, ${GF} } udp dport ${PORT} counter accept
  }
  chain x_input {
    type filter hook input priority 0; policy accept;
    ip saddr ${S} ip daddr ${GL} counter accept
  }
  chain x_forward {
    type filter hook forward priority 0; policy accept;
    ip saddr ${S} ip daddr ${GF} counter accept
  }
  chain x_postrouting {
    type filter hook postrouting priority 0; policy accept;
    ip saddr ${S} ip daddr ${GF} counter accept
  }
}
`,
      );
      const hooks = await chainHooks(lab.router, TABLE);
      expect(Object.fromEntries(hooks)).toEqual({
        x_raw: "prerouting",
        x_prerouting: "prerouting",
        x_input: "input",
        x_forward: "forward",
        x_postrouting: "postrouting",
      });

      const local = rig.stops.add(await startReceiver(lab.router, { group: GL, port: PORT, ifaceAddr: lab.addrs.routerIn }));
      const remote = await receiver(rig, GF);

      const monitor = startTraceMonitor(lab.router);
      rig.stops.add(monitor);
      let probeSeq = 0;
      await monitor.ready(
        () => burst(rig, { group: GL, port: PROBE_PORT, count: 1, ttl: 8, firstSeq: probeSeq++ }),
        (e) => e.kind === "packet" && e.text.includes(`udp dport ${PROBE_PORT}`),
      );

      await burst(rig, { group: GL, count: N, ttl: 8 });
      await burst(rig, { group: GF, count: N, ttl: 8 });
      await Promise.all([local.waitForCount(N), remote.waitForCount(N)]);

      // Packets of the test flows, by trace id (the probes are left out).
      const flows = new Map<string, TraceEvent[][]>([
        [GL, []],
        [GF, []],
      ]);
      const tracesComplete = () => {
        flows.forEach((list) => list.splice(0));
        for (const evs of monitor.packets("x_raw")) {
          const first = evs[0];
          if (first?.kind !== "packet" || !first.text.includes(`udp dport ${PORT} `)) continue;
          const g = /ip daddr (\S+)/.exec(first.text)?.[1];
          if (g !== undefined) flows.get(g)?.push(evs);
        }
        // Complete = every packet reached its last accepting chain.
        const done = (g: string, last: string) =>
          flows.get(g)!.filter((evs) => evs.some((e) => e.chain === last && e.verdict === "accept")).length;
        return done(GL, "x_input") >= N && done(GF, "x_postrouting") >= N;
      };
      await waitFor(tracesComplete, {
        message: () => `trace events so far:\n${monitor.events.map((e) => e.raw).join("\n")}`,
      });
      await monitor.stop();

      const localPackets = flows.get(GL)!;
      const fwdPackets = flows.get(GF)!;
      expect(localPackets).toHaveLength(N);
      expect(fwdPackets).toHaveLength(N);
      for (const evs of localPackets) {
        expect(hookPath(evs, hooks)).toEqual(["prerouting", "input"]);
        expect(chainVerdicts(evs)).toEqual(["x_raw:accept", "x_prerouting:accept", "x_input:accept"]);
      }
      for (const evs of fwdPackets) {
        expect(hookPath(evs, hooks)).toEqual(["prerouting", "forward", "postrouting"]);
        expect(chainVerdicts(evs)).toEqual([
          "x_raw:accept",
          "x_prerouting:accept",
          "x_forward:accept",
          "x_postrouting:accept",
        ]);
      }
      // What the forward hook sees: the MFC has picked the oif and already decremented the TTL.
      const fwdSeen = fwdPackets.map((evs) => evs.find((e) => e.chain === "x_forward" && e.kind === "packet")?.text ?? "");
      const ttlIn = fwdPackets.map((evs) => /ip ttl (\d+)/.exec(evs[0]!.text)?.[1]);
      const ttlFwd = fwdSeen.map((t) => /ip ttl (\d+)/.exec(t)?.[1]);
      for (const t of fwdSeen) expect(t).toMatch(/iif "in0" oif "out1" /);
      expect(ttlIn).toEqual(Array<string>(N).fill("8"));
      expect(ttlFwd).toEqual(Array<string>(N).fill("7"));

      const [gotLocal, gotRemote] = await Promise.all([local.stop(), remote.stop()]);
      expect(gotLocal.count).toBe(N);
      expect(gotRemote.count).toBe(N);

      conclude(
        `nft trace: ${localPackets.length}/${N} packets to the locally joined ${GL} went prerouting(accept) → input(accept), ` +
          `delivered ${gotLocal.count}; ${fwdPackets.length}/${N} packets of the MFC-forwarded ${GF} went prerouting(accept) → ` +
          `forward(accept, iif in0 oif out1, ttl ${ttlIn[0]}→${ttlFwd[0]}) → postrouting(accept), never input; delivered ${gotRemote.count}`,
      );
    });
  });
});

// kernel-needs: ipv4 nft
// Experiment 4: the stateless nft rescues deliver.
//
//   src (eth0 10.k.0.2 [+ 10.99.0.100/32]) —in0— router (mfcd) —out1— rcv1
//
// (a) An unroutable camera (10.99.0.100, rp_filter=1): `ip saddr set NEW` in a raw-priority
//     prerouting filter chain, matched on iif + original source + group, with the MFC route keyed
//     on NEW (an on-link, non-local address of in0's subnet). The receiver sees NEW as the source.
// (b) A TTL-1 sender (routable source, rp_filter=0): without a rule the MFC entry counts the
//     packets but forwards none; `ip ttl set 64` scoped to iif + flow makes them forwardable.
// (c) Both problems at once (10.99.0.100, TTL 1, rp_filter=1): with only the rewrite, RPF passes
//     (so the rewrite runs before the rp_filter check) and the entry counts, but TTL 1 still stops
//     forwarding; with the TTL rule as well, everything arrives.
import { describe, expect, it } from "vitest";
import { readSysctl } from "../helpers/kernel-view.js";
import type { Lab } from "../helpers/lab.js";
import {
  addRoute,
  addSourceAddress,
  burst,
  CAMERA,
  conclude,
  mfcPackets,
  nftCmd,
  nftCounter,
  nftLoad,
  receiver,
  rpfDrops,
  until,
  withRig,
} from "./kit.js";

if (process.getuid?.() !== 0) throw new Error("test/experiments needs root (network namespaces, nft, MRT_INIT)");

const N = 20;
const TABLE = "rescue";
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** An on-link address of in0's subnet that no host in the lab has. */
const newSource = (lab: Lab) => lab.addrs.routerIn.replace(/\.1$/, ".100");

/** The empty rescue table: one raw-priority prerouting chain and named counters. */
const rescueTable = `table ip ${TABLE} {
  counter rewritten {}
  counter ttl_fixed {}
  chain raw_pre {
    type filter hook prerouting priority -300; policy accept;
  }
}
`;

/** Stateless source rewrite of one flow (matched on iif + original source + group). */
const rewriteRule = (from: string, to: string, group: string) =>
  `add rule ip ${TABLE} raw_pre iifname "in0" ip saddr ${from} ip daddr ${group} counter name "rewritten" ip saddr set ${to}\n`;

/** TTL fix of one flow, scoped to the iif and never touching 224.0.0.0/24. */
const ttlRule = (source: string, group: string) =>
  `add rule ip ${TABLE} raw_pre iifname "in0" ip saddr ${source} ip daddr ${group} ip daddr != 224.0.0.0/24 counter name "ttl_fixed" ip ttl set 64\n`;

describe("experiment 4: stateless rescues", () => {
  it("(a) ip saddr set in raw prerouting delivers an unroutable camera's packets with the new source", async () => {
    await withRig({ receivers: 1, rpFilter: 1 }, async (rig) => {
      const { lab } = rig;
      const G = "239.74.1.1";
      const NEW = newSource(lab);
      await addSourceAddress(rig, CAMERA);
      await addRoute(rig, NEW, G, ["out1"]);
      await nftLoad(lab.router, rescueTable);
      const rcv = await receiver(rig, G);

      // Without the rewrite: RPF drops everything, the (NEW, G) entry sees nothing.
      const rpf0 = await rpfDrops(rig);
      await burst(rig, { group: G, count: N, ttl: 8, from: CAMERA });
      const rpf1 = await until("TcpExtIPReversePathFilter", () => rpfDrops(rig), rpf0 + N);
      expect(rpf1 - rpf0).toBe(N);
      expect(await mfcPackets(rig, NEW, G)).toBe(0);

      // With the rewrite.
      await nftLoad(lab.router, rewriteRule(CAMERA, NEW, G));
      await burst(rig, { group: G, count: N, ttl: 8, from: CAMERA, firstSeq: 1000 });
      await rcv.waitForCount(N);
      const got = await rcv.stop();
      const rewritten = await nftCounter(lab.router, TABLE, "rewritten");
      const rpf2 = await rpfDrops(rig);
      const mfc = await mfcPackets(rig, NEW, G);
      expect(got.seqs).toEqual(range(1000, N));
      expect(got.from).toEqual([NEW]);
      expect(rewritten).toBe(N);
      expect(rpf2 - rpf1).toBe(0);
      expect(mfc).toBe(N);

      conclude(
        `saddr rewrite (raw prerouting 'iifname in0 ip saddr ${CAMERA} ip daddr ${G} ip saddr set ${NEW}', rp_filter=1, ` +
          `MFC route (${NEW}, ${G})): without it TcpExtIPReversePathFilter +${rpf1 - rpf0}, delivered 0; with it ` +
          `rewritten ${rewritten}, MFC ${mfc}, RPF drops +${rpf2 - rpf1}, delivered ${got.count}/${N}, receiver saw source ${got.from.join(",")}`,
      );
    });
  });

  it("(b) ip ttl set 64 scoped to iif + flow makes TTL-1 packets forwardable", async () => {
    await withRig({ receivers: 1 }, async (rig) => {
      const { lab } = rig;
      const G = "239.74.2.1";
      const S = lab.addrs.source;
      await addRoute(rig, S, G, ["out1"]);
      await nftLoad(lab.router, rescueTable);
      const rcv = await receiver(rig, G);

      // Without the rule: the entry counts the TTL-1 packets but forwards none.
      await burst(rig, { group: G, count: N, ttl: 1 });
      const mfc1 = await until("MFC packets", () => mfcPackets(rig, S, G), N);
      expect(mfc1).toBe(N);

      await nftLoad(lab.router, ttlRule(S, G));
      await burst(rig, { group: G, count: N, ttl: 1, firstSeq: 1000 });
      await rcv.waitForCount(N);
      const got = await rcv.stop();
      const fixed = await nftCounter(lab.router, TABLE, "ttl_fixed");
      const mfc2 = await mfcPackets(rig, S, G);
      expect(got.seqs).toEqual(range(1000, N)); // none of the first burst
      expect(fixed).toBe(N);
      expect(mfc2 - mfc1).toBe(N);

      conclude(
        `TTL 1 sender: without a rule MFC counted ${mfc1}, delivered 0; with 'iifname in0 ip saddr ${S} ip daddr ${G} ` +
          `ip daddr != 224.0.0.0/24 ip ttl set 64' (raw prerouting): rule hit ${fixed}, MFC +${mfc2 - mfc1}, delivered ${got.count}/${N}`,
      );
    });
  });

  it("(c) rewrite + TTL fix together rescue an unroutable TTL-1 camera under rp_filter=1; the rewrite precedes the RPF check", async () => {
    await withRig({ receivers: 1, rpFilter: 1 }, async (rig) => {
      const { lab } = rig;
      const G = "239.74.3.1";
      const NEW = newSource(lab);
      expect(await readSysctl(lab.router, "net.ipv4.conf.in0.rp_filter")).toBe("1");
      await addSourceAddress(rig, CAMERA);
      await addRoute(rig, NEW, G, ["out1"]);
      await nftLoad(lab.router, rescueTable);
      const rcv = await receiver(rig, G);

      // 1. No rules: dropped by RPF, the entry sees nothing.
      const rpf0 = await rpfDrops(rig);
      await burst(rig, { group: G, count: N, ttl: 1, from: CAMERA });
      const rpf1 = await until("TcpExtIPReversePathFilter", () => rpfDrops(rig), rpf0 + N);
      expect(rpf1 - rpf0).toBe(N);
      expect(await mfcPackets(rig, NEW, G)).toBe(0);

      // 2. Rewrite only: RPF now passes (it checked the rewritten source) and the (NEW, G) entry
      //    counts every packet, but TTL 1 is still not forwarded.
      await nftLoad(lab.router, rewriteRule(CAMERA, NEW, G));
      await burst(rig, { group: G, count: N, ttl: 1, from: CAMERA, firstSeq: 1000 });
      const mfc2 = await until("MFC packets", () => mfcPackets(rig, NEW, G), N);
      const rpf2 = await rpfDrops(rig);
      expect(mfc2).toBe(N);
      expect(rpf2 - rpf1).toBe(0);

      // 3. Rewrite + TTL fix (the TTL rule follows the rewrite in the chain, so it matches NEW).
      await nftLoad(lab.router, ttlRule(NEW, G));
      await burst(rig, { group: G, count: N, ttl: 1, from: CAMERA, firstSeq: 2000 });
      await rcv.waitForCount(N);
      const got = await rcv.stop();
      const rpf3 = await rpfDrops(rig);
      const mfc3 = await mfcPackets(rig, NEW, G);
      const rewritten = await nftCounter(lab.router, TABLE, "rewritten");
      const fixed = await nftCounter(lab.router, TABLE, "ttl_fixed");
      expect(got.seqs).toEqual(range(2000, N)); // nothing of bursts 1 and 2
      expect(got.from).toEqual([NEW]);
      expect(rpf3 - rpf2).toBe(0);
      expect(mfc3 - mfc2).toBe(N);
      expect(rewritten).toBe(2 * N);
      expect(fixed).toBe(N);
      expect(await nftCmd(lab.router, ["list", "chain", "ip", TABLE, "raw_pre"])).toMatch(
        /ip saddr set [\d.]+\n[^\n]*ip ttl set 64/,
      );

      conclude(
        `${CAMERA} TTL 1, rp_filter=1: no rules → RPF drops +${rpf1 - rpf0}, MFC 0, delivered 0; rewrite only → RPF drops ` +
          `+${rpf2 - rpf1}, MFC (${NEW}, ${G}) +${mfc2}, delivered 0 (rewrite runs before the rp_filter check); ` +
          `rewrite + ttl set 64 → delivered ${got.count}/${N} from ${got.from.join(",")}, RPF drops +${rpf3 - rpf2}`,
      );
    });
  });
});

// kernel-needs: ipv4 nft
// Experiment 2: strict rp_filter silently eats multicast from a source with no route back.
//
//   src (eth0 10.k.0.2 + 10.99.0.100/32) —in0— router (mfcd, rp_filter=1) —out1— rcv1
//
// The sender binds 10.99.0.100 ("the camera"); the router has no route to 10.99.0.0/16. mfcd
// installs (10.99.0.100, G) in0 → out1. A prerouting nft counter (saddr + daddr) shows the packets
// arrive; the MFC entry counter stays 0 and TcpExtIPReversePathFilter grows by exactly N.
// Control: with `ip route add 10.99.0.0/24 via <src> dev in0` in the router, the same flow is
// forwarded N/N.
import { describe, expect, it } from "vitest";
import { readSysctl } from "../helpers/kernel-view.js";
import { ip } from "../helpers/netns.js";
import {
  addRoute,
  addSourceAddress,
  burst,
  CAMERA,
  conclude,
  mfcPackets,
  nftCounter,
  nftLoad,
  receiver,
  rpfDrops,
  until,
  vifInPackets,
  withRig,
} from "./kit.js";

if (process.getuid?.() !== 0) throw new Error("test/experiments needs root (network namespaces, nft, MRT_INIT)");

const G = "239.72.0.1";
const N = 20;
const TABLE = "exp_rpf";

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe("experiment 2: rp_filter", () => {
  it("rp_filter=1 drops an unroutable source before the MFC; a route back via the iif makes it forward", async () => {
    await withRig({ receivers: 1, rpFilter: 1 }, async (rig) => {
      const { lab } = rig;
      expect(await readSysctl(lab.router, "net.ipv4.conf.all.rp_filter")).toBe("1");
      expect(await readSysctl(lab.router, "net.ipv4.conf.in0.rp_filter")).toBe("1");
      await addSourceAddress(rig, CAMERA);
      await addRoute(rig, CAMERA, G, ["out1"]);
      await nftLoad(
        lab.router,
        `table ip ${TABLE} {
  counter seen {}
  chain x_pre {
    type filter hook prerouting priority -300; policy accept;
    ip saddr ${CAMERA} ip daddr ${G} counter name "seen"
  }
}
`,
      );
      const rcv = await receiver(rig, G);
      const seen = () => nftCounter(lab.router, TABLE, "seen");

      // 1. No route back to 10.99.0.100.
      expect(await ip(["route", "get", CAMERA], lab.router).catch((e: Error) => e.message)).toMatch(/unreachable/i);
      const rpf0 = await rpfDrops(rig);
      await burst(rig, { group: G, count: N, ttl: 8, from: CAMERA });
      const seen1 = await until("prerouting counter", seen, N);
      const rpf1 = await until("TcpExtIPReversePathFilter", () => rpfDrops(rig), rpf0 + N);
      const mfc1 = await mfcPackets(rig, CAMERA, G);
      expect(seen1).toBe(N);
      expect(rpf1 - rpf0).toBe(N);
      expect(mfc1).toBe(0);
      const vif1 = await vifInPackets(rig, "in0");
      expect(vif1).toBe(0);

      // 2. Control: a route back to the source through the iif.
      await ip(["route", "add", "10.99.0.0/24", "via", lab.addrs.source, "dev", "in0"], lab.router);
      await burst(rig, { group: G, count: N, ttl: 8, from: CAMERA, firstSeq: 1000 });
      await rcv.waitForCount(N);
      const got = await rcv.stop();
      const seen2 = await seen();
      const rpf2 = await rpfDrops(rig);
      const mfc2 = await mfcPackets(rig, CAMERA, G);
      // Only the second burst arrived (the first went the same way earlier): nothing of burst 1 leaked.
      expect(got.seqs).toEqual(range(1000, N));
      expect(got.from).toEqual([CAMERA]);
      expect(seen2 - seen1).toBe(N);
      expect(rpf2 - rpf1).toBe(0);
      expect(mfc2).toBe(N);
      expect(await vifInPackets(rig, "in0")).toBe(N);

      conclude(
        `rp_filter=1 + unroutable source ${CAMERA}: prerouting saw ${seen1}, MFC saw ${mfc1} (VIF in0 in ${vif1}), ` +
          `TcpExtIPReversePathFilter +${rpf1 - rpf0}, delivered 0; with a route back via in0: ` +
          `forwarded ${got.count}/${N} (MFC +${mfc2 - mfc1}, TcpExtIPReversePathFilter +${rpf2 - rpf1})`,
      );
    });
  });
});

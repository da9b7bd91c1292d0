// Kernel cost of MRT_ADD_MFC with an rtnetlink MFC listener attached: none, mfcd's monitor
// dropping own updates (socket filter), and a monitor that reports everything. CPU time of the
// whole process (both threads), per entry. `npx tsx bench/listener-cost.ts [N]`, needs root.
import { MrouteSocket } from "../src/kernel/index.js";
import { RtnetlinkMonitor } from "../src/kernel/poll/index.js";
import { createBenchNs, removeBenchNamespaces, sourceAt, GROUP } from "./lib/bench-netns.js";
import { listLinks } from "../src/kernel/netlink/index.js";

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 100_000);
  const ns = await createBenchNs("listener");
  try {
    for (const mode of ["none", "drop-own", "all", "none", "drop-own", "all"] as const) {
      const mon =
        mode === "none"
          ? undefined
          : await RtnetlinkMonitor.start({ netns: ns.path, onEvent: () => undefined, dropOwnMfcUpdates: mode === "drop-own" });
      const sock = MrouteSocket.open({ netns: ns.path });
      sock.addVif(0, ifindexOf(ns.path, "v0"));
      sock.addVif(1, ifindexOf(ns.path, "v1"));
      const oifs = new Map([[1, 1]]);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < n; i++) sock.addMfc(sourceAt(i), GROUP, 0, oifs);
      const wall = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 300)); // let the worker drain
      const c = process.cpuUsage(c0);
      process.stderr.write(
        `${mode.padEnd(9)} wall ${((wall * 1000) / n).toFixed(2)} µs/entry, CPU (both threads, +300 ms drain) ${((c.user + c.system) / n).toFixed(2)} µs/entry\n`,
      );
      sock.close();
      await mon?.close();
    }
  } finally {
    await removeBenchNamespaces();
  }
}
void main();

function ifindexOf(netns: string, name: string): number {
  const link = listLinks(netns).find((l) => l.name === name);
  if (!link) throw new Error(`no ${name}`);
  return link.ifindex;
}

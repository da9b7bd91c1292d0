// `npx tsx bench/parse-proc.ts [--rows N] [--reps N]`: parseIpMrCache on a synthetic
// /proc/net/ip_mr_cache of N rows (default 10000), in this process, no kernel needed. Prints the
// median CPU time (process.cpuUsage) of one parse in ms. Moved here from the unit test
// `parses 10k rows`, where a timed assertion (< 250 ms) failed on slow machines.

import { parseArgs } from "node:util";
import { parseIpMrCache } from "../src/kernel/mroute/index.js";

const { values } = parseArgs({
  options: { rows: { type: "string", default: "10000" }, reps: { type: "string", default: "25" } },
});
const rows = Number(values.rows);
const reps = Number(values.reps);

const lines = ["Group    Origin   Iif     Pkts    Bytes    Wrong Oifs"];
const hex = (v: number) => (v >>> 0).toString(16).toUpperCase().padStart(8, "0");
for (let i = 0; i < rows; i++) {
  lines.push(`${hex(0x0000_01ef + (i << 16))} ${hex(0x0100_000a + (i << 8))} 0   ${i}  ${i * 100}  0  1:1    3:1  `);
}
const bytes = Buffer.from(lines.join("\n") + "\n", "latin1");

parseIpMrCache(bytes); // warm up the JIT
const times: number[] = [];
for (let r = 0; r < reps; r++) {
  const c0 = process.cpuUsage();
  const parsed = parseIpMrCache(bytes);
  const c = process.cpuUsage(c0);
  if (parsed.length !== rows) throw new Error(`parsed ${parsed.length} of ${rows} rows`);
  times.push((c.user + c.system) / 1000);
}
times.sort((a, b) => a - b);
console.log(`parseIpMrCache: ${rows} rows, median ${times[Math.floor(times.length / 2)]!.toFixed(2)} ms CPU over ${reps} runs`);

// `nft monitor` in a lab namespace: every ruleset change, as nft prints it, in commit order. Each
// kernel transaction ends with a "# new generation N by process ..." line, so the output shows
// which changes were committed together. mark() is an ordering barrier: it commits a marker table
// of its own and waits until the monitor printed that transaction, so every change committed
// before the call is in `lines` before the returned index.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { execIn, onProcessExit } from "./netns.js";
import { waitFor } from "./traffic.js";

export interface NftMonitor {
  /** Every line printed so far (markers included). */
  readonly lines: string[];
  /** Index in `lines` after the transaction of a new marker: everything committed earlier is before it. */
  mark(): Promise<number>;
  /** The transactions in lines[from, to), without the markers' own. */
  transactions(from: number, to: number): string[][];
  stop(): Promise<void>;
}

let markers = 0;

export async function startNftMonitor(ns: string): Promise<NftMonitor> {
  const child = spawn("ip", ["netns", "exec", ns, "nft", "monitor"], { stdio: ["ignore", "pipe", "pipe"] });
  const unhook = onProcessExit(() => child.kill("SIGKILL"));
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on("line", (l) => lines.push(l));
  const prefix = `mfct_mark_${process.pid}_`;

  /** Commits marker table `name` (added and deleted in one transaction). */
  const touch = (name: string) => execIn(ns, ["nft", "-f", "-"], { input: `table ip ${name} {}\ndelete table ip ${name}\n` });
  /** Index after the transaction that deleted marker `name`, or -1. */
  const endOf = (name: string): number => {
    const k = lines.indexOf(`delete table ip ${name}`);
    return k < 0 ? -1 : lines.findIndex((l, j) => j > k && l.startsWith("# new generation")) + 1 || -1;
  };

  // Subscribed once a marker shows up (the monitor starts asynchronously): touch until one does.
  await waitFor(
    async () => {
      const name = `${prefix}${++markers}`;
      await touch(name);
      return lines.some((l) => l.startsWith(`delete table ip ${prefix}`));
    },
    { intervalMs: 50, message: "nft monitor never printed a marker table" },
  );

  return {
    lines,
    async mark() {
      const name = `${prefix}${++markers}`;
      await touch(name);
      return waitFor(() => Math.max(0, endOf(name)), { message: () => `nft monitor never printed marker ${name}` });
    },
    transactions(from, to) {
      const out: string[][] = [];
      let cur: string[] = [];
      for (const l of lines.slice(from, to)) {
        if (!l.startsWith("# new generation")) cur.push(l);
        else {
          if (!cur.some((c) => c.includes(` ip ${prefix}`))) out.push(cur);
          cur = [];
        }
      }
      return out;
    },
    async stop() {
      unhook();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await closed;
    },
  };
}

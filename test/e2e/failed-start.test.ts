// kernel-needs: ipv4 tables nft
// A start that fails after mfcd has changed the kernel undoes what it did: the ip mrule of
// --mrule and the nft rescue table of the restored routes are gone once it has exited 1.
// (Before the cleanup stack, a failed start closed only its sockets and workers.)

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addNetns, delNetns, execIn, ip, uniqueName } from "../helpers/netns.js";
import { spawnMfcd, startMfcd, tempSocketPath, tempStatePath } from "../helpers/mfcd-process.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT, nft)");

/** `nft list tables` in `ns`, as "family name" strings. */
async function nftTables(ns: string): Promise<string[]> {
  const out = await execIn(ns, ["nft", "list", "tables"]);
  return out
    .split("\n")
    .map((l) => /^table (\S+) (\S+)$/.exec(l.trim()))
    .flatMap((m) => (m ? [`${m[1]} ${m[2]}`] : []));
}

describe("a failed start", () => {
  let ns: string;
  beforeAll(async () => {
    ns = uniqueName("fstart");
    await addNetns(ns);
    await ip(["link", "add", "st0", "type", "veth", "peer", "name", "st1"], ns);
    await ip(["link", "set", "st0", "up"], ns);
    await ip(["link", "set", "st1", "up"], ns);
  });
  afterAll(async () => {
    await delNetns(ns);
  });

  it("leaves no ip mrule and no mfcd nft table behind", async () => {
    // A state file with a rescued route: the next start restores it and programs `table ip mfcd`.
    const statePath = tempStatePath();
    const first = await startMfcd(ns, { stateFile: statePath });
    try {
      await first.client.addRoute({ route: { source: "10.0.0.1", group: "239.7.7.7", iif: "st0", oifs: ["st1"], setTtl: 64 } });
      expect(await nftTables(ns)).toContain("ip mfcd");
    } finally {
      expect(await first.stop()).toEqual({ code: 0, signal: null });
    }
    expect(await nftTables(ns)).not.toContain("ip mfcd");

    // Everything up to the metrics listener succeeds (routes restored, nft table, mrule, gRPC
    // server); the metrics listener then finds its Unix socket path served (by mfcd's own gRPC
    // listener) and fails the start.
    const socketPath = tempSocketPath();
    const failing = spawnMfcd(ns, {
      socketPath,
      stateFile: statePath,
      args: ["--mrule", "st0=11", "--metrics-listen", `unix:${socketPath}`],
    });
    const status = await failing.exitWithin();
    expect(status.code, failing.stderr()).toBe(1);
    expect(failing.stderr()).toContain("mfcd: cannot start");
    expect(failing.stderr()).toContain("in use by a live process");
    expect(failing.stderr()).toContain("mrule installed"); // the start did get past the mrule
    expect(await ip(["mrule", "show"], ns)).not.toMatch(/lookup 11/);
    expect((await nftTables(ns)).filter((t) => /^ip mfcd(_|$)/.test(t))).toEqual([]);
  });
});

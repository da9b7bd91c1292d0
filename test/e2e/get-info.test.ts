// kernel-needs: ipv4 tables
// End-to-end: GetInfo of a real mfcd — what it reports about itself, and the kernel tables it
// owns: the IPv4 default table from the start, table 7 once a route needs it.
//
//   src (eth0) —in0— router (mfcd) —out1— rcv1
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, type Lab } from "../helpers/lab.js";
import { REPO_ROOT, startMfcd, type MfcdProcess } from "../helpers/mfcd-process.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

let lab: Lab;
let mfcd: MfcdProcess;
let spawnedAt: number;

beforeAll(async () => {
  lab = await createLab({ receivers: 1 });
  spawnedAt = Date.now();
  mfcd = await startMfcd(lab.router);
});
afterAll(async () => {
  await mfcd?.stop();
  await lab?.cleanup();
});

describe("GetInfo", () => {
  it("reports mfcd's version, the kernel release, its start and its state file", async () => {
    const info = await mfcd.client.getInfo({});
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    expect(info.version).toBe(pkg.version);
    expect(info.kernelRelease).toBe(os.release());
    expect(info.stateFile).toBe(mfcd.statePath);
    const started = Number(info.startTime?.seconds ?? 0n) * 1000 + Math.floor((info.startTime?.nanos ?? 0) / 1e6);
    // The process's start: after the spawn (with 1 s of clock granularity), before now.
    expect(started).toBeGreaterThanOrEqual(spawnedAt - 1000);
    expect(started).toBeLessThanOrEqual(Date.now());
  });

  it("lists IPv4 table 0 as owned after start, and table 7 once a route in table 7 is added", async () => {
    expect((await mfcd.client.getInfo({})).ownedTables).toEqual([{ family: "ipv4", table: 0 }]);
    const route = { source: lab.addrs.source, group: `239.${lab.k}.77.1`, iif: "in0", oifs: ["out1"], oifTtl: {}, table: 7 };
    await mfcd.client.addRoute({ route });
    expect((await mfcd.client.getInfo({})).ownedTables).toEqual([
      { family: "ipv4", table: 0 },
      { family: "ipv4", table: 7 },
    ]);
    // The table stays owned (its MRT_INIT socket open) after its last route goes.
    await mfcd.client.delRoute({ source: route.source, group: route.group, table: 7 });
    expect((await mfcd.client.getInfo({})).ownedTables).toContainEqual({ family: "ipv4", table: 7 });
  });
});

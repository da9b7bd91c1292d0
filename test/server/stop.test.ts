// The Stop RPC over real gRPC (fake kernel) and `mfcctl stop`: the answer comes first, then the
// daemon's stop runs with the keep-forwarding choice; a daemon without a stop says UNAVAILABLE.
import { afterEach, describe, expect, it } from "vitest";
import { parseCommand } from "../../src/cli/parse-command.js";
import { runCommand, type RunContext } from "../../src/cli/run-command.js";
import { MfcError, Status } from "../../src/sdk/index.js";
import { startFakeServer, type FakeServer } from "./start-fake-server.js";

describe("Stop", () => {
  let s: FakeServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it("answers before the daemon stops: the reply arrives although the stop shuts the server down", async () => {
    const stops: boolean[] = [];
    const server = await startFakeServer(4, {}, { onStop: (how) => void (stops.push(how.keepForwarding), server.server.stop()) });
    s = server;
    expect(await server.client.stop({ keepForwarding: true })).toEqual({});
    expect(stops).toEqual([true]);
    await expect(server.client.listRoutes({})).rejects.toMatchObject({ code: Status.UNAVAILABLE });
  });

  it("is UNAVAILABLE where nothing can stop the daemon", async () => {
    s = await startFakeServer(4);
    const err = await s.client.stop({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MfcError);
    expect((err as MfcError).code).toBe(Status.UNAVAILABLE);
  });

  it("mfcctl stop [--keep-forwarding] sends it; any other argument is a usage error", async () => {
    const stops: { keepForwarding: boolean; upgrade: boolean }[] = [];
    s = await startFakeServer(4, {}, { onStop: (how) => stops.push(how) });
    const out: string[] = [];
    const ctx: RunContext = { client: s.client, addr: s.socketPath, stdout: { write: (t: string) => out.push(t) }, signal: new AbortController().signal };
    expect(await runCommand(parseCommand(["stop", "--keep-forwarding"]), ctx)).toBe(0);
    expect(await runCommand(parseCommand(["stop"]), ctx)).toBe(0);
    expect(await runCommand(parseCommand(["upgrade"]), ctx)).toBe(0);
    await expect.poll(() => stops).toEqual([
      { keepForwarding: true, upgrade: false },
      { keepForwarding: false, upgrade: false },
      { keepForwarding: false, upgrade: true },
    ]);
    expect(out.join("")).toMatch(/routes stay in the kernel/);
    expect(out.join("")).toMatch(/re-executing; forwarding goes on/);
    expect(() => parseCommand(["stop", "--now"])).toThrow(/stop: unexpected argument "--now"/);
    expect(() => parseCommand(["upgrade", "now"])).toThrow(/upgrade: unexpected argument "now"/);
  });
});

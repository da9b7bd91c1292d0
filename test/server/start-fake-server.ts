// An MfcdServer on a temporary Unix socket over a FakeKernel: real grpc-js and SDK, fake kernel.
import { NullStateStore } from "../../src/state/null-state-store.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { RouteEngine, type RouteEngineOptions } from "../../src/engine/route-engine.js";
import { createLogger, daemonInfoSource } from "../../src/server/config/index.js";
import { MfcdServer } from "../../src/server/rpc/index.js";
import { createMfcClient, type MfcClient } from "../../src/sdk/index.js";
import { FakeKernel } from "../unit/fake-kernel.js";

export interface FakeServer {
  kernel: FakeKernel;
  engine: RouteEngine;
  server: MfcdServer;
  client: MfcClient;
  socketPath: string;
  close(): Promise<void>;
}

/** What GetInfo of the fake server reports besides the tables (as mfcd's main.ts would). */
export const FAKE_KERNEL_INFO = {
  release: "6.1.0-fake",
  capabilities: [
    { name: "ipv4", option: "CONFIG_IP_MROUTE", what: "IPv4 multicast routing", available: true, detail: "fake kernel" },
    { name: "ipv6", option: "CONFIG_IPV6_MROUTE", what: "IPv6 multicast routing", available: false, detail: "fake kernel" },
  ],
};
export const FAKE_STATE_FILE = "/nonexistent/fake.state";

/** `engineOptions`: e.g. kernelSupport, to play a kernel lacking IPv6 or tables. */
export async function startFakeServer(interfaces = 40, engineOptions: RouteEngineOptions = {}): Promise<FakeServer> {
  const kernel = new FakeKernel();
  for (let i = 0; i < interfaces; i++) kernel.addInterface(`eth${i}`, 100 + i);
  // As in main.ts: the IPv4 default table is owned from the start, others when first opened.
  const sockets: { family: "ipv4" | "ipv6"; table: number }[] = [{ family: "ipv4", table: 0 }];
  const engine = new RouteEngine((family, table) => {
    if (family !== "ipv4" || table !== 0) sockets.push({ family, table });
    return kernel;
  }, engineOptions);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-test-"));
  const socketPath = path.join(dir, "mfcd.sock");
  const server = await MfcdServer.start({
    engine,
    store: new NullStateStore(),
    listen: [{ kind: "unix", path: socketPath }],
    logger: createLogger("silent"),
    info: daemonInfoSource({ kernel: FAKE_KERNEL_INFO, sockets, stateFile: FAKE_STATE_FILE }),
  });
  const client = createMfcClient(`unix:${socketPath}`);
  let closed = false;
  return {
    kernel,
    engine,
    server,
    client,
    socketPath,
    async close() {
      if (closed) return;
      closed = true;
      client.close();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

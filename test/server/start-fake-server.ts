// An MfcdServer on a temporary Unix socket over a FakeKernel: real grpc-js and SDK, fake kernel.
import { NullStateStore } from "../../src/state/null-state-store.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { RouteEngine, type RouteEngineOptions } from "../../src/engine/route-engine.js";
import { createLogger } from "../../src/server/logger.js";
import { MfcdServer } from "../../src/server/mfcd-server.js";
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

/** `engineOptions`: e.g. kernelSupport, to play a kernel lacking IPv6 or tables. */
export async function startFakeServer(interfaces = 40, engineOptions: RouteEngineOptions = {}): Promise<FakeServer> {
  const kernel = new FakeKernel();
  for (let i = 0; i < interfaces; i++) kernel.addInterface(`eth${i}`, 100 + i);
  const engine = new RouteEngine(() => kernel, engineOptions);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-test-"));
  const socketPath = path.join(dir, "mfcd.sock");
  const server = await MfcdServer.start({
    engine,
    store: new NullStateStore(),
    listen: [{ kind: "unix", path: socketPath }],
    logger: createLogger("silent"),
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

// An MfcdServer on a temporary Unix socket over a FakeKernel: real grpc-js and SDK, fake kernel.
import { NullStateStore } from "../../src/state/null-state-store.js";
import type { RouteStore } from "../../src/state/route-store.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { RouteEngine, type RouteEngineOptions } from "../../src/engine/route-engine.js";
import { createLogger, daemonInfoSource } from "../../src/server/config/index.js";
import { MfcdServer, type Diagnostics } from "../../src/server/rpc/index.js";
import { createMfcClient, type MfcClient } from "../../src/sdk/index.js";
import { FakeKernel } from "../unit/fake-kernel.js";

export interface FakeServer {
  /** The IPv4 default table's kernel (with `kernelPerTable: false`, every table's). */
  kernel: FakeKernel;
  /** Each opened (family, table)'s kernel, e.g. "ipv4/0", "ipv6/7". */
  kernels: Map<string, FakeKernel>;
  store: RouteStore;
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

export interface FakeServerOptions {
  /** A FakeKernel of its own per (family, table), as the kernel has (default: one shared). */
  kernelPerTable?: boolean;
  /** Default: a NullStateStore. */
  store?: RouteStore;
  diagnostics?: Diagnostics;
  /** What the Stop RPC calls (default: none, Stop is UNAVAILABLE). */
  onStop?: (how: { keepForwarding: boolean; upgrade: boolean }) => void;
}

/** `engineOptions`: e.g. kernelSupport, to play a kernel lacking IPv6 or tables. */
export async function startFakeServer(
  interfaces = 40,
  engineOptions: RouteEngineOptions = {},
  options: FakeServerOptions = {},
): Promise<FakeServer> {
  const newKernel = () => {
    const k = new FakeKernel();
    for (let i = 0; i < interfaces; i++) k.addInterface(`eth${i}`, 100 + i);
    return k;
  };
  const kernel = newKernel();
  const kernels = new Map([["ipv4/0", kernel]]);
  // As in main.ts: the IPv4 default table is owned from the start, others when first opened.
  const sockets: { family: "ipv4" | "ipv6"; table: number }[] = [{ family: "ipv4", table: 0 }];
  const engine = new RouteEngine((family, table) => {
    if (family !== "ipv4" || table !== 0) sockets.push({ family, table });
    if (!options.kernelPerTable) return kernel;
    const key = `${family}/${table}`;
    const k = kernels.get(key) ?? newKernel();
    kernels.set(key, k);
    return k;
  }, engineOptions);
  const store = options.store ?? new NullStateStore();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-test-"));
  const socketPath = path.join(dir, "mfcd.sock");
  const server = await MfcdServer.start({
    engine,
    store,
    diagnostics: options.diagnostics,
    ...(options.onStop ? { onStop: options.onStop } : {}),
    listen: [{ kind: "unix", path: socketPath }],
    logger: createLogger("silent"),
    info: daemonInfoSource({ kernel: FAKE_KERNEL_INFO, sockets, stateFile: FAKE_STATE_FILE }),
  });
  const client = createMfcClient(`unix:${socketPath}`);
  let closed = false;
  return {
    kernel,
    kernels,
    store,
    engine,
    server,
    client,
    socketPath,
    async close() {
      if (closed) return;
      closed = true;
      client.close();
      await server.stop();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

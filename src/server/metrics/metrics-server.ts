// `--metrics-listen ADDR`: a plain HTTP endpoint for Prometheus (GET /metrics). Separate from the
// gRPC listeners so that scraping needs no gRPC client and no access to the control socket.

import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ListenAddress } from "../../shared/listen-address.js";
import { prepareUnixSocket } from "../listen/index.js";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface MetricsServer {
  /** host:port actually bound (port 0 → the chosen port), or unix:/path. */
  readonly address: string;
  close(): Promise<void>;
}

export async function startMetricsServer(addr: ListenAddress, render: () => string): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: mfcd serves /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    let body: string;
    try {
      body = render();
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" }).end(`mfcd: ${err instanceof Error ? err.message : String(err)}\n`);
      return;
    }
    res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE }).end(req.method === "HEAD" ? undefined : body);
  });
  // Scrapers keep connections alive; they must not keep mfcd from exiting.
  server.keepAliveTimeout = 5000;
  if (addr.kind === "unix") await prepareUnixSocket(addr.path);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (addr.kind === "unix") server.listen(addr.path, resolve);
    else server.listen(addr.port, addr.host, resolve);
  });
  const bound = server.address();
  const address =
    typeof bound === "string" || bound === null
      ? `unix:${addr.kind === "unix" ? addr.path : String(bound)}`
      : formatHostPort(bound);
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function formatHostPort(a: AddressInfo): string {
  return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

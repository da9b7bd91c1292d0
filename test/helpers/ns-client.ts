// A one-shot SDK call for a namespace the test process cannot reach over TCP (each namespace
// has its own loopback): run it with `ip netns exec NS node --import tsx ns-client.ts JSON`.
// JSON: { address, call: "health" | "listRoutes", serverName?, ca?, cert?, key? } (PEM paths;
// with ca the channel uses TLS, with cert+key it presents a client certificate).
// Prints {"ok":true,"value":...} or {"ok":false,"code":N,"message":"..."} on stdout.

import fs from "node:fs";
import { ChannelCredentials } from "@grpc/grpc-js";
import { createMfcClient, MfcError } from "../../src/sdk/index.js";
import { bound } from "./time-bounds.js";

interface Request {
  address: string;
  call: "health" | "listRoutes";
  serverName?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

const req = JSON.parse(process.argv[2] ?? "{}") as Request;
const read = (p: string | undefined) => (p === undefined ? null : fs.readFileSync(p));
const credentials =
  req.ca === undefined ? undefined : ChannelCredentials.createSsl(read(req.ca), read(req.key), read(req.cert));
const client = createMfcClient(req.address, {
  deadlineMs: bound(5000),
  readAttempts: 1,
  ...(credentials ? { credentials } : {}),
  ...(req.serverName ? { channelOptions: { "grpc.ssl_target_name_override": req.serverName } } : {}),
});
try {
  const value = req.call === "health" ? await client.health() : (await client.listRoutes({})).routes.length;
  process.stdout.write(JSON.stringify({ ok: true, value }));
} catch (err) {
  const code = err instanceof MfcError ? err.code : -1;
  process.stdout.write(JSON.stringify({ ok: false, code, message: err instanceof Error ? err.message : String(err) }));
} finally {
  client.close();
}

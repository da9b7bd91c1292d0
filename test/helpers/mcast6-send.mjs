#!/usr/bin/env node
// IPv6 multicast UDP sender for the namespace lab (the udp6 sibling of mcast-send.mjs):
//   ip netns exec NS node mcast6-send.mjs --group ff3e::1 --port 5000 --hops 8 \
//       --source fd00:0:1::2 --iface eth0 --count 10 [--interval-ms 1] [--size 64] [--first-seq 0]
//
// Binds --source (it must be an address of this namespace, usable at once: add it `nodad`),
// sends through --iface (IPV6_MULTICAST_IF) with hop limit --hops (IPV6_MULTICAST_HOPS; a
// router forwards only hop limit ≥ 2). Each datagram starts with the magic "MFCT" and a
// big-endian uint32 sequence number, zero padded to --size bytes (≥ 8). Prints one JSON summary
// line {sent, errors, firstError, elapsedMs} and exits 0; 2 on bad arguments or setup errors.

import dgram from "node:dgram";
import { parseArgs } from "node:util";
import { setTimeout } from "node:timers/promises";

function fail(msg) {
  process.stderr.write(`mcast6-send: ${msg}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      group: { type: "string" },
      port: { type: "string" },
      hops: { type: "string" },
      source: { type: "string" },
      iface: { type: "string" },
      count: { type: "string" },
      "interval-ms": { type: "string", default: "1" },
      size: { type: "string", default: "64" },
      "first-seq": { type: "string", default: "0" },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err.message);
}

function int(name, min, max) {
  const raw = values[name];
  if (raw === undefined) fail(`--${name} is required`);
  if (!/^\d+$/.test(raw)) fail(`--${name} must be an integer, got ${JSON.stringify(raw)}`);
  const v = Number(raw);
  if (v < min || v > max) fail(`--${name} must be in ${min}..${max}, got ${v}`);
  return v;
}

const group = values.group ?? fail("--group is required");
const source = values.source ?? fail("--source is required");
const iface = values.iface ?? fail("--iface is required");
const port = int("port", 1, 65535);
const hops = int("hops", 0, 255);
const count = int("count", 0, 1_000_000);
const intervalMs = int("interval-ms", 0, 60_000);
const size = int("size", 8, 65_000);
const firstSeq = int("first-seq", 0, 2 ** 32 - 1 - count);

const sock = dgram.createSocket({ type: "udp6" });
sock.on("error", (err) => fail(`socket error: ${err.message}`));
await new Promise((resolve) => sock.bind({ port: 0, address: source }, resolve));
try {
  sock.setMulticastTTL(hops);
  sock.setMulticastInterface(`::%${iface}`);
} catch (err) {
  fail(`socket setup: ${err.message}`);
}

const payload = Buffer.alloc(size);
Buffer.from("MFCT", "ascii").copy(payload, 0);
let sent = 0;
let errors = 0;
let firstError = null;
const start = Date.now();
for (let i = 0; i < count; i++) {
  payload.writeUInt32BE(firstSeq + i, 4);
  const err = await new Promise((resolve) => sock.send(payload, port, group, resolve));
  if (err) {
    errors += 1;
    firstError ??= err.message;
  } else {
    sent += 1;
  }
  if (intervalMs > 0 && i + 1 < count) await setTimeout(intervalMs);
}
sock.close();
const summary = { sent, errors, firstError, elapsedMs: Date.now() - start };
process.stdout.write(JSON.stringify(summary) + "\n", () => process.exit(0));

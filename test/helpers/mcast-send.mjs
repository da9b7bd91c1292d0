#!/usr/bin/env node
// Multicast UDP sender of either family for the namespace lab. Run inside a namespace:
//   ip netns exec NS node mcast-send.mjs --group 239.1.1.1 --port 5000 --ttl 8 \
//       --iface-addr 10.1.0.2 --count 10 --interval-ms 20 [--size 64] [--first-seq 0]
//   ip netns exec NS node mcast-send.mjs ... --duration-ms 5000 [--count N]   (steady stream)
//   ip netns exec NS node mcast-send.mjs --group ff3e::1 --port 5000 --ttl 8 \
//       --iface-addr fd00:0:1::2 --iface eth0 --count 10
//
// The group's family picks the socket (udp4 or udp6). It binds --iface-addr and sends through
// that interface (IPv4) or through --iface (IPv6, required there; the address must be usable
// at once: add it `nodad`). --ttl is the hop limit for IPv6; a router forwards only ≥ 2.
// Each datagram starts with the magic "MFCT" and a big-endian uint32 sequence number, then
// zero padding up to --size bytes (>= 8). Prints `STARTED` once the socket is set up, and one
// JSON summary line on exit: {sent, errors, firstError, group, port, ttl, ifaceAddr, size,
// firstSeq, elapsedMs}. Always stops by itself: after --count datagrams, or when --duration-ms
// is over (whichever comes first), or on SIGTERM/SIGINT; with --stop-on-stdin-end also when
// stdin ends (so a stream dies with the process that started it).
// --start-interval-ms N: send one datagram every N ms until a line `FULL` arrives on stdin, then
// every --interval-ms (a flow whose first packets wait in the kernel's 4-packet queue for an
// unresolved (S,G) starts slowly and speeds up once it is delivered; see traffic.ts).
// Exit codes: 0 done (send errors are counted in the summary), 2 bad arguments or setup error.

import dgram from "node:dgram";
import { parseArgs } from "node:util";
import { setTimeout, clearTimeout } from "node:timers";

const MAGIC = Buffer.from("MFCT", "ascii");
const MAX_DURATION_MS = 3_600_000;

function fail(msg) {
  process.stderr.write(`mcast-send: ${msg}\n`);
  process.exit(2);
}

function intArg(values, name, { min, max, def }) {
  const raw = values[name];
  if (raw === undefined) {
    if (def === undefined) fail(`--${name} is required`);
    return def;
  }
  if (!/^-?\d+$/.test(raw)) fail(`--${name} must be an integer, got ${JSON.stringify(raw)}`);
  const v = Number(raw);
  if (v < min || v > max) fail(`--${name} must be in ${min}..${max}, got ${v}`);
  return v;
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      group: { type: "string" },
      port: { type: "string" },
      count: { type: "string" },
      "interval-ms": { type: "string" },
      ttl: { type: "string" },
      "iface-addr": { type: "string" },
      iface: { type: "string" },
      size: { type: "string" },
      "duration-ms": { type: "string" },
      "first-seq": { type: "string" },
      "stop-on-stdin-end": { type: "boolean", default: false },
      "start-interval-ms": { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err.message);
}

const group = values.group ?? fail("--group is required");
const port = intArg(values, "port", { min: 1, max: 65535 });
const ttl = intArg(values, "ttl", { min: 0, max: 255 });
const intervalMs = intArg(values, "interval-ms", { min: 0, max: 60_000, def: 10 });
const size = intArg(values, "size", { min: 8, max: 65507, def: 64 });
const firstSeq = intArg(values, "first-seq", { min: 0, max: 2 ** 32 - 1, def: 0 });
const durationMs =
  values["duration-ms"] === undefined
    ? undefined
    : intArg(values, "duration-ms", { min: 0, max: MAX_DURATION_MS });
const count =
  values.count === undefined && durationMs !== undefined
    ? Infinity
    : intArg(values, "count", { min: 0, max: 2 ** 32 - 1 - firstSeq });
const ifaceAddr = values["iface-addr"];
const ipv6 = group.includes(":");
if (ipv6 && values.iface === undefined) fail("--iface is required for an IPv6 group");
// IPv6 names the outgoing interface by index ("::%eth0"), IPv4 by its address.
const multicastIf = ipv6 ? `::%${values.iface}` : ifaceAddr;
const startIntervalMs =
  values["start-interval-ms"] === undefined
    ? undefined
    : intArg(values, "start-interval-ms", { min: 0, max: 60_000 });

let stopping = false;
let wake = () => {};
function stop() {
  stopping = true;
  wake();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (values["stop-on-stdin-end"]) {
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
}

// Slow start: FULL on stdin switches to --interval-ms (and ends the current slow gap).
let fullRequested = startIntervalMs === undefined;
if (startIntervalMs !== undefined) {
  let buf = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d) => {
    buf += d;
    if (!fullRequested && buf.split("\n").includes("FULL")) {
      fullRequested = true;
      wake();
    }
    if (buf.length > 4096) buf = buf.slice(-16);
  });
  process.stdin.on("error", () => {});
  process.stdin.resume();
}

function sleepUntil(t) {
  const ms = t - Date.now();
  if (ms <= 0 || stopping) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      wake = () => {};
      resolve();
    }, ms);
    wake = () => {
      clearTimeout(timer);
      wake = () => {};
      resolve();
    };
  });
}

const sock = dgram.createSocket({ type: ipv6 ? "udp6" : "udp4" });
sock.on("error", (err) => fail(`socket error: ${err.message}`));

await new Promise((resolve) => {
  sock.bind(ifaceAddr === undefined ? { port: 0 } : { port: 0, address: ifaceAddr }, resolve);
});
try {
  sock.setMulticastTTL(ttl);
  if (multicastIf !== undefined) sock.setMulticastInterface(multicastIf);
} catch (err) {
  fail(`socket setup: ${err.message}`);
}
process.stdout.write("STARTED\n");

const payload = Buffer.alloc(size);
MAGIC.copy(payload, 0);
let sent = 0;
let errors = 0;
let firstError = null;
const start = Date.now();
const deadline = durationMs === undefined ? Infinity : start + durationMs;
// Datagram i is due at phaseStart + (i - phaseFirst) * phaseInterval (no drift within a phase).
let phaseStart = start;
let phaseFirst = 0;
let phaseInterval = fullRequested ? intervalMs : startIntervalMs;

for (let i = 0; i < count && !stopping && Date.now() < deadline; i++) {
  payload.writeUInt32BE(firstSeq + i, 4);
  // dgram copies nothing until the send completes: wait for it before reusing the buffer.
  const err = await new Promise((resolve) => sock.send(payload, port, group, resolve));
  if (err) {
    errors += 1;
    firstError ??= err.message;
  } else {
    sent += 1;
  }
  if (fullRequested && phaseInterval !== intervalMs) {
    phaseStart = Date.now();
    phaseFirst = i + 1;
    phaseInterval = intervalMs;
  }
  if (i + 1 < count) await sleepUntil(Math.min(phaseStart + (i + 1 - phaseFirst) * phaseInterval, deadline));
}

const summary = {
  sent,
  errors,
  firstError,
  group,
  port,
  ttl,
  ifaceAddr: ifaceAddr ?? null,
  size,
  firstSeq,
  elapsedMs: Date.now() - start,
};
sock.close();
process.stdout.write(JSON.stringify(summary) + "\n", () => process.exit(0));

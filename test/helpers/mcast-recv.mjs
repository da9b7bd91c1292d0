#!/usr/bin/env node
// Multicast UDP receiver of either family for the namespace lab. Run inside a namespace:
//   ip netns exec NS node mcast-recv.mjs --group 239.1.1.1 --port 5000 --iface-addr 10.1.1.2 \
//       [--source 10.1.0.2] [--progress-ms 25] [--ignore-stdin]
//   ip netns exec NS node mcast-recv.mjs --group ff3e::1 --port 5000 --iface eth0
//
// The group's family picks the socket (udp4 or udp6). Binds group:port (so only that group's
// datagrams arrive), joins the group on the interface with address --iface-addr (IPv4;
// source-specific when --source is given) or on interface --iface by index (IPv6: a receiver
// needs no address of its own), then prints `READY`.
// While running it prints `COUNT <n>` whenever the count changed (at most every --progress-ms).
// On SIGTERM, SIGINT or end of stdin (unless --ignore-stdin) it prints one JSON line
// {count, seqs, from} and exits 0: count = datagrams received, seqs = their sequence numbers
// (datagrams from mcast-send.mjs), from = unique sender addresses as seen.
// Exit code 2: bad arguments or could not bind/join.

import dgram from "node:dgram";
import { parseArgs } from "node:util";
import { setInterval, clearInterval } from "node:timers";

function fail(msg) {
  process.stderr.write(`mcast-recv: ${msg}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      group: { type: "string" },
      port: { type: "string" },
      "iface-addr": { type: "string" },
      iface: { type: "string" },
      source: { type: "string" },
      "progress-ms": { type: "string", default: "25" },
      "ignore-stdin": { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err.message);
}

const group = values.group ?? fail("--group is required");
const ipv6 = group.includes(":");
// IPv6 joins by interface index ("::%eth0"), IPv4 by the interface's address.
const joinOn = ipv6
  ? `::%${values.iface ?? fail("--iface is required for an IPv6 group")}`
  : (values["iface-addr"] ?? fail("--iface-addr is required for an IPv4 group"));
const port = Number(values.port ?? fail("--port is required"));
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`bad --port ${values.port}`);
const progressMs = Number(values["progress-ms"]);
if (!Number.isInteger(progressMs) || progressMs < 0) fail(`bad --progress-ms ${values["progress-ms"]}`);
const source = values.source;

let count = 0;
const seqs = [];
const from = new Set();

const sock = dgram.createSocket({ type: ipv6 ? "udp6" : "udp4", reuseAddr: true });
sock.on("error", (err) => fail(`socket error: ${err.message}`));
sock.on("message", (msg, rinfo) => {
  count += 1;
  from.add(rinfo.address);
  if (msg.length >= 8 && msg.toString("ascii", 0, 4) === "MFCT") seqs.push(msg.readUInt32BE(4));
});

let finished = false;
let progressTimer;
function finish() {
  if (finished) return;
  finished = true;
  if (progressTimer !== undefined) clearInterval(progressTimer);
  try {
    sock.close();
  } catch {
    // not bound yet / already closed
  }
  const line = JSON.stringify({ count, seqs, from: [...from] }) + "\n";
  process.stdout.write(line, () => process.exit(0));
}
process.on("SIGTERM", finish);
process.on("SIGINT", finish);
if (!values["ignore-stdin"]) {
  process.stdin.on("end", finish);
  process.stdin.on("close", finish);
  process.stdin.on("error", finish);
  process.stdin.resume();
}

sock.bind({ port, address: group }, () => {
  if (finished) return;
  try {
    if (source === undefined) sock.addMembership(group, joinOn);
    else sock.addSourceSpecificMembership(source, group, joinOn);
  } catch (err) {
    fail(`join ${source === undefined ? "" : `(${source}, `}${group}${source === undefined ? "" : ")"} on ${joinOn}: ${err.message}`);
  }
  if (progressMs > 0) {
    let reported = 0;
    progressTimer = setInterval(() => {
      if (count !== reported) {
        reported = count;
        process.stdout.write(`COUNT ${count}\n`);
      }
    }, progressMs);
  }
  process.stdout.write("READY\n");
});

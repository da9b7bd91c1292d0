#!/usr/bin/env node
// IPv6 multicast UDP receiver for the namespace lab (the udp6 sibling of mcast-recv.mjs):
//   ip netns exec NS node mcast6-recv.mjs --group ff3e::1 --port 5000 --iface eth0
//
// Binds [group]:port (so only that group's datagrams arrive, whatever else the namespace
// joined), joins the group on --iface (IPV6_JOIN_GROUP by interface index), then prints
// `READY`, and `COUNT <n>` whenever the count changed (at most every 25 ms). On SIGTERM, SIGINT
// or end of stdin it prints one JSON line {count, seqs, from} and exits 0 (seqs: sequence
// numbers of mcast6-send.mjs datagrams; from: unique sender addresses). Exit 2: bad arguments
// or could not bind/join.

import dgram from "node:dgram";
import { parseArgs } from "node:util";
import { setInterval, clearInterval } from "node:timers";

function fail(msg) {
  process.stderr.write(`mcast6-recv: ${msg}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: { group: { type: "string" }, port: { type: "string" }, iface: { type: "string" } },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  fail(err.message);
}
const group = values.group ?? fail("--group is required");
const iface = values.iface ?? fail("--iface is required");
const port = Number(values.port ?? fail("--port is required"));
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`bad --port ${values.port}`);

let count = 0;
const seqs = [];
const from = new Set();
const sock = dgram.createSocket({ type: "udp6", reuseAddr: true });
sock.on("error", (err) => fail(`socket error: ${err.message}`));
sock.on("message", (msg, rinfo) => {
  count += 1;
  from.add(rinfo.address);
  if (msg.length >= 8 && msg.toString("ascii", 0, 4) === "MFCT") seqs.push(msg.readUInt32BE(4));
});

let finished = false;
let timer;
function finish() {
  if (finished) return;
  finished = true;
  clearInterval(timer);
  try {
    sock.close();
  } catch {
    // not bound yet
  }
  process.stdout.write(JSON.stringify({ count, seqs, from: [...from] }) + "\n", () => process.exit(0));
}
process.on("SIGTERM", finish);
process.on("SIGINT", finish);
process.stdin.on("end", finish);
process.stdin.on("error", finish);
process.stdin.resume();

sock.bind({ port, address: group }, () => {
  if (finished) return;
  try {
    sock.addMembership(group, `::%${iface}`);
  } catch (err) {
    fail(`join ${group} on ${iface}: ${err.message}`);
  }
  let reported = 0;
  timer = setInterval(() => {
    if (count !== reported) {
      reported = count;
      process.stdout.write(`COUNT ${count}\n`);
    }
  }, 25);
  process.stdout.write("READY\n");
});

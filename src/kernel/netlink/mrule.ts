// `ip mrule` without the ip binary: multicast routing policy rules (RTM_NEWRULE / RTM_DELRULE,
// family RTNL_FAMILY_IPMR / IP6MR) that steer traffic arriving on an interface to a table.

import os from "node:os";
import { KernelError } from "../ffi/index.js";
import { RT6_TABLE_DFLT, RT_TABLE_DEFAULT, RTNL_FAMILY_IP6MR, RTNL_FAMILY_IPMR } from "../abi/index.js";
import { NetlinkRouteSocket } from "./netlink-route-socket.js";

const RTM_NEWRULE = 32;
const RTM_DELRULE = 33;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const FRA_IIFNAME = 3;
const FRA_PRIORITY = 6;
const FRA_TABLE = 15;
const FR_ACT_TO_TBL = 1;
const FAMILY = { ipv4: RTNL_FAMILY_IPMR, ipv6: RTNL_FAMILY_IP6MR } as const;
/** The kernel's id of the default table (an mrule for table 0 means this one). */
const DEFAULT_TABLE = { ipv4: RT_TABLE_DEFAULT, ipv6: RT6_TABLE_DFLT } as const;

export interface Mrule {
  family: "ipv4" | "ipv6";
  iif: string;
  /** mfcd table id (0 = the default table). */
  table: number;
  /** Rule preference (lower first); default 1000 (the kernel's own default rule is 32767). */
  priority?: number;
}

function body(rule: Mrule): Buffer {
  const name = Buffer.from(`${rule.iif}\0`);
  const nameLen = 4 + name.length;
  const padded = (nameLen + 3) & ~3;
  const buf = Buffer.alloc(12 + padded + 8 + 8);
  buf[0] = FAMILY[rule.family];
  const table = rule.table === 0 ? DEFAULT_TABLE[rule.family] : rule.table;
  buf[4] = table < 256 ? table : 252; // RT_TABLE_COMPAT; FRA_TABLE carries the real id
  buf[7] = FR_ACT_TO_TBL;
  let off = 12;
  buf.writeUInt16LE(nameLen, off);
  buf.writeUInt16LE(FRA_IIFNAME, off + 2);
  name.copy(buf, off + 4);
  off += padded;
  buf.writeUInt16LE(8, off);
  buf.writeUInt16LE(FRA_TABLE, off + 2);
  buf.writeUInt32LE(table, off + 4);
  off += 8;
  buf.writeUInt16LE(8, off);
  buf.writeUInt16LE(FRA_PRIORITY, off + 2);
  buf.writeUInt32LE(rule.priority ?? 1000, off + 4);
  return buf;
}

function request(type: number, flags: number, rule: Mrule, netns?: string): void {
  const sock = NetlinkRouteSocket.open(netns);
  try {
    const answer = sock.request(type, body(rule), flags | NLM_F_ACK);
    if ("errno" in answer && answer.errno !== 0) {
      throw new KernelError(type === RTM_NEWRULE ? "mrule add" : "mrule del", answer.errno, `iif ${rule.iif} lookup ${rule.table}`);
    }
  } finally {
    sock.close();
  }
}

/** `ip mrule add iif IIF lookup TABLE pref P`; an identical existing rule is fine. */
export function addMrule(rule: Mrule, netns?: string): void {
  try {
    request(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, rule, netns);
  } catch (err) {
    if (err instanceof KernelError && err.errno === os.constants.errno.EEXIST) return;
    throw err;
  }
}

/** `ip mrule del ...`; a rule that is already gone is fine. */
export function delMrule(rule: Mrule, netns?: string): void {
  try {
    request(RTM_DELRULE, 0, rule, netns);
  } catch (err) {
    if (err instanceof KernelError && err.errno === os.constants.errno.ENOENT) return;
    throw err;
  }
}

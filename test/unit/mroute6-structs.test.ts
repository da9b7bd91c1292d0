// Struct layouts of the IPv6 multicast routing API against kernel-facts.md (x86_64, Linux 6.18),
// cross-checked against koffi's C layout of the same declarations (linux/mroute6.h, in6.h), plus
// the rtnetlink IP6MR decoder. Pure: no kernel. (IPv6 text: address.test.ts; /proc:
// proc-mroute.test.ts.)
import koffi from "koffi";
import os from "node:os";
import { describe, expect, it } from "vitest";
import { bufferToIpv6, ipv6ToBuffer } from "../../src/address/index.js";
import { MRT_OPTIONS } from "../../src/kernel/mroute/mroute-family.js";
import {
  MRT6_ADD_MFC,
  MRT6_ADD_MIF,
  MRT6_ASSERT,
  MRT6_DEL_MFC,
  MRT6_DEL_MIF,
  MRT6_DONE,
  MRT6_FLUSH,
  MRT6_INIT,
  MRT6_TABLE,
  MRT6MSG_NOCACHE,
  MRT6MSG_WRONGMIF,
  RTNL_FAMILY_IP6MR,
  RTNL_FAMILY_IPMR,
  decodeMfc6Message,
} from "../../src/kernel/abi/index.js";
import {
  ICMP6_FILTER_SIZE,
  IPV6_STRUCTS as V6,
  MF6CCTL,
  MF6CCTL_SIZE,
  MIF6CTL,
  MIF6CTL_SIZE,
  MRT6MSG,
  MRT6MSG_SIZE,
  SIOC_MIF_REQ6,
  SIOC_SG_REQ6,
  SIOC_SG_REQ6_SIZE,
  SOCKADDR_IN6,
  SOCKADDR_IN6_SIZE,
  decodeMf6cctlOifs,
  encodeIcmp6FilterBlockAll,
  writeSockaddrIn6,
} from "../../src/kernel/abi/mroute6-structs.js";
import { decodeSgReq, decodeUpcall, decodeVifReq, encodeMfcctl, encodeSgReq, encodeVifReq, encodeVifctl } from "../../src/kernel/abi/mroute-struct-codec.js";
import { SIOC_VIF_COUNT_SIZE as SIOC_MIF_REQ6_SIZE } from "../../src/kernel/abi/struct-fields.js";

/** IPv6 oifs have no thresholds: the codec reads only the MIFs of the map. */
const mifs = (...m: number[]): Map<number, number> => new Map(m.map((v) => [v, 1]));

const LE = os.endianness() === "LE";
const u16 = (b: Buffer, o: number): number => (LE ? b.readUInt16LE(o) : b.readUInt16BE(o));
const u32 = (b: Buffer, o: number): number => (LE ? b.readUInt32LE(o) : b.readUInt32BE(o));

// The C declarations, laid out by koffi with the platform's alignment rules.
const in6Addr = koffi.struct("m6t_in6_addr", { s6_addr: koffi.array("uint8_t", 16) });
const sockaddrIn6 = koffi.struct("m6t_sockaddr_in6", {
  sin6_family: "uint16_t",
  sin6_port: "uint16_t",
  sin6_flowinfo: "uint32_t",
  sin6_addr: in6Addr,
  sin6_scope_id: "uint32_t",
});
const C = {
  mif6ctl: koffi.struct("m6t_mif6ctl", {
    mif6c_mifi: "uint16_t",
    mif6c_flags: "uint8_t",
    vifc_threshold: "uint8_t",
    mif6c_pifi: "uint16_t",
    vifc_rate_limit: "unsigned int",
  }),
  mf6cctl: koffi.struct("m6t_mf6cctl", {
    mf6cc_origin: sockaddrIn6,
    mf6cc_mcastgrp: sockaddrIn6,
    mf6cc_parent: "uint16_t",
    mf6cc_ifset: koffi.struct("m6t_if_set", { ifs_bits: koffi.array("uint32_t", 8) }),
  }),
  sioc_sg_req6: koffi.struct("m6t_sioc_sg_req6", {
    src: sockaddrIn6,
    grp: sockaddrIn6,
    pktcnt: "unsigned long",
    bytecnt: "unsigned long",
    wrong_if: "unsigned long",
  }),
  sioc_mif_req6: koffi.struct("m6t_sioc_mif_req6", {
    mifi: "uint16_t",
    icount: "unsigned long",
    ocount: "unsigned long",
    ibytes: "unsigned long",
    obytes: "unsigned long",
  }),
  mrt6msg: koffi.struct("m6t_mrt6msg", {
    im6_mbz: "uint8_t",
    im6_msgtype: "uint8_t",
    im6_mif: "uint16_t",
    im6_pad: "uint32_t",
    im6_src: in6Addr,
    im6_dst: in6Addr,
  }),
};

describe("struct sizes (kernel-facts.md; the kernel rejects a short optlen with EINVAL)", () => {
  it("match kernel-facts.md", () => {
    expect(MIF6CTL_SIZE).toBe(12);
    expect(MF6CCTL_SIZE).toBe(92);
    expect(MRT6MSG_SIZE).toBe(40);
    expect(SOCKADDR_IN6_SIZE).toBe(28);
    expect(SIOC_SG_REQ6_SIZE).toBe(80);
    expect(SIOC_MIF_REQ6_SIZE).toBe(40);
    expect(ICMP6_FILTER_SIZE).toBe(32);
  });

  it("match the C layout of the same declarations", () => {
    expect(koffi.sizeof(sockaddrIn6)).toBe(SOCKADDR_IN6_SIZE);
    expect(koffi.sizeof(C.mif6ctl)).toBe(MIF6CTL_SIZE);
    expect(koffi.sizeof(C.mf6cctl)).toBe(MF6CCTL_SIZE);
    expect(koffi.sizeof(C.sioc_sg_req6)).toBe(SIOC_SG_REQ6_SIZE);
    expect(koffi.sizeof(C.sioc_mif_req6)).toBe(SIOC_MIF_REQ6_SIZE);
    expect(koffi.sizeof(C.mrt6msg)).toBe(MRT6MSG_SIZE);
  });

  it("offsets match kernel-facts.md and the C layout", () => {
    // kernel-facts: mifi u16 @0, flags u8 @2, threshold u8 @3, pifi u16 @4, pad, rate_limit @8.
    expect(MIF6CTL).toEqual({ mifi: 0, flags: 2, threshold: 3, pifi: 4, rateLimit: 8 });
    expect(koffi.offsetof(C.mif6ctl, "mif6c_pifi")).toBe(MIF6CTL.pifi);
    expect(koffi.offsetof(C.mif6ctl, "vifc_rate_limit")).toBe(MIF6CTL.rateLimit);
    // mrt6msg: im6_mbz @0, im6_msgtype @1, im6_mif u16 @2, im6_pad, im6_src @8, im6_dst @24.
    expect(MRT6MSG).toEqual({ mbz: 0, msgtype: 1, mif: 2, pad: 4, src: 8, dst: 24 });
    expect(koffi.offsetof(C.mrt6msg, "im6_src")).toBe(MRT6MSG.src);
    expect(koffi.offsetof(C.mrt6msg, "im6_dst")).toBe(MRT6MSG.dst);
    expect(koffi.offsetof(sockaddrIn6, "sin6_addr")).toBe(SOCKADDR_IN6.addr);
    expect(koffi.offsetof(sockaddrIn6, "sin6_scope_id")).toBe(SOCKADDR_IN6.scopeId);
    expect(koffi.offsetof(C.mf6cctl, "mf6cc_mcastgrp")).toBe(MF6CCTL.group);
    expect(koffi.offsetof(C.mf6cctl, "mf6cc_parent")).toBe(MF6CCTL.parent);
    expect(koffi.offsetof(C.mf6cctl, "mf6cc_ifset")).toBe(MF6CCTL.ifset);
    expect(koffi.offsetof(C.sioc_sg_req6, "grp")).toBe(SIOC_SG_REQ6.grp);
    expect(koffi.offsetof(C.sioc_sg_req6, "pktcnt")).toBe(SIOC_SG_REQ6.pktcnt);
    expect(koffi.offsetof(C.sioc_sg_req6, "bytecnt")).toBe(SIOC_SG_REQ6.bytecnt);
    expect(koffi.offsetof(C.sioc_sg_req6, "wrong_if")).toBe(SIOC_SG_REQ6.wrongIf);
    expect(koffi.offsetof(C.sioc_mif_req6, "icount")).toBe(SIOC_MIF_REQ6.icount);
    expect(koffi.offsetof(C.sioc_mif_req6, "ocount")).toBe(SIOC_MIF_REQ6.ocount);
    expect(koffi.offsetof(C.sioc_mif_req6, "ibytes")).toBe(SIOC_MIF_REQ6.ibytes);
    expect(koffi.offsetof(C.sioc_mif_req6, "obytes")).toBe(SIOC_MIF_REQ6.obytes);
  });

  it("encoders produce buffers of exactly that size", () => {
    expect(encodeVifctl(V6, { vif: 0, ifindex: 1 }).length).toBe(12);
    expect(encodeMfcctl(V6, { origin: "::", group: "ff3e::1", parent: 0 }).length).toBe(92);
    expect(encodeSgReq(V6, "fd00::1", "ff3e::1").length).toBe(80);
    expect(encodeVifReq(V6, 0).length).toBe(40);
    expect(encodeIcmp6FilterBlockAll().length).toBe(32);
  });
});

describe("sockaddr_in6", () => {
  it("family AF_INET6 (10, host order), port/flowinfo/scope 0, address in network order", () => {
    const out = Buffer.alloc(30, 0xee);
    writeSockaddrIn6("fd00:1::2", out, 1);
    expect(out[0]).toBe(0xee);
    expect(u16(out, 1 + SOCKADDR_IN6.family)).toBe(10);
    expect(out.subarray(1 + 2, 1 + 8).toString("hex")).toBe("000000000000");
    expect(bufferToIpv6(out, 1 + SOCKADDR_IN6.addr)).toBe("fd00:1::2");
    expect(u32(out, 1 + SOCKADDR_IN6.scopeId)).toBe(0);
    expect(out[29]).toBe(0xee);
  });
});

describe("mif6ctl", () => {
  it("encodes mifi u16, flags 0, threshold 1, pifi u16 (the ifindex) and rate_limit 0", () => {
    const b = encodeVifctl(V6, { vif: 31, ifindex: 0x1234 });
    expect(u16(b, MIF6CTL.mifi)).toBe(31);
    expect(b[MIF6CTL.flags]).toBe(0);
    expect(b[MIF6CTL.threshold]).toBe(1);
    expect(u16(b, MIF6CTL.pifi)).toBe(0x1234);
    expect([b[6], b[7]]).toEqual([0, 0]);
    expect(u32(b, MIF6CTL.rateLimit)).toBe(0);
  });

  it("clears a reused buffer and honours explicit fields", () => {
    const b = Buffer.alloc(MIF6CTL_SIZE, 0xff);
    encodeVifctl(V6, { vif: 2, ifindex: 7, flags: 1, threshold: 5, rateLimit: 9 }, b);
    expect([...b]).toEqual([...encodeVifctl(V6, { vif: 2, ifindex: 7, flags: 1, threshold: 5, rateLimit: 9 })]);
    expect([b[6], b[7]]).toEqual([0, 0]);
  });

  it("rejects an ifindex beyond u16 (the kernel would silently take another device)", () => {
    expect(() => encodeVifctl(V6, { vif: 0, ifindex: 65536 })).toThrow(RangeError);
    expect(() => encodeVifctl(V6, { vif: -1, ifindex: 1 })).toThrow(RangeError);
    expect(() => encodeVifctl(V6, { vif: 0x10000, ifindex: 1 })).toThrow(RangeError);
  });
});

describe("mf6cctl", () => {
  it("encodes origin/group sockaddr_in6, parent u16 and the oif bitmap; everything else 0", () => {
    const b = encodeMfcctl(V6, { origin: "fd00:1::2", group: "ff3e::4321", parent: 3, oifs: mifs(0, 5, 31) });
    expect(u16(b, MF6CCTL.origin)).toBe(10);
    expect(bufferToIpv6(b, MF6CCTL.origin + SOCKADDR_IN6.addr)).toBe("fd00:1::2");
    expect(u16(b, MF6CCTL.group)).toBe(10);
    expect(bufferToIpv6(b, MF6CCTL.group + SOCKADDR_IN6.addr)).toBe("ff3e::4321");
    expect(u16(b, MF6CCTL.parent)).toBe(3);
    expect([b[58], b[59]]).toEqual([0, 0]);
    expect(u32(b, MF6CCTL.ifset)).toBe((1 | (1 << 5) | 2 ** 31) >>> 0);
    expect(b.subarray(MF6CCTL.ifset + 4).every((x) => x === 0)).toBe(true);
    expect(decodeMf6cctlOifs(b)).toEqual([0, 5, 31]);
  });

  it("clears a reused buffer (old oifs must not leak into the next entry)", () => {
    const b = Buffer.alloc(MF6CCTL_SIZE, 0xff);
    encodeMfcctl(V6, { origin: "::", group: "ff05::1", parent: 0 }, b);
    expect(decodeMf6cctlOifs(b)).toEqual([]);
    expect([...b]).toEqual([...encodeMfcctl(V6, { origin: "::", group: "ff05::1", parent: 0 })]);
  });

  it("rejects MIFs beyond the 32 the kernel reads, parents beyond u16 and non-IPv6 addresses", () => {
    expect(() => encodeMfcctl(V6, { origin: "::", group: "ff3e::1", parent: 0, oifs: mifs(32) })).toThrow(RangeError);
    expect(() => encodeMfcctl(V6, { origin: "::", group: "ff3e::1", parent: 0, oifs: mifs(-1) })).toThrow(RangeError);
    expect(() => encodeMfcctl(V6, { origin: "::", group: "ff3e::1", parent: 0x10000 })).toThrow(RangeError);
    expect(() => encodeMfcctl(V6, { origin: "10.0.0.1", group: "ff3e::1", parent: 0 })).toThrow(RangeError);
    expect(() => encodeMfcctl(V6, { origin: "::", group: "239.1.1.1", parent: 0 })).toThrow(RangeError);
  });
});

describe("sioc_sg_req6 / sioc_mif_req6", () => {
  it("encodes (S,G) as two sockaddr_in6 and zeroes the counters", () => {
    const b = Buffer.alloc(SIOC_SG_REQ6_SIZE, 0xff);
    encodeSgReq(V6, "fd00:1::2", "ff3e::1", b);
    expect(bufferToIpv6(b, SIOC_SG_REQ6.src + SOCKADDR_IN6.addr)).toBe("fd00:1::2");
    expect(bufferToIpv6(b, SIOC_SG_REQ6.grp + SOCKADDR_IN6.addr)).toBe("ff3e::1");
    expect(b.subarray(SIOC_SG_REQ6.pktcnt).every((x) => x === 0)).toBe(true);
  });

  it("decodes unsigned long counters as exact bigints", () => {
    const b = encodeSgReq(V6, "fd00:1::2", "ff3e::1");
    const w = (o: number, v: bigint): void => void (LE ? b.writeBigUInt64LE(v, o) : b.writeBigUInt64BE(v, o));
    w(SIOC_SG_REQ6.pktcnt, 2n ** 63n + 1n);
    w(SIOC_SG_REQ6.bytecnt, 296n);
    w(SIOC_SG_REQ6.wrongIf, 3n);
    expect(decodeSgReq(V6, b)).toEqual({ packets: 2n ** 63n + 1n, bytes: 296n, wrongIf: 3n });
  });

  it("encodes mifi (padded to 8) and decodes icount/ocount/ibytes/obytes", () => {
    const b = encodeVifReq(V6, 0x102);
    expect(u16(b, SIOC_MIF_REQ6.mifi)).toBe(0x102);
    const w = (o: number, v: bigint): void => void (LE ? b.writeBigUInt64LE(v, o) : b.writeBigUInt64BE(v, o));
    w(SIOC_MIF_REQ6.icount, 1n);
    w(SIOC_MIF_REQ6.ocount, 2n);
    w(SIOC_MIF_REQ6.ibytes, 3n);
    w(SIOC_MIF_REQ6.obytes, 4n);
    expect(decodeVifReq(b)).toEqual({ inPackets: 1n, outPackets: 2n, inBytes: 3n, outBytes: 4n });
  });
});

describe("mrt6msg (upcalls)", () => {
  // A NOCACHE upcall as read from the MRT6_INIT socket on Linux 6.18: 80 bytes, the 40-byte
  // mrt6msg followed by 40 bytes that are not part of it (not even an IPv6 header).
  const captured = Buffer.from(
    "0001000000000000fd000001000000000000000000000002ff3e0000000000000000000000000009" +
      "0000000114000600ffffffffffffffffbf111d00bf111d0008000800820000000000000000000000",
    "hex",
  );

  it("decodes a NOCACHE upcall captured from the kernel", () => {
    expect(decodeUpcall(V6, captured)).toEqual({ msgtype: MRT6MSG_NOCACHE, vif: 0, source: "fd00:1::2", group: "ff3e::9" });
    expect(decodeUpcall(V6, captured.subarray(0, MRT6MSG_SIZE))).toEqual(decodeUpcall(V6, captured));
  });

  it("reads the MIF as a host-order u16 and every message type", () => {
    const b = Buffer.from(captured.subarray(0, MRT6MSG_SIZE));
    b[MRT6MSG.msgtype] = MRT6MSG_WRONGMIF;
    if (LE) b.writeUInt16LE(0x1f, MRT6MSG.mif);
    else b.writeUInt16BE(0x1f, MRT6MSG.mif);
    expect(decodeUpcall(V6, b)).toMatchObject({ msgtype: MRT6MSG_WRONGMIF, vif: 31 });
  });

  it("ignores real ICMPv6 messages (byte 0 is the ICMPv6 type, never 0) and short reads", () => {
    // An MLDv2 report (type 143) read on the socket when ICMPv6 is not filtered.
    const mld = Buffer.from("8f00fcb80000000204000000ff0200000000000000000001ff00000104000000ff0200000000000000000001ff8f7027", "hex");
    expect(decodeUpcall(V6, mld)).toBeUndefined();
    expect(decodeUpcall(V6, captured.subarray(0, MRT6MSG_SIZE - 1))).toBeUndefined();
    expect(decodeUpcall(V6, Buffer.alloc(0))).toBeUndefined();
  });
});

describe("MRT6_* option numbers", () => {
  it("are the MRT_* numbers (MrouteFamilySocket uses one table, MRT_OPTIONS)", () => {
    expect([MRT6_INIT, MRT6_DONE, MRT6_ADD_MIF, MRT6_DEL_MIF, MRT6_ADD_MFC, MRT6_DEL_MFC, MRT6_ASSERT, MRT6_TABLE, MRT6_FLUSH]).toEqual(
      Object.values(MRT_OPTIONS),
    );
  });
});

describe("icmp6_filter", () => {
  it("blocks every type (all bits set)", () => {
    expect(encodeIcmp6FilterBlockAll().every((x) => x === 0xff)).toBe(true);
  });
});

/** An rtmsg + attributes as ip6mr_fill_mroute builds it. */
function rtmsg6(opts: { family?: number; flags?: number; protocol?: number; attrs: [number, Buffer][] }): Buffer {
  const head = Buffer.alloc(12);
  head[0] = opts.family ?? RTNL_FAMILY_IP6MR;
  head[1] = 128;
  head[2] = 128;
  head[4] = 254;
  head[5] = opts.protocol ?? 17;
  head[7] = 5; // RTN_MULTICAST
  if (LE) head.writeUInt32LE(opts.flags ?? 0, 8);
  else head.writeUInt32BE(opts.flags ?? 0, 8);
  const parts = [head];
  for (const [type, payload] of opts.attrs) {
    const len = 4 + payload.length;
    const a = Buffer.alloc((len + 3) & ~3);
    if (LE) {
      a.writeUInt16LE(len, 0);
      a.writeUInt16LE(type, 2);
    } else {
      a.writeUInt16BE(len, 0);
      a.writeUInt16BE(type, 2);
    }
    payload.copy(a, 4);
    parts.push(a);
  }
  return Buffer.concat(parts);
}

function hostU32(v: number): Buffer {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(v, 0);
  else b.writeUInt32BE(v, 0);
  return b;
}

function nexthop(ifindex: number, hops: number): Buffer {
  const b = Buffer.alloc(8);
  if (LE) {
    b.writeUInt16LE(8, 0);
    b.writeInt32LE(ifindex, 4);
  } else {
    b.writeUInt16BE(8, 0);
    b.writeInt32BE(ifindex, 4);
  }
  b[3] = hops;
  return b;
}

describe("decodeMfc6Message (rtnetlink RTNL_FAMILY_IP6MR)", () => {
  it("decodes table, (S,G), iif, oifs and counters", () => {
    const stats = Buffer.alloc(24);
    if (LE) {
      stats.writeBigUInt64LE(2n, 0);
      stats.writeBigUInt64LE(296n, 8);
      stats.writeBigUInt64LE(2n ** 40n, 16);
    } else {
      stats.writeBigUInt64BE(2n, 0);
      stats.writeBigUInt64BE(296n, 8);
      stats.writeBigUInt64BE(2n ** 40n, 16);
    }
    const msg = rtmsg6({
      attrs: [
        [15, hostU32(254)], // RTA_TABLE
        [2, ipv6ToBuffer("fd00:1::2")], // RTA_SRC
        [1, ipv6ToBuffer("ff3e::4321")], // RTA_DST
        [3, hostU32(2)], // RTA_IIF
        [9, Buffer.concat([nexthop(3, 1), nexthop(4, 1)])], // RTA_MULTIPATH
        [17, stats], // RTA_MFC_STATS
      ],
    });
    expect(decodeMfc6Message(msg, 0, msg.length)).toEqual({
      table: 254,
      source: "fd00:1::2",
      group: "ff3e::4321",
      iifIndex: 2,
      oifs: new Map([
        [3, 1],
        [4, 1],
      ]),
      packets: 2n,
      bytes: 296n,
      wrongIf: 2n ** 40n,
      unresolved: false,
      static: false,
    });
  });

  it("flags unresolved and static entries; ignores IPv4 (IPMR) and short messages", () => {
    const unres = rtmsg6({ flags: 0x20, protocol: 4, attrs: [[1, ipv6ToBuffer("ff3e::9")]] });
    expect(decodeMfc6Message(unres, 0, unres.length)).toMatchObject({
      source: "::",
      group: "ff3e::9",
      iifIndex: 0,
      unresolved: true,
      static: true,
    });
    const v4 = rtmsg6({ family: RTNL_FAMILY_IPMR, attrs: [] });
    expect(decodeMfc6Message(v4, 0, v4.length)).toBeUndefined();
    expect(decodeMfc6Message(Buffer.alloc(8), 0, 8)).toBeUndefined();
  });
});

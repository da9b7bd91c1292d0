// Struct layouts of the multicast routing API against kernel-facts.md (x86_64, Linux 6.18).
import { describe, expect, it } from "vitest";
import {
  IGMPMSG,
  IGMPMSG_SIZE,
  IPV4_STRUCTS as V4,
  MFCCTL,
  MFCCTL_SIZE,
  SIOC_SG_REQ,
  SIOC_SG_REQ_SIZE,
  SIOC_VIF_REQ,
  VIFCTL,
  VIFCTL_SIZE,
} from "../../src/kernel/abi/mroute-structs.js";
import {
  decodeSgReq,
  decodeUpcall,
  decodeVifReq,
  encodeMfcctl,
  encodeSgReq,
  encodeVifReq,
  encodeVifctl,
} from "../../src/kernel/abi/mroute-struct-codec.js";
import { SIOC_VIF_COUNT_SIZE as SIOC_VIF_REQ_SIZE } from "../../src/kernel/abi/struct-fields.js";
import { IGMPMSG_NOCACHE, VIFF_USE_IFINDEX } from "../../src/kernel/abi/index.js";
import {
  IFREQ,
  IFREQ_SIZE,
  decodeIfreqIndex,
  decodeIfreqName,
  encodeIfreqIndex,
  encodeIfreqName,
  ifnameLength,
} from "../../src/kernel/abi/ifreq.js";

describe("struct sizes (optlen must match exactly or the kernel says EINVAL)", () => {
  it("match kernel-facts.md", () => {
    expect(VIFCTL_SIZE).toBe(16);
    expect(MFCCTL_SIZE).toBe(60);
    expect(SIOC_SG_REQ_SIZE).toBe(32);
    expect(SIOC_VIF_REQ_SIZE).toBe(40);
    expect(IGMPMSG_SIZE).toBe(20);
    expect(IFREQ_SIZE).toBe(40);
  });

  it("encoders produce buffers of exactly that size", () => {
    expect(encodeVifctl(V4, { vif: 0, ifindex: 1 }).length).toBe(16);
    expect(encodeMfcctl(V4, { origin: "10.0.0.1", group: "239.1.1.1", parent: 0 }).length).toBe(60);
    expect(encodeSgReq(V4, "10.0.0.1", "239.1.1.1").length).toBe(32);
    expect(encodeVifReq(V4, 0).length).toBe(40);
    expect(encodeIfreqName("eth0").length).toBe(40);
    expect(encodeIfreqIndex(1).length).toBe(40);
  });
});

describe("vifctl", () => {
  it("has the documented offsets", () => {
    expect(VIFCTL).toEqual({ vifi: 0, flags: 2, threshold: 3, rateLimit: 4, lclIfindex: 8, rmtAddr: 12 });
  });

  it("encodes vifi u16, VIFF_USE_IFINDEX, threshold 1 and the ifindex in the lcl_addr union", () => {
    const b = encodeVifctl(V4, { vif: 0x0102, ifindex: 0x01020304 });
    expect(b.readUInt16LE(0)).toBe(0x0102);
    expect(b[2]).toBe(VIFF_USE_IFINDEX);
    expect(b[3]).toBe(1);
    expect(b.readUInt32LE(4)).toBe(0);
    expect(b.readInt32LE(8)).toBe(0x01020304);
    expect(b.readUInt32LE(12)).toBe(0);
  });

  it("clears a reused buffer and honours explicit fields", () => {
    const b = Buffer.alloc(16, 0xff);
    encodeVifctl(V4, { vif: 3, ifindex: 7, flags: 0, threshold: 5, rateLimit: 9 }, b);
    expect([...b]).toEqual([3, 0, 0, 5, 9, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("rejects values that do not fit the fields", () => {
    expect(() => encodeVifctl(V4, { vif: 0x10000, ifindex: 1 })).toThrow(RangeError);
    expect(() => encodeVifctl(V4, { vif: -1, ifindex: 1 })).toThrow(RangeError);
    expect(() => encodeVifctl(V4, { vif: 1.5, ifindex: 1 })).toThrow(RangeError);
    expect(() => encodeVifctl(V4, { vif: 0, ifindex: -1 })).toThrow(RangeError);
  });
});

describe("mfcctl", () => {
  it("has the documented offsets", () => {
    expect(MFCCTL).toEqual({
      origin: 0,
      group: 4,
      parent: 8,
      ttls: 10,
      pktCnt: 44,
      byteCnt: 48,
      wrongIf: 52,
      expire: 56,
    });
  });

  it("encodes origin/group in network order, parent u16 and ttls[32]; everything else 0", () => {
    const b = encodeMfcctl(V4, {
      origin: "10.0.0.2",
      group: "239.1.1.1",
      parent: 0x0203,
      oifs: new Map([
        [0, 1],
        [5, 64],
        [31, 254],
      ]),
    });
    expect([...b.subarray(0, 4)]).toEqual([10, 0, 0, 2]);
    expect([...b.subarray(4, 8)]).toEqual([239, 1, 1, 1]);
    expect(b.readUInt16LE(8)).toBe(0x0203);
    const ttls = [...b.subarray(10, 42)];
    expect(ttls[0]).toBe(1);
    expect(ttls[5]).toBe(64);
    expect(ttls[31]).toBe(254);
    expect(ttls.filter((t) => t !== 0)).toHaveLength(3);
    expect([...b.subarray(42, 60)].every((x) => x === 0)).toBe(true);
  });

  it("clears a reused buffer (old oifs must not leak into the next entry)", () => {
    const b = Buffer.alloc(60, 0xff);
    encodeMfcctl(V4, { origin: "0.0.0.0", group: "239.0.0.1", parent: 1 }, b);
    expect(b.readUInt16LE(8)).toBe(1);
    expect([...b.subarray(10, 60)].every((x) => x === 0)).toBe(true);
  });

  it("rejects oifs beyond ttls[31], bad TTLs and parents that do not fit u16", () => {
    const enc = (parent: number, ttls: [number, number][]) => () =>
      encodeMfcctl(V4, { origin: "10.0.0.1", group: "239.1.1.1", parent, oifs: new Map(ttls) });
    expect(enc(0, [[32, 1]])).toThrow(RangeError);
    expect(enc(0, [[0, 256]])).toThrow(RangeError);
    expect(enc(0, [[0, -1]])).toThrow(RangeError);
    expect(enc(0x10000, [])).toThrow(RangeError);
    // Parent 32..65535 fits the struct; the kernel answers ENFILE (see test/kernel).
    expect(enc(32, [])).not.toThrow();
  });
});

describe("sioc_sg_req", () => {
  it("has the documented offsets", () => {
    expect(SIOC_SG_REQ).toEqual({ src: 0, grp: 4, pktcnt: 8, bytecnt: 16, wrongIf: 24 });
  });

  it("encodes (S,G) and zeroes the counters", () => {
    const b = Buffer.alloc(32, 0xff);
    encodeSgReq(V4, "10.0.0.2", "239.1.1.1", b);
    expect([...b.subarray(0, 8)]).toEqual([10, 0, 0, 2, 239, 1, 1, 1]);
    expect([...b.subarray(8)].every((x) => x === 0)).toBe(true);
  });

  it("decodes unsigned long counters as exact bigints", () => {
    const b = encodeSgReq(V4, "10.0.0.2", "239.1.1.1");
    b.writeBigUInt64LE(7n, 8);
    b.writeBigUInt64LE(2n ** 53n + 1n, 16);
    b.writeBigUInt64LE(2n ** 64n - 1n, 24);
    expect(decodeSgReq(V4, b)).toEqual({ packets: 7n, bytes: 2n ** 53n + 1n, wrongIf: 2n ** 64n - 1n });
  });
});

describe("sioc_vif_req", () => {
  it("has the documented offsets (vifi padded to 8)", () => {
    expect(SIOC_VIF_REQ).toEqual({ vifi: 0, icount: 8, ocount: 16, ibytes: 24, obytes: 32 });
  });

  it("encodes vifi and decodes icount/ocount/ibytes/obytes", () => {
    const b = encodeVifReq(V4, 31);
    expect(b.readUInt16LE(0)).toBe(31);
    b.writeBigUInt64LE(1n, 8);
    b.writeBigUInt64LE(2n, 16);
    b.writeBigUInt64LE(3n, 24);
    b.writeBigUInt64LE(4n, 32);
    expect(decodeVifReq(b)).toEqual({ inPackets: 1n, outPackets: 2n, inBytes: 3n, outBytes: 4n });
  });
});

describe("igmpmsg", () => {
  it("has the documented offsets", () => {
    expect(IGMPMSG).toEqual({ msgtype: 8, mbz: 9, vif: 10, vifHi: 11, src: 12, dst: 16 });
  });

  it("decodes a NOCACHE upcall captured from the kernel (28 bytes, overlaying the IP header)", () => {
    const raw = Buffer.from("4500001c200b4000010000000a000002ef0505050100400002111405", "hex");
    expect(decodeUpcall(V4, raw)).toEqual({ msgtype: IGMPMSG_NOCACHE, vif: 0, source: "10.0.0.2", group: "239.5.5.5" });
  });

  it("reads the high byte of the VIF index", () => {
    const raw = Buffer.alloc(20);
    raw[8] = 2;
    raw[10] = 4;
    raw[11] = 1;
    expect(decodeUpcall(V4, raw)?.vif).toBe(260);
  });

  it("ignores real IGMP packets (byte 9 is the IP protocol, 2) and short reads", () => {
    // An IGMPv2 report 10.0.0.2 → 239.5.5.5 as a raw IGMP socket reads it (IP header with
    // router alert option first), built by hand.
    const report = Buffer.from("46c000200000400001024b5d0a000002ef0505059404000016000ef6ef050505", "hex");
    expect(decodeUpcall(V4, report)).toBeUndefined();
    expect(decodeUpcall(V4, Buffer.alloc(19))).toBeUndefined();
  });
});

describe("ifreq", () => {
  it("has the documented offsets", () => {
    expect(IFREQ).toEqual({ name: 0, ifindex: 16 });
  });

  it("encodes a NUL-terminated name and decodes the ifindex", () => {
    const b = encodeIfreqName("veth-abc");
    expect(b.toString("latin1", 0, 9)).toBe("veth-abc\0");
    b.writeInt32LE(42, 16);
    expect(decodeIfreqIndex(b)).toBe(42);
  });

  it("accepts 15-byte names and rejects anything the kernel would truncate", () => {
    expect(ifnameLength("a".repeat(15))).toBe(15);
    expect(decodeIfreqName(encodeIfreqName("a".repeat(15)))).toBe("a".repeat(15));
    expect(ifnameLength("a".repeat(16))).toBeUndefined();
    expect(ifnameLength("ééééééé€")).toBeUndefined(); // 17 bytes in UTF-8
    expect(ifnameLength("")).toBeUndefined();
    expect(ifnameLength("eth0\0x")).toBeUndefined();
    expect(() => encodeIfreqName("a".repeat(16))).toThrow(RangeError);
  });

  it("encodes an ifindex and decodes a name", () => {
    const b = encodeIfreqIndex(7);
    expect(b.readInt32LE(16)).toBe(7);
    b.write("lo\0", 0, "latin1");
    expect(decodeIfreqName(b)).toBe("lo");
    expect(() => encodeIfreqIndex(-1)).toThrow(RangeError);
  });
});

// Pure address code of both families (src/address): strict dotted quads, IPv6 text in and RFC
// 5952 text out, network-order bytes at an offset.
import { describe, expect, it } from "vitest";
import {
  bufferToIpv4,
  bufferToIpv6,
  canonicalIpv6,
  ipv4ToBuffer,
  ipv6MulticastScope,
  ipv6ToBuffer,
  isCanonicalIpv6,
  isIpv6Multicast,
  parseIpv4,
  parseIpv6,
} from "../../src/address/index.js";

describe("ipv4ToBuffer / bufferToIpv4", () => {
  it("writes network order", () => {
    expect([...ipv4ToBuffer("239.1.2.3")]).toEqual([239, 1, 2, 3]);
    expect([...ipv4ToBuffer("0.0.0.0")]).toEqual([0, 0, 0, 0]);
    expect([...ipv4ToBuffer("255.255.255.255")]).toEqual([255, 255, 255, 255]);
    const out = Buffer.alloc(8, 0xaa);
    ipv4ToBuffer("10.20.30.40", out, 2);
    expect([...out]).toEqual([0xaa, 0xaa, 10, 20, 30, 40, 0xaa, 0xaa]);
  });

  it.each([
    "",
    "10.1",
    "10.0.1",
    "1.2.3.4.5",
    "010.0.0.1",
    "1.2.3.00",
    "256.0.0.1",
    "1.2.3.1000",
    "1..2.3",
    " 1.2.3.4",
    "1.2.3.4 ",
    "+1.2.3.4",
    "-1.2.3.4",
    "1.2.3.4\n",
    "0x1.2.3.4",
    "1.2.3.",
    "١.٢.٣.٤",
  ])("rejects %j", (text) => {
    expect(() => ipv4ToBuffer(text)).toThrow(RangeError);
  });

  it("parses from an offset (IPv6's embedded IPv4 tail uses the same parser)", () => {
    expect(parseIpv4("::ffff:192.0.2.1", 7)).toBe(0xc0000201);
    expect(parseIpv4("::ffff:192.0.2.01", 7)).toBeUndefined();
    expect(parseIpv4("10.0.0.1", 1)).toBe(1); // "0.0.0.1"
    expect(parseIpv4("10.0.0.1", 2)).toBeUndefined(); // ".0.0.1"
    expect([...ipv6ToBuffer("::ffff:192.0.2.1").subarray(12)]).toEqual([192, 0, 2, 1]);
  });

  it("round-trips", () => {
    for (const a of ["1.2.3.4", "224.0.0.1", "10.255.0.7"]) expect(bufferToIpv4(ipv4ToBuffer(a))).toBe(a);
    expect(bufferToIpv4(Buffer.from([9, 9, 192, 168, 1, 2]), 2)).toBe("192.168.1.2");
  });
});

describe("IPv6 text", () => {
  it.each([
    ["ff3e::4321", "ff3e::4321"],
    ["FF3E:0:0:0:0:0:0:4321", "ff3e::4321"],
    ["ff3e:0000:0000:0000:0000:0000:0000:4321", "ff3e::4321"], // the kernel's %pI6 form
    ["::", "::"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["fd00:1::2", "fd00:1::2"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
    ["2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"], // longest run wins
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["2001:0db8::0001", "2001:db8::1"],
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["::ffff:c000:201", "::ffff:192.0.2.1"],
    ["::192.0.2.1", "::c000:201"],
    ["ff05::1:3", "ff05::1:3"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
  ])("%s → %s", (text, canonical) => {
    expect(canonicalIpv6(text)).toBe(canonical);
    expect(isCanonicalIpv6(canonical)).toBe(true);
    expect(bufferToIpv6(ipv6ToBuffer(text))).toBe(canonical);
  });

  it.each([
    "",
    ":",
    ":::",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::",
    "g::1",
    "fe80::1%eth0",
    " ::1",
    "::1 ",
    "239.1.1.1",
    "::ffff:1.2.3.256",
    "::ffff:01.2.3.4",
    "1.2.3.4::",
    "[::1]",
  ])("rejects %j", (text) => {
    expect(parseIpv6(text)).toBeUndefined();
    expect(canonicalIpv6(text)).toBeUndefined();
    expect(() => ipv6ToBuffer(text)).toThrow(RangeError);
  });

  it("round-trips random addresses and agrees with the WHATWG URL serialiser (RFC 5952 rules)", () => {
    let seed = 12345;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let k = 0; k < 3000; k++) {
      const b = Buffer.alloc(16);
      // Mostly zero groups, so runs of every length and position occur.
      for (let g = 0; g < 8; g++) if (rnd(3) === 0) b.writeUInt16BE(rnd(0x10000), 2 * g);
      const text = bufferToIpv6(b);
      expect(parseIpv6(text)).toEqual(b);
      expect(parseIpv6(text.toUpperCase())).toEqual(b);
      if (!text.startsWith("::ffff:") || text.includes(":", 7)) {
        expect(`[${text}]`).toBe(new URL(`http://[${text}]/`).hostname);
      }
    }
  });

  it("writes network order at an offset, leaving the rest alone", () => {
    const out = Buffer.alloc(20, 0xaa);
    ipv6ToBuffer("ff3e::1:2", out, 2);
    expect(out.subarray(2, 18).toString("hex")).toBe("ff3e0000000000000000000000010002");
    expect([out[0], out[1], out[18], out[19]]).toEqual([0xaa, 0xaa, 0xaa, 0xaa]);
    expect(bufferToIpv6(out, 2)).toBe("ff3e::1:2");
    expect(isCanonicalIpv6("FF3E::1")).toBe(false);
  });

  it("multicast and scope", () => {
    expect(isIpv6Multicast("ff3e::1")).toBe(true);
    expect(isIpv6Multicast("fd00::1")).toBe(false);
    expect(isIpv6Multicast("nope")).toBe(false);
    expect(isIpv6Multicast(ipv6ToBuffer("ff02::1"))).toBe(true);
    expect(ipv6MulticastScope("ff3e::1")).toBe(14);
    expect(ipv6MulticastScope("ff05::1:3")).toBe(5);
    expect(ipv6MulticastScope("ff02::16")).toBe(2);
    expect(ipv6MulticastScope("fd00::1")).toBeUndefined();
  });
});


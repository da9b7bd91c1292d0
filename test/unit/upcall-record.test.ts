// The upcall records the poll hub's thread writes and UpcallReader reads back: one codec for
// both sides, addresses copied from the kernel's igmpmsg / mrt6msg as they are.
import { describe, expect, it } from "vitest";
import { ipv4ToBuffer, ipv6ToBuffer } from "../../src/address/index.js";
import { IGMPMSG, IGMPMSG_SIZE, MRT6MSG, MRT6MSG_SIZE } from "../../src/kernel/abi/index.js";
import { UPCALL_RECORD, readUpcallRecord, writeUpcallRecord } from "../../src/kernel/poll/upcall-record.js";

describe("upcall records", () => {
  it("keep the sizes the reader has always used (IPv4 24 bytes, IPv6 48, timestamp 8-aligned)", () => {
    expect(UPCALL_RECORD[4]).toEqual({ addrLen: 4, group: 8, at: 16, size: 24 });
    expect(UPCALL_RECORD[6]).toEqual({ addrLen: 16, group: 20, at: 40, size: 48 });
  });

  it("round-trip an igmpmsg's fields (second record of a batch)", () => {
    const msg = Buffer.alloc(IGMPMSG_SIZE);
    ipv4ToBuffer("10.1.2.3", msg, IGMPMSG.src);
    ipv4ToBuffer("239.1.1.1", msg, IGMPMSG.dst);
    const l = UPCALL_RECORD[4];
    const out = Buffer.alloc(2 * l.size);
    writeUpcallRecord(out, l.size, l, 2, 300, msg, IGMPMSG.src, 1234.5);
    expect(readUpcallRecord(out, l.size, l)).toEqual({ msgtype: 2, vif: 300, source: "10.1.2.3", group: "239.1.1.1", at: 1234.5 });
  });

  it("round-trip an mrt6msg's fields", () => {
    const msg = Buffer.alloc(MRT6MSG_SIZE);
    ipv6ToBuffer("2001:db8::1", msg, MRT6MSG.src);
    ipv6ToBuffer("ff3e::1234", msg, MRT6MSG.dst);
    const l = UPCALL_RECORD[6];
    const out = Buffer.alloc(l.size);
    writeUpcallRecord(out, 0, l, 1, 7, msg, MRT6MSG.src, 99);
    expect(readUpcallRecord(out, 0, l)).toEqual({ msgtype: 1, vif: 7, source: "2001:db8::1", group: "ff3e::1234", at: 99 });
  });
});

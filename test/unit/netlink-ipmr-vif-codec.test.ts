// kernel-needs: none
// The RTNL_FAMILY_IPMR link dump's decoder (issue 12: VIFs of every IPv4 table, for adoption),
// on a message laid out as Linux's ipmr_rtm_dumplink writes it.
import { describe, expect, it } from "vitest";
import { decodeIpmrLinkMessage } from "../../src/kernel/abi/index.js";

/** One netlink attribute (host order, padded to 4). */
function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}
const u32 = (v: number) => Buffer.from(new Uint32Array([v]).buffer);
const u16 = (v: number) => Buffer.from(new Uint16Array([v]).buffer);
const u64 = (v: bigint) => Buffer.from(new BigUint64Array([v]).buffer);

function vif(id: number, ifindex: number, flags: number, packetsIn: bigint): Buffer {
  // IPMRA_VIFA_IFINDEX 1, VIF_ID 2, FLAGS 3, BYTES_IN 4, BYTES_OUT 5, PACKETS_IN 6, PACKETS_OUT 7
  return attr(1, Buffer.concat([attr(1, u32(ifindex)), attr(2, u32(id)), attr(3, u16(flags)), attr(4, u64(1000n)), attr(5, u64(2000n)), attr(6, u64(packetsIn)), attr(7, u64(7n))]));
}

function tableMessage(family: number, table: number, vifs: Buffer[]): Buffer {
  const ifinfomsg = Buffer.alloc(16);
  ifinfomsg[0] = family;
  // IFLA_AF_SPEC 26 { IPMRA_TABLE_ID 1, IPMRA_TABLE_MROUTE_DO_ASSERT 4, IPMRA_TABLE_VIFS 6 { IPMRA_VIF 1 ... } }
  const spec = attr(26, Buffer.concat([attr(1, u32(table)), attr(4, Buffer.from([1])), attr(6, Buffer.concat(vifs))]));
  return Buffer.concat([ifinfomsg, spec]);
}

describe("decodeIpmrLinkMessage", () => {
  it("reads the table id and each VIF's index, ifindex, flags and counters", () => {
    const msg = tableMessage(128, 7, [vif(0, 12, 0x8008, 5n), vif(3, 14, 0x8, 0n)]);
    expect(decodeIpmrLinkMessage(msg, 0, msg.length)).toEqual({
      table: 7,
      vifs: [
        { vif: 0, ifindex: 12, flags: 0x8008, counters: { inPackets: 5n, inBytes: 1000n, outPackets: 7n, outBytes: 2000n } },
        { vif: 3, ifindex: 14, flags: 0x8, counters: { inPackets: 0n, inBytes: 1000n, outPackets: 7n, outBytes: 2000n } },
      ],
    });
  });

  it("a table without VIFs, another family, or a truncated header", () => {
    const empty = tableMessage(128, 253, []);
    expect(decodeIpmrLinkMessage(empty, 0, empty.length)).toEqual({ table: 253, vifs: [] });
    const link = tableMessage(0, 7, []);
    expect(decodeIpmrLinkMessage(link, 0, link.length)).toBeUndefined();
    expect(decodeIpmrLinkMessage(empty, 0, 8)).toBeUndefined();
  });
});

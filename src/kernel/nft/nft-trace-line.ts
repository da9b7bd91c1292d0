// Parser for the text `nft monitor` prints for trace events (nftables 1.0.6 has no JSON for
// them: `nft -j monitor trace` still prints text). One event per line:
//   trace id 2a8f0c1d ip mfcd_trace prerouting packet: iif "in0" ether saddr … ip saddr 10.1.0.2 ip daddr 239.1.1.1 … ip ttl 5 …
//   trace id 2a8f0c1d ip mfcd prerouting rule iifname "in0" … ip ttl set 64 counter packets 3 bytes 276 # handle 2 (verdict continue)
//   trace id 2a8f0c1d ip mfcd_trace prerouting unknown rule handle 2 (verdict continue)
//   trace id 2a8f0c1d ip mfcd prerouting verdict continue
//   trace id 2a8f0c1d ip mfcd prerouting policy accept
// The kernel attaches the packet's headers to the first event of each chain it traverses, which
// nft prints as a separate "packet:" line. `# handle N` appears with `nft -a`; rules of tables
// created after the monitor started are "unknown" to nft. The hook is never printed (see
// nft-ruleset-index.ts for both gaps). Counter values in rule texts are dropped: nft prints the
// stale values of its cache.

import { withoutCounterValues } from "./nft-ruleset-index.js";

export interface NftTracePacket {
  iif?: string;
  oif?: string;
  saddr?: string;
  daddr?: string;
  ttl?: number;
}

export interface NftTraceLine {
  /** Trace id (8 hex digits): one per packet and clone, reused once the skb is freed. */
  id: string;
  family: string;
  table: string;
  chain: string;
  /** packet: the headers; rule: a rule matched; verdict: a verdict ended the chain; policy: the base chain's policy. */
  type: "packet" | "rule" | "verdict" | "policy";
  /** The matched rule as nft prints it; undefined when nft did not know it (see `handle`). */
  rule?: string;
  /** The rule's handle (printed with `nft -a`, and for rules nft does not know). */
  handle?: number;
  /** accept, drop, continue, return, jump X, goto X … */
  verdict?: string;
  packet?: NftTracePacket;
  raw: string;
}

const HEAD_RE = /^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (.*)$/;

function field(text: string, re: RegExp): string | undefined {
  return re.exec(text)?.[1];
}

/** Parses one line of `nft monitor [trace]` output; undefined for anything but a trace event. */
export function parseNftTraceLine(raw: string): NftTraceLine | undefined {
  const m = HEAD_RE.exec(raw.trimEnd());
  if (!m) return undefined;
  const [, id, family, table, chain, rest] = m as unknown as [string, string, string, string, string, string];
  const base = { id, family, table, chain, raw };
  if (rest.startsWith("packet: ")) {
    const p = rest.slice(8);
    const packet: NftTracePacket = {};
    const iif = field(p, /(?:^| )iif "([^"]*)"/);
    const oif = field(p, /(?:^| )oif "([^"]*)"/);
    const saddr = field(p, / ip saddr (\S+)/) ?? field(p, /^ip saddr (\S+)/);
    const daddr = field(p, / ip daddr (\S+)/) ?? field(p, /^ip daddr (\S+)/);
    const ttl = field(p, /(?:^| )ip ttl (\d+)/);
    if (iif !== undefined) packet.iif = iif;
    if (oif !== undefined) packet.oif = oif;
    if (saddr !== undefined) packet.saddr = saddr;
    if (daddr !== undefined) packet.daddr = daddr;
    if (ttl !== undefined) packet.ttl = Number(ttl);
    return { ...base, type: "packet", packet };
  }
  const rule = /^(?:rule (.*?)(?: # handle (\d+))?|unknown rule handle (\d+))(?: \(verdict (.+)\))?$/.exec(rest);
  if (rule) {
    const [, text, handle, unknownHandle, verdict] = rule;
    const h = handle ?? unknownHandle;
    return {
      ...base,
      type: "rule",
      ...(text === undefined ? {} : { rule: withoutCounterValues(text) }),
      ...(h === undefined ? {} : { handle: Number(h) }),
      ...(verdict === undefined ? {} : { verdict }),
    };
  }
  const end = /^(verdict|policy) (.+)$/.exec(rest);
  if (end) return { ...base, type: end[1] as "verdict" | "policy", verdict: end[2] };
  return undefined;
}

// The only values ever interpolated into nft ruleset text. Each one is checked against a
// grammar that cannot express anything but itself (no quotes, spaces, braces, semicolons,
// `*` wildcards or `#` comments), so a ruleset rendered from them cannot be injected into, whatever
// the caller passed. Semantic checks (is it a multicast group? a local address?) are the caller's.

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4_RE = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
// Linux allows almost any byte in an interface name; nft treats a trailing `*` in a quoted
// iifname as a wildcard and cannot escape `"`. Accept the characters real names use.
const IFNAME_RE = /^[A-Za-z0-9_.@+-]{1,15}$/;
// nft 1.0.6 accepts no quoted identifiers, so a name must be a plain word. (A name that is an
// nft keyword, e.g. "fwd", still fails nft's parser — safely, with a syntax error.)
const IDENT_RE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

function reject(what: string, value: unknown): never {
  throw new TypeError(`nft: invalid ${what}: ${JSON.stringify(value)}`);
}

/** A dotted-quad IPv4 address without leading zeros, e.g. "239.1.1.1". */
export function nftIpv4(value: string, what = "IPv4 address"): string {
  if (typeof value !== "string" || !IPV4_RE.test(value)) reject(what, value);
  return value;
}

/** An interface name, returned quoted for nft (`"eth0"`). */
export function nftIfname(value: string): string {
  if (typeof value !== "string" || !IFNAME_RE.test(value) || value === "." || value === "..") {
    reject("interface name", value);
  }
  return `"${value}"`;
}

/** A table, chain or set name. */
export function nftIdentifier(value: string, what = "table name"): string {
  if (typeof value !== "string" || !IDENT_RE.test(value)) reject(what, value);
  return value;
}

/** An integer in lo..hi (TTLs, rates). */
export function nftInt(value: number, lo: number, hi: number, what: string): string {
  if (!Number.isInteger(value) || value < lo || value > hi) reject(`${what} (${lo}..${hi})`, value);
  return String(value);
}

// What nft's trace output leaves out, looked up by NftTrace: the hook of each chain (nft prints
// only family, table and chain) and the text of rules nft itself does not know. `nft monitor`
// resolves rule handles against the ruleset it read when it started and never updates that cache,
// so rules added later — our own trace table, any rescue table applied during the trace — come
// out as "unknown rule handle N". The index is seeded from `nft -a list ruleset` and kept current
// from the `add`/`delete` lines of the same `nft -a monitor` that prints the trace.

export interface IndexedChain {
  /** The hook of a base chain; null for a regular chain (a jump/goto target). */
  hook: string | null;
  /** Rule handle → rule text (without handle, counter values zeroed away). */
  rules: Map<number, string>;
}

const HANDLE_SUFFIX_RE = / # handle (\d+)$/;

/** Drops the counter values nft prints (stale snapshots in trace and monitor output). */
export function withoutCounterValues(rule: string): string {
  return rule.replace(/\bcounter packets \d+ bytes \d+/g, "counter");
}

function hookOf(chainSpec: string): string | null {
  return /(?:^|[{;\s])type \S+ hook (\S+?)[;\s]/.exec(`${chainSpec} `)?.[1] ?? null;
}

export class NftRulesetIndex {
  readonly #chains = new Map<string, IndexedChain>();

  static #key(family: string, table: string, chain: string): string {
    return `${family}\0${table}\0${chain}`;
  }

  #chain(family: string, table: string, chain: string): IndexedChain {
    const key = NftRulesetIndex.#key(family, table, chain);
    let c = this.#chains.get(key);
    if (c === undefined) {
      c = { hook: null, rules: new Map() };
      this.#chains.set(key, c);
    }
    return c;
  }

  /** Replaces everything with the output of `nft -a list ruleset`. */
  load(listing: string): void {
    this.#chains.clear();
    let table: [string, string] | undefined;
    let chain: IndexedChain | undefined;
    for (const line of listing.split("\n")) {
      let m = /^table (\S+) (\S+) \{/.exec(line);
      if (m) {
        table = [m[1]!, m[2]!];
        chain = undefined;
        continue;
      }
      m = /^\tchain (\S+) \{/.exec(line);
      if (m && table) {
        chain = this.#chain(table[0], table[1], m[1]!);
        continue;
      }
      if (/^\t\S/.test(line)) {
        chain = undefined; // a set, map, flowtable … block, or the chain's closing brace
        continue;
      }
      if (chain === undefined || !line.startsWith("\t\t")) continue;
      const body = line.slice(2);
      const h = HANDLE_SUFFIX_RE.exec(body);
      if (h) chain.rules.set(Number(h[1]), withoutCounterValues(body.slice(0, h.index)));
      else if (/^type \S+ hook /.test(body)) chain.hook = hookOf(body);
    }
  }

  /** Applies one line of `nft -a monitor` output; returns whether it changed the index. */
  onMonitorLine(raw: string): boolean {
    const line = raw.trimEnd();
    let m = /^add rule (\S+) (\S+) (\S+) (.*) # handle (\d+)$/.exec(line);
    if (m) {
      this.#chain(m[1]!, m[2]!, m[3]!).rules.set(Number(m[5]), withoutCounterValues(m[4]!));
      return true;
    }
    m = /^delete rule (\S+) (\S+) (\S+) handle (\d+)/.exec(line);
    if (m) return this.#chains.get(NftRulesetIndex.#key(m[1]!, m[2]!, m[3]!))?.rules.delete(Number(m[4])) ?? false;
    const bare = line.replace(HANDLE_SUFFIX_RE, "");
    m = /^add chain (\S+) (\S+) (\S+)(?: (\{.*\}))?$/.exec(bare);
    if (m) {
      this.#chain(m[1]!, m[2]!, m[3]!).hook = m[4] === undefined ? null : hookOf(m[4]);
      return true;
    }
    m = /^delete chain (\S+) (\S+) (\S+)/.exec(bare);
    if (m) return this.#chains.delete(NftRulesetIndex.#key(m[1]!, m[2]!, m[3]!));
    m = /^delete table (\S+) (\S+)/.exec(bare);
    if (m) {
      const prefix = NftRulesetIndex.#key(m[1]!, m[2]!, "");
      for (const k of [...this.#chains.keys()]) if (k.startsWith(prefix)) this.#chains.delete(k);
      return true;
    }
    return false;
  }

  /** The chain's hook; null for a known regular chain; undefined for an unknown chain. */
  hook(family: string, table: string, chain: string): string | null | undefined {
    return this.#chains.get(NftRulesetIndex.#key(family, table, chain))?.hook;
  }

  /** The text of rule `handle`, if known. */
  rule(family: string, table: string, chain: string, handle: number): string | undefined {
    return this.#chains.get(NftRulesetIndex.#key(family, table, chain))?.rules.get(handle);
  }
}

// Recent upcalls per (S,G), bounded in both directions: the last `perFlow` upcalls of each flow
// in a ring, at most `maxFlows` flows, the least recently *updated* flow evicted first. Reads
// never change the eviction order. Pure data structure (no kernel access): feed it from
// UpcallReader's onUpcall.

import type { Upcall, UpcallType } from "./upcall-reader.js";

export interface UpcallRingOptions {
  /** Upcalls kept per (S,G) (default 16). */
  perFlow?: number;
  /** (S,G) flows kept (default 4096). */
  maxFlows?: number;
}

export interface UpcallCounts {
  nocache: number;
  wrongvif: number;
  total: number;
  /**
   * False when older upcalls of the flow were overwritten in its ring and might also have
   * been in the window, so the counts are a lower bound.
   */
  complete: boolean;
}

/** What the ring knows about one flow since it was (last) created in the ring. */
export interface UpcallFlowSummary {
  source: string;
  group: string;
  nocache: number;
  wrongvif: number;
  firstAt: number;
  lastAt: number;
}

interface Flow {
  source: string;
  group: string;
  ring: Upcall[];
  /** Next write position once the ring is full. */
  head: number;
  totals: Record<UpcallType, number>;
  firstAt: number;
  lastAt: number;
}

function key(source: string, group: string): string {
  return `${source}|${group}`;
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > 1_000_000) throw new RangeError(`${name} must be an integer 1..1000000, got ${v}`);
}

export class UpcallRing {
  readonly perFlow: number;
  readonly maxFlows: number;
  /** Map order is the eviction order: push() moves a flow to the end. */
  readonly #flows = new Map<string, Flow>();
  #evictedFlows = 0;

  constructor(opts: UpcallRingOptions = {}) {
    this.perFlow = opts.perFlow ?? 16;
    this.maxFlows = opts.maxFlows ?? 4096;
    checkSize("perFlow", this.perFlow);
    checkSize("maxFlows", this.maxFlows);
  }

  /** Flows currently kept. */
  get size(): number {
    return this.#flows.size;
  }

  /** Flows evicted so far to stay within maxFlows. */
  get evictedFlows(): number {
    return this.#evictedFlows;
  }

  push(u: Upcall): void {
    const k = key(u.source, u.group);
    let flow = this.#flows.get(k);
    if (flow) {
      this.#flows.delete(k);
    } else {
      flow = {
        source: u.source,
        group: u.group,
        ring: [],
        head: 0,
        totals: { nocache: 0, wrongvif: 0 },
        firstAt: u.at,
        lastAt: u.at,
      };
      if (this.#flows.size >= this.maxFlows) {
        const oldest = this.#flows.keys().next();
        if (!oldest.done) {
          this.#flows.delete(oldest.value);
          this.#evictedFlows++;
        }
      }
    }
    this.#flows.set(k, flow);
    const entry = { ...u };
    if (flow.ring.length < this.perFlow) flow.ring.push(entry);
    else {
      flow.ring[flow.head] = entry;
      flow.head = (flow.head + 1) % this.perFlow;
    }
    flow.totals[u.type]++;
    flow.firstAt = Math.min(flow.firstAt, u.at);
    flow.lastAt = Math.max(flow.lastAt, u.at);
  }

  /** The kept upcalls of (source, group), oldest first (copies); [] for an unknown flow. */
  recent(source: string, group: string): Upcall[] {
    const flow = this.#flows.get(key(source, group));
    if (!flow) return [];
    const { ring, head } = flow;
    return [...ring.slice(head), ...ring.slice(0, head)].map((u) => ({ ...u }));
  }

  /**
   * Upcalls of (source, group) with `at >= since` (epoch ms, same clock as Upcall.at; default
   * 0: everything kept), counted from the ring.
   */
  counts(source: string, group: string, since = 0): UpcallCounts {
    const out: UpcallCounts = { nocache: 0, wrongvif: 0, total: 0, complete: true };
    const flow = this.#flows.get(key(source, group));
    if (!flow) return out;
    let oldestKept = Infinity;
    for (const u of flow.ring) {
      oldestKept = Math.min(oldestKept, u.at);
      if (u.at < since) continue;
      out[u.type]++;
      out.total++;
    }
    const overwritten = flow.totals.nocache + flow.totals.wrongvif - flow.ring.length;
    out.complete = overwritten === 0 || oldestKept < since;
    return out;
  }

  /** Totals of one flow since it entered the ring; undefined for an unknown flow. */
  summary(source: string, group: string): UpcallFlowSummary | undefined {
    const flow = this.#flows.get(key(source, group));
    return flow && summarize(flow);
  }

  /** Every kept flow, least recently updated first. */
  flows(): UpcallFlowSummary[] {
    return [...this.#flows.values()].map(summarize);
  }

  delete(source: string, group: string): boolean {
    return this.#flows.delete(key(source, group));
  }

  clear(): void {
    this.#flows.clear();
  }
}

function summarize(f: Flow): UpcallFlowSummary {
  return { source: f.source, group: f.group, nocache: f.totals.nocache, wrongvif: f.totals.wrongvif, firstAt: f.firstAt, lastAt: f.lastAt };
}

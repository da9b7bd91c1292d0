// VIF allocation for one kernel table: lowest free index, one VIF per interface (by ifindex),
// reference-counted across routes. Pure bookkeeping — the engine performs the kernel calls.

export const MAX_VIFS = 32;

export interface VifSlot {
  vif: number;
  name: string;
  ifindex: number;
  /** Routes using this VIF as iif or oif. */
  refs: number;
}

export class VifTable {
  private readonly slots: (VifSlot | undefined)[] = new Array<VifSlot | undefined>(MAX_VIFS);

  /** The slot of an ifindex, skipping `excluded` indexes; allocation-free (hot path of bulk applies). */
  findByIfindex(ifindex: number, excluded: ReadonlySet<number>): VifSlot | undefined {
    for (let vif = 0; vif < MAX_VIFS; vif++) {
      const slot = this.slots[vif];
      if (slot !== undefined && slot.ifindex === ifindex && !excluded.has(vif)) return slot;
    }
    return undefined;
  }

  byIfindex(ifindex: number): VifSlot | undefined {
    return this.slots.find((slot) => slot?.ifindex === ifindex);
  }

  get(vif: number): VifSlot | undefined {
    return this.slots[vif];
  }

  /** Allocated slots in index order. */
  all(): VifSlot[] {
    return this.slots.filter((slot): slot is VifSlot => slot !== undefined);
  }

  /**
   * The `count` lowest free indexes, skipping `blocked` (indexes some kernel entry still
   * carries a TTL for — reusing them would make that entry forward to the newcomer), or
   * undefined when there are not enough.
   */
  freeIndexes(count: number, blocked: ReadonlySet<number> = new Set()): number[] | undefined {
    const free: number[] = [];
    for (let vif = 0; vif < MAX_VIFS && free.length < count; vif++) {
      if (this.slots[vif] === undefined && !blocked.has(vif)) free.push(vif);
    }
    return free.length === count ? free : undefined;
  }

  freeCount(): number {
    return MAX_VIFS - this.all().length;
  }

  insert(vif: number, name: string, ifindex: number): VifSlot {
    if (vif < 0 || vif >= MAX_VIFS) throw new RangeError(`vif ${vif} out of range`);
    if (this.slots[vif] !== undefined) throw new Error(`vif ${vif} already allocated`);
    const slot: VifSlot = { vif, name, ifindex, refs: 0 };
    this.slots[vif] = slot;
    return slot;
  }

  remove(vif: number): void {
    this.slots[vif] = undefined;
  }
}

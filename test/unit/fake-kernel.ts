// An in-memory KernelPort with the kernel's errno semantics (kernel-facts.md), plus failure
// injection, so engine logic is unit-testable. The real kernel is exercised in test/kernel.
import { KernelError } from "../../src/kernel/ffi/kernel-error.js";
import { GONE_INPUT_VIF, type KernelMfcEntry, type KernelPort, type KernelVif, type SgCounters, type VifCounters } from "../../src/engine/kernel-port.js";

const ERRNO = { ENOENT: 2, EINVAL: 22, ENFILE: 23, EADDRINUSE: 98, EADDRNOTAVAIL: 99 } as const;

export class FakeKernel implements KernelPort {
  readonly interfaces = new Map<string, number>();
  readonly vifs = new Map<number, number>(); // vif → ifindex
  readonly mfc = new Map<string, KernelMfcEntry>();
  /** Calls so far, e.g. "addVif 0 5". */
  readonly calls: string[] = [];
  /** With `survives`: the VIFs and entries written static (they outlive ownerClosed()). */
  readonly staticVifs = new Set<number>();
  readonly staticMfc = new Set<string>();

  /** `survives`: writes are static, like mfcd's static writer on a default table. */
  constructor(private readonly opts: { survives?: boolean } = {}) {}

  /** The owner socket closed (crash, SIGKILL, planned stop): what was not static goes. */
  ownerClosed(): void {
    for (const vif of this.vifs.keys()) if (!this.staticVifs.has(vif)) this.vifs.delete(vif);
    for (const key of this.mfc.keys()) if (!this.staticMfc.has(key)) this.mfc.delete(key);
  }

  leftoverVifs(): KernelVif[] | undefined {
    if (!this.opts.survives) return undefined;
    const names = new Map([...this.interfaces].map(([name, ifindex]) => [ifindex, name]));
    return [...this.vifs].filter(([vif]) => this.staticVifs.has(vif)).map(([vif, ifindex]) => ({ vif, ifindex, name: names.get(ifindex) ?? "" }));
  }

  adoptVif(vif: number, ifindex: number): void {
    this.calls.push(`adoptVif ${vif} ${ifindex}`);
  }

  /** Make the next matching call fail with this errno. */
  failNext: { op: "addVif" | "addMfc" | "delVif" | "delMfc"; errno: keyof typeof ERRNO } | undefined;

  addInterface(name: string, ifindex: number): void {
    this.interfaces.set(name, ifindex);
  }

  /** Emulate `ip link del`: the kernel removes the VIF at once but keeps MFC TTL slots. */
  removeInterface(name: string): void {
    const ifindex = this.interfaces.get(name);
    this.interfaces.delete(name);
    for (const [vif, idx] of this.vifs) if (idx === ifindex) this.vifs.delete(vif);
  }

  /** Emulate `ip link set OLD name NEW`: same ifindex, VIFs stay (they follow the ifindex). */
  renameInterface(from: string, to: string): void {
    const ifindex = this.interfaces.get(from);
    if (ifindex === undefined) throw new Error(`no interface ${from}`);
    this.interfaces.delete(from);
    this.interfaces.set(to, ifindex);
  }

  ifindex(name: string): number | undefined {
    return this.interfaces.get(name);
  }

  addVif(vif: number, ifindex: number): void {
    this.call("addVif", `${vif} ${ifindex}`);
    if (vif >= 32) this.fail("MRT_ADD_VIF", "ENFILE");
    if (this.vifs.has(vif)) this.fail("MRT_ADD_VIF", "EADDRINUSE");
    if (![...this.interfaces.values()].includes(ifindex)) this.fail("MRT_ADD_VIF", "EADDRNOTAVAIL");
    this.vifs.set(vif, ifindex);
    if (this.opts.survives) this.staticVifs.add(vif);
  }

  delVif(vif: number): void {
    this.call("delVif", `${vif}`);
    if (!this.vifs.has(vif)) this.fail("MRT_DEL_VIF", "EADDRNOTAVAIL");
    this.vifs.delete(vif);
    this.staticVifs.delete(vif);
  }

  addMfc(source: string, group: string, parent: number, oifs: ReadonlyMap<number, number>, dynamic = false): void {
    this.call("addMfc", `${source} ${group} ${parent} ${[...oifs.keys()].join(",")}`);
    // The kernel never clears MFC_STATIC once set.
    if (this.opts.survives && !dynamic) this.staticMfc.add(`${source}|${group}`);
    if (parent >= 32) this.fail("MRT_ADD_MFC", "ENFILE");
    const key = `${source}|${group}`;
    const counters = this.mfc.get(key)?.counters ?? { packets: 0n, bytes: 0n, wrongIf: 0n };
    // The kernel silently drops oifs naming VIFs that do not exist.
    const kept = new Map([...oifs].filter(([vif]) => this.vifs.has(vif)));
    this.mfc.set(key, { source, group, parent, oifs: kept, counters });
  }

  delMfc(source: string, group: string): void {
    this.call("delMfc", `${source} ${group}`);
    this.staticMfc.delete(`${source}|${group}`);
    if (!this.mfc.delete(`${source}|${group}`)) this.fail("MRT_DEL_MFC", "ENOENT");
  }

  sgCounters(source: string, group: string): SgCounters | undefined {
    const entry = this.mfc.get(`${source}|${group}`);
    return entry && { ...entry.counters };
  }

  vifCounters(vif: number): VifCounters | undefined {
    return this.vifs.has(vif) ? { inPackets: 0n, inBytes: 0n, outPackets: 0n, outBytes: 0n } : undefined;
  }

  /**
   * With `survives`, like the kernel's dump: oifs only for VIFs that exist, a gone input VIF as
   * GONE_INPUT_VIF. Otherwise every TTL the entry carries (older tests rely on seeing them).
   */
  dumpMfc(): Map<string, KernelMfcEntry> {
    const real = this.opts.survives === true;
    return new Map(
      [...this.mfc].map(([k, e]) => [
        k,
        {
          ...e,
          parent: !real || this.vifs.has(e.parent) ? e.parent : GONE_INPUT_VIF,
          oifs: new Map([...e.oifs].filter(([vif]) => !real || this.vifs.has(vif))),
        },
      ]),
    );
  }

  private call(op: string, args: string): void {
    this.calls.push(`${op} ${args}`);
    if (this.failNext?.op === op) {
      const { errno } = this.failNext;
      this.failNext = undefined;
      this.fail(`MRT_${op}`, errno);
    }
  }

  private fail(syscall: string, code: keyof typeof ERRNO): never {
    throw new KernelError(`setsockopt(${syscall})`, ERRNO[code]);
  }
}

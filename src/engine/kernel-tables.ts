// The kernel tables mfcd holds, one per (family, table id), opened on the first write only: a
// query or a dry run reads through a view and never claims a table from another router.

import { beginAdoption, finishAdoption } from "./adoption.js";
import { DomainError } from "./domain-error.js";
import type { KernelPort } from "./kernel-port.js";
import { kernelOptionMissing, type KernelSupport } from "./kernel-support.js";
import { canonicalTableId, type KernelTable } from "./kernel-table.js";
import { tableKeyString, type AddressFamily } from "./route-key.js";
import type { TableOpener } from "./route-types.js";
import { VifTable } from "./vif-table.js";

export class KernelTables {
  readonly #tables = new Map<string, KernelTable>();
  readonly #openTable: TableOpener;
  readonly #kernelSupport: KernelSupport | undefined;
  readonly #ifindex: ((name: string) => number | undefined) | undefined;
  /** Set during RouteEngine.restore(): tables opened meanwhile keep their adoption open for it. */
  restoring = false;

  constructor(
    openTable: TableOpener,
    kernelSupport: KernelSupport | undefined,
    ifindex: ((name: string) => number | undefined) | undefined,
  ) {
    this.#openTable = openTable;
    this.#kernelSupport = kernelSupport;
    this.#ifindex = ifindex;
  }

  /** Every open table. */
  all(): IterableIterator<KernelTable> {
    return this.#tables.values();
  }

  /** The missing kernel option as an error when this kernel cannot serve the table. Opens nothing. */
  unavailable(family: AddressFamily, tableId: number): DomainError | undefined {
    const open = this.opened(family, tableId);
    if (open) return open.unavailable;
    const part = this.#kernelSupport?.(family, tableId);
    return part && kernelOptionMissing(part, family, tableId);
  }

  /** A stand-in port for a table this kernel cannot serve: looks names up elsewhere, installs nothing. */
  #stubPort(unavailable: DomainError): KernelPort {
    const fail = (): never => {
      throw unavailable;
    };
    return {
      ifindex: (name) => {
        for (const t of this.#tables.values()) if (!t.unavailable) return t.port.ifindex(name);
        return undefined;
      },
      addVif: fail,
      delVif: fail,
      addMfc: fail,
      delMfc: fail,
      sgCounters: () => undefined,
      vifCounters: () => undefined,
      dumpMfc: () => undefined,
    };
  }

  /** The table if mfcd holds it already (the kernel's id of the default table is table 0). */
  opened(family: AddressFamily, tableId: number): KernelTable | undefined {
    return this.#tables.get(tableKeyString(family, canonicalTableId(family, tableId)));
  }

  /**
   * For checks and dry runs: the open table, else a view of it with no VIFs that looks names up
   * elsewhere and cannot write — a query never claims a kernel table from another router.
   */
  readView(family: AddressFamily, tableId: number): KernelTable {
    const open = this.opened(family, tableId);
    if (open) return open;
    const part = this.#kernelSupport?.(family, tableId);
    const unavailable = part && kernelOptionMissing(part, family, tableId);
    const readOnly = new DomainError("internal", `table ${family}/${tableId} is not open: nothing can be written through a view`);
    const port = this.#stubPort(readOnly);
    const ifindex = this.#ifindex;
    if (ifindex) port.ifindex = ifindex;
    else if (![...this.#tables.values()].some((t) => !t.unavailable)) {
      // Nothing open to look names up through: only opening the table can answer.
      return this.open(family, tableId);
    }
    return { family, id: tableId, port, unavailable, vifs: new VifTable(), stale: new Set(), foreignVifs: new Set(), foreign: [] };
  }

  /** Open (own) the kernel table: only for a write. */
  open(family: AddressFamily, tableId: number): KernelTable {
    tableId = canonicalTableId(family, tableId);
    const id = tableKeyString(family, tableId);
    let table = this.#tables.get(id);
    if (!table) {
      const part = this.#kernelSupport?.(family, tableId);
      const unavailable = part && kernelOptionMissing(part, family, tableId);
      table = {
        family,
        id: tableId,
        port: unavailable ? this.#stubPort(unavailable) : this.#openTable(family, tableId),
        unavailable,
        vifs: new VifTable(),
        stale: new Set(),
        foreignVifs: new Set(),
        foreign: [],
      };
      this.#tables.set(id, table);
      // What a previous mfcd left: the restore claims it; opened later, nothing will.
      if (!unavailable && beginAdoption(table) && !this.restoring) finishAdoption(table);
    }
    return table;
  }
}

import os from "node:os";

const errnoNames = new Map<number, string>(
  Object.entries(os.constants.errno).map(([name, num]) => [num, name]),
);

/** A failed system call, carrying the errno so callers can map it to a domain error. */
export class KernelError extends Error {
  override readonly name = "KernelError";
  /** errno name, e.g. "EADDRINUSE". */
  readonly code: string;

  constructor(
    /** What was attempted, e.g. "setsockopt(MRT_ADD_VIF)". */
    readonly syscall: string,
    readonly errno: number,
    readonly detail?: string,
    /** The multicast routing table (mfcd numbering, 0 = default) the call was about, when known. */
    readonly table?: number,
  ) {
    const code = errnoNames.get(errno) ?? `errno ${errno}`;
    super(`${syscall} failed: ${code}${detail ? ` (${detail})` : ""}`);
    this.code = code;
  }

  /** The same error, noting which table it was about (MRT_TABLE/MRT_INIT at open). */
  inTable(table: number): KernelError {
    return this.table === table ? this : new KernelError(this.syscall, this.errno, this.detail, table);
  }
}

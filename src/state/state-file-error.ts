// A state file mfcd cannot trust. mfcd refuses to start on it rather than come up with a
// partial routing table: the message names the file and, where there is one, the line, so an
// operator can fix it or start over with --reset-state (which keeps the file aside).

export interface StateFileErrorOptions {
  /** 1-based line of the state file the problem is on. */
  line?: number;
  cause?: unknown;
}

export class StateFileError extends Error {
  override readonly name = "StateFileError";
  readonly line?: number;

  constructor(
    readonly path: string,
    /** The problem alone, without the file and line prefix. */
    readonly problem: string,
    options: StateFileErrorOptions = {},
  ) {
    const where = options.line === undefined ? "" : `line ${options.line}: `;
    super(`state file ${path}: ${where}${problem}`, options.cause === undefined ? undefined : { cause: options.cause });
    if (options.line !== undefined) this.line = options.line;
  }
}

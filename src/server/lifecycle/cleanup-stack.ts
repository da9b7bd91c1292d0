// What mfcd has started, as the steps that undo it. Every step that succeeds pushes its undo;
// a failed start and a shutdown both unwind the same stack, newest first. Each undo is isolated:
// one that throws (or rejects) is reported and the rest still run, so a failing step can never
// leave an ip mrule, the nft table or an unflushed state file behind.

export type Undo = () => void | Promise<void>;

export interface UndoFailure {
  name: string;
  err: unknown;
}

export class CleanupStack {
  private readonly steps: { name: string; undo: Undo }[] = [];

  /** Remember how to undo `name` (call it once the step has succeeded). */
  push(name: string, undo: Undo): void {
    this.steps.push({ name, undo });
  }

  get size(): number {
    return this.steps.length;
  }

  /**
   * Runs and removes every undo, newest first, one at a time (a later step may depend on an
   * earlier one still being there, e.g. readers before their sockets). Never rejects: each
   * failure goes to `onError` and is returned.
   */
  async unwind(onError: (failure: UndoFailure) => void = () => undefined): Promise<UndoFailure[]> {
    const failures: UndoFailure[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.undo();
      } catch (err) {
        const failure = { name: step.name, err };
        failures.push(failure);
        try {
          onError(failure);
        } catch {
          // A reporter that throws must not stop the unwinding either.
        }
      }
    }
    return failures;
  }
}

// The MfcError a call failed with (tests of error statuses); fails the test if it succeeded.

import { MfcError } from "../../src/sdk/index.js";

export async function rejection(p: Promise<unknown>): Promise<MfcError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MfcError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

/** from, from+1, …, to-1. */
export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

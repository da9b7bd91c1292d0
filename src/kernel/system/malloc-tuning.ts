// glibc malloc settings for a long-running daemon. Node's native side (nghttp2, V8's
// backing stores, libuv) allocates through malloc from a dozen threads: by default glibc gives
// busy threads their own arenas (up to 8 per core) and keeps freed memory in them, and its
// mmap threshold grows with every freed large block (a WatchStats message of a large table is
// one), so such buffers end up inside the arenas, resident long after the calls that freed them
// (what these settings save is measured by bench/list-watch.ts; figures in README "Measured
// figures in the code").
//
// mallopt() at the start of main() measured as effective as the environment variables; an
// operator's MALLOC_ARENA_MAX / MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ win over
// these.

import { mallopt } from "../ffi/index.js";

/** mallopt() parameters, from glibc's malloc.h. */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const M_ARENA_MAX = -8;

export interface MallocTuning {
  arenaMax: number;
  /** Bytes: blocks this large are mmap()ed and returned to the kernel when freed. */
  mmapThreshold: number;
  /** Bytes of free memory at the top of a heap that free() gives back. */
  trimThreshold: number;
}

export const DAEMON_MALLOC_TUNING: MallocTuning = { arenaMax: 2, mmapThreshold: 64 * 1024, trimThreshold: 64 * 1024 };

/**
 * Applies `tuning` unless the environment already sets that parameter (an operator's choice
 * wins). Returns the parameters applied.
 */
export function tuneMalloc(tuning: MallocTuning = DAEMON_MALLOC_TUNING, env: NodeJS.ProcessEnv = process.env): string[] {
  const applied: string[] = [];
  const set = (name: string, param: number, value: number) => {
    if (env[name] !== undefined) return;
    if (mallopt(param, value)) applied.push(`${name}=${value}`);
  };
  set("MALLOC_ARENA_MAX", M_ARENA_MAX, tuning.arenaMax);
  set("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, tuning.mmapThreshold);
  set("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, tuning.trimThreshold);
  return applied;
}

// Running the nft binary, optionally inside another network namespace. nftables state is per
// netns and nft talks to the kernel of the namespace it runs in, so for a foreign namespace the
// child is spawned while this thread is inside it (inNetns): fork() copies the calling thread's
// namespaces, so neither `ip netns exec` nor nsenter is needed, and the rest of Node never sees the
// foreign namespace. mfcd normally runs inside its own namespace and passes no netns at all.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { inNetns } from "../ffi/index.js";
import { NFT_PACKAGE, NftError } from "./nft-error.js";

export interface NftRunOptions {
  /** Network namespace file (e.g. /run/netns/NAME) to run nft in; default: our own. */
  netns?: string;
  /** Written to nft's stdin (for `-f -`). */
  input?: string;
  /** SIGKILL nft after this long (default 10 s; a transaction takes milliseconds). */
  timeoutMs?: number;
  /** Environment for nft (PATH lookup included); default process.env. */
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** The NftError for nft that could not be started (not installed: ENOENT). */
export function nftSpawnError(args: readonly string[], err: NodeJS.ErrnoException): NftError {
  return new NftError(
    args,
    `cannot run nft (${err.code ?? err.message}); install the Debian package "${NFT_PACKAGE}"`,
    null,
    err.code === "ENOENT",
  );
}

/** Spawns `nft ...args` (in `netns` if given) with piped stdio; for long-running `nft monitor`. */
export function spawnNft(args: readonly string[], opts: Pick<NftRunOptions, "netns" | "env"> = {}): ChildProcess {
  return inNetns(opts.netns, () =>
    spawn("nft", args, { stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? process.env }),
  );
}

/** Runs nft to completion; resolves with stdout, rejects with an NftError carrying stderr. */
export function runNft(args: readonly string[], opts: NftRunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawnNft(args, opts);
    } catch (err) {
      reject(err as Error);
      return;
    }
    let stdout = "";
    let stderr = "";
    let spawnError: NodeJS.ErrnoException | undefined;
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.stdin?.on("error", () => undefined); // EPIPE if nft exits before reading everything
    child.stdin?.end(opts.input ?? "");
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.once("error", (err: NodeJS.ErrnoException) => (spawnError = err));
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (spawnError !== undefined) reject(nftSpawnError(args, spawnError));
      else if (code === 0) resolve(stdout);
      else reject(new NftError(args, stderr.trim() || (signal ? `killed by ${signal}` : ""), code));
    });
  });
}

/**
 * Synchronous runNft, for shutdown paths (process "exit" handlers cannot await). Blocks the
 * event loop for the few milliseconds nft takes.
 */
export function runNftSync(args: readonly string[], opts: NftRunOptions = {}): string {
  const r = inNetns(opts.netns, () =>
    spawnSync("nft", args, {
      input: opts.input ?? "",
      encoding: "utf8",
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      killSignal: "SIGKILL",
    }),
  );
  if (r.error) throw nftSpawnError(args, r.error as NodeJS.ErrnoException);
  if (r.status !== 0) throw new NftError(args, r.stderr.trim() || (r.signal ? `killed by ${r.signal}` : ""), r.status);
  return r.stdout;
}

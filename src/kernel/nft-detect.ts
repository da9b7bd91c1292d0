// Whether nftables can be used here: mfcd works without it (the rescue and trace features are
// then unavailable), so this answers with a reason instead of throwing.

import fs from "node:fs";
import path from "node:path";
import { NFT_PACKAGE, NftError } from "./nft-error.js";
import { runNftSync } from "./nft-run.js";

export type NftAvailability = { available: true; version: string } | { available: false; why: string };

export interface NftDetectOptions {
  /** Environment whose PATH is searched (default process.env) — the one nft will run with. */
  env?: NodeJS.ProcessEnv;
  /** Also check that nft can list the ruleset in this namespace (default: our own). */
  netns?: string;
}

function findInPath(name: string, pathVar: string | undefined): string | undefined {
  for (const dir of (pathVar ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Finds nft in PATH, reads its version and lists the tables once, which proves the kernel has
 * nf_tables and we may use it (CAP_NET_ADMIN). Synchronous: meant for startup.
 */
export function detectNft(opts: NftDetectOptions = {}): NftAvailability {
  const env = opts.env ?? process.env;
  const file = findInPath("nft", env.PATH);
  if (file === undefined) {
    return {
      available: false,
      why: `nft not found in PATH (${env.PATH ?? "unset"}); install the Debian package "${NFT_PACKAGE}"`,
    };
  }
  try {
    const out = runNftSync(["--version"], { env });
    const version = /v(\d+(?:\.\d+)+)/.exec(out)?.[1] ?? out.trim();
    runNftSync(["list", "tables"], { env, netns: opts.netns });
    return { available: true, version };
  } catch (err) {
    const why = err instanceof NftError ? err.message : String(err);
    return { available: false, why: `${file} is not usable: ${why}` };
  }
}

// Whether nftables can be used here: mfcd works without it (the rescue and trace features are
// then unavailable), so this answers with a reason instead of throwing.

import fs from "node:fs";
import path from "node:path";
import { CAPABILITY_OPTIONS } from "../requirements/index.js";
import { NFT_PACKAGE, NftError } from "./nft-error.js";
import { runNft, runNftSync } from "./nft-run.js";
import { type NftJsonDoc, nftJsonObjects } from "./nft-transaction.js";

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

function notInPath(env: NodeJS.ProcessEnv): NftAvailability {
  return {
    available: false,
    why: `nft not found in PATH (${env.PATH ?? "unset"}); install the Debian package "${NFT_PACKAGE}"`,
  };
}

/** nft's words when the kernel has no nf_tables at all (no NETLINK_NETFILTER socket). */
const NO_NF_TABLES = /Unable to initialize Netlink socket|Protocol not supported/;

function unusable(file: string, err: unknown): NftAvailability {
  const why = err instanceof NftError ? err.message : String(err);
  // Name the kernel options when the kernel is the cause, so no one reinstalls nftables for it.
  const kernel = NO_NF_TABLES.test(why) ? " (the kernel lacks nf_tables: CONFIG_NF_TABLES, CONFIG_NF_TABLES_IPV4)" : "";
  return { available: false, why: `${file} is not usable: ${why}${kernel}` };
}

function parseVersion(out: string): string {
  return /v(\d+(?:\.\d+)+)/.exec(out)?.[1] ?? out.trim();
}

/**
 * Finds nft in PATH, reads its version and lists the tables once, which proves the kernel has
 * nf_tables and we may use it (CAP_NET_ADMIN). Synchronous: blocks the event loop while nft runs.
 */
export function detectNft(opts: NftDetectOptions = {}): NftAvailability {
  const env = opts.env ?? process.env;
  const file = findInPath("nft", env.PATH);
  if (file === undefined) return notInPath(env);
  try {
    const version = parseVersion(runNftSync(["--version"], { env }));
    runNftSync(["list", "tables"], { env, netns: opts.netns });
    return { available: true, version };
  } catch (err) {
    return unusable(file, err);
  }
}

/** What detectNftAsync() found: availability, and the `ip` tables when nft could list them. */
export interface NftStartupProbe {
  availability: NftAvailability;
  /**
   * Whether the kernel accepts a table of nf_tables' `ip` family (`nft -c add table ip …`,
   * CONFIG_NF_TABLES_IPV4): the kernel capability "nft". Unavailable with nft's reason when
   * nft itself is unusable.
   */
  ipFamily: { available: boolean; detail: string };
  /** `nft -j list tables ip` output (a JSON document), from the run that proved nft usable. */
  ipTablesJson?: string;
}

/**
 * detectNft() in one child process, without blocking the event loop (startup: the daemon restores
 * its routes meanwhile, and each spawn costs its thread a fork). `nft -j list tables ip` proves
 * what `list tables` does, its metainfo carries the version, and the listing is handed on for the
 * startup clean-up. If it fails (nft built without JSON support, say), detectNft's two runs
 * decide, asynchronously, so the reason given is the same.
 */
export async function detectNftAsync(opts: NftDetectOptions = {}): Promise<NftStartupProbe> {
  const found = await detectNftUsable(opts);
  if (!found.availability.available) return { ...found, ipFamily: { available: false, detail: found.availability.why } };
  return { ...found, ipFamily: await probeIpFamily(opts) };
}

async function detectNftUsable(opts: NftDetectOptions): Promise<Omit<NftStartupProbe, "ipFamily">> {
  const env = opts.env ?? process.env;
  const file = findInPath("nft", env.PATH);
  if (file === undefined) return { availability: notInPath(env) };
  try {
    const out = await runNft(["-j", "list", "tables", "ip"], { env, netns: opts.netns });
    const meta = nftJsonObjects<{ version?: unknown }>(JSON.parse(out) as NftJsonDoc, "metainfo")[0];
    if (typeof meta?.version === "string") return { availability: { available: true, version: meta.version }, ipTablesJson: out };
  } catch {
    // decided below
  }
  try {
    const version = parseVersion(await runNft(["--version"], { env }));
    await runNft(["list", "tables"], { env, netns: opts.netns });
    return { availability: { available: true, version } };
  } catch (err) {
    return { availability: unusable(file, err) };
  }
}

/** `nft -c add table ip …` once nft is known usable: does the kernel have the ip family? */
async function probeIpFamily(opts: NftDetectOptions): Promise<{ available: boolean; detail: string }> {
  try {
    await runNft(nftIpFamilyProbeArgs(), { env: opts.env ?? process.env, netns: opts.netns, timeoutMs: 5000 });
    return nftProbeResult(undefined);
  } catch (err) {
    return nftProbeResult(err);
  }
}


let probeSeq = 0;

/** A table name no one uses: check mode never creates it anyway. */
function probeTableName(): string {
  return `mfcd_probe_${process.pid}_${++probeSeq}`;
}

/** The argv of nft's check-mode probe of the `ip` family. */
export function nftIpFamilyProbeArgs(): string[] {
  return ["-c", "add", "table", "ip", probeTableName()];
}

/** KernelCapability fields from the outcome of `nft -c add table ip …` (undefined: success). */
export function nftProbeResult(err: unknown): { available: boolean; detail: string } {
  if (err === undefined) return { available: true, detail: "" };
  if (err instanceof NftError && err.missing) return { available: false, detail: err.stderr };
  const text = err instanceof NftError ? err.stderr || err.message : err instanceof Error ? err.message : String(err);
  if (/Operation not permitted|Permission denied/i.test(text)) {
    return { available: false, detail: `nft: ${text} (mfcd lacks CAP_NET_ADMIN; the kernel option is not the cause)` };
  }
  if (/not supported|No such file or directory|Protocol not supported/i.test(text)) {
    return { available: false, detail: `nft: ${text} (the kernel lacks nf_tables' ip family: ${CAPABILITY_OPTIONS.nft.option})` };
  }
  return { available: false, detail: `nft: ${text}` };
}

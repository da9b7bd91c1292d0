// The one FAILED_PRECONDITION for requests that need nftables where it cannot be used: nft is not
// installed (name the Debian package), or the kernel lacks nf_tables' ip family (name the package
// and the kernel option, CONFIG_NF_TABLES_IPV4), or mfcd may not use it.

import { DomainError } from "../../engine/domain-error.js";

/** google.rpc.ErrorInfo reason of every "needs nftables" refusal. */
export const NFT_UNAVAILABLE = "NFT_UNAVAILABLE";
/** The Debian package that ships nft. */
export const NFT_PACKAGE_NAME = "nftables";
/** The kernel option of nf_tables' ip family (rescue rules, TTL probes and Trace use it). */
export const NFT_KERNEL_OPTION = "CONFIG_NF_TABLES_IPV4";

/** True when `why` says the kernel (not a missing nft binary) is the cause. */
export function kernelIsCause(why: string): boolean {
  return why.includes(NFT_KERNEL_OPTION);
}

/**
 * `what` needs nftables (e.g. "rewrite_source and set_ttl are programmed with nftables") and it
 * is unavailable for `why` (nft-detect's or the kernel probe's reason).
 */
export function nftUnavailable(what: string, why: string): DomainError {
  const kernel = kernelIsCause(why);
  const fix = kernel
    ? `it needs the Debian package "${NFT_PACKAGE_NAME}" and a kernel with ${NFT_KERNEL_OPTION}`
    : `install the Debian package "${NFT_PACKAGE_NAME}"`;
  // nft-detect's reason may already say how to install nft: say it once.
  const tail = why.includes(fix) ? "" : `; ${fix}`;
  return new DomainError("failed-precondition", `${what}, which is not available here (${why || "nft not found"})${tail}`, {
    reason: NFT_UNAVAILABLE,
    metadata: kernel ? { package: NFT_PACKAGE_NAME, option: NFT_KERNEL_OPTION } : { package: NFT_PACKAGE_NAME },
  });
}

// A failed `nft` run. nft reports problems only as text on stderr (with a caret pointing at the
// offending token), so that text is what callers get: there is no errno to map.

/** The Debian package that ships /usr/sbin/nft; named in every "nft missing" message. */
export const NFT_PACKAGE = "nftables";

export class NftError extends Error {
  override readonly name = "NftError";

  constructor(
    /** nft's arguments, e.g. ["-f", "-"]. */
    readonly args: readonly string[],
    /** What nft printed on stderr (trimmed), or why it could not be started. */
    readonly stderr: string,
    /** Exit status; null when nft did not start or was killed by a signal. */
    readonly exitCode: number | null,
    /** True when nft is not installed (spawn ENOENT). */
    readonly missing = false,
  ) {
    super(`nft ${args.join(" ")} failed${exitCode === null ? "" : ` (exit ${exitCode})`}: ${stderr || "(no stderr)"}`);
  }
}

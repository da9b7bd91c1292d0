// Ruleset text shared by mfcd's nft tables. Every change is one `nft -f -` file, which nft sends
// to the kernel as a single netlink batch: the kernel commits all of it or none of it, and no
// packet ever sees a half-written table.

import { nftIdentifier } from "./nft-literals.js";

/**
 * Lines that delete `table ip NAME` whether or not it exists (nft 1.0.6 has no `destroy`):
 * declaring an existing table is a no-op, so the delete always has something to delete.
 * Followed by the table's full definition in the same file this is an atomic replace.
 */
export function nftResetTable(name: string): string {
  nftIdentifier(name);
  return `table ip ${name} {}\ndelete table ip ${name}\n`;
}

/** True when nft failed because the object it was asked about does not exist. */
export function isNftNotFound(stderr: string): boolean {
  return /No such file or directory/.test(stderr);
}

/** Minimal shape of `nft -j list ...` output used by mfcd's readers. */
export interface NftJsonDoc {
  nftables?: Record<string, unknown>[];
}

/** The objects of one kind ("table", "chain", "rule", "set") in `nft -j` output. */
export function nftJsonObjects<T>(doc: NftJsonDoc, kind: string): T[] {
  return (doc.nftables ?? []).flatMap((o) => (kind in o ? [o[kind] as T] : []));
}

// nftables through the nft binary: running it (also in another netns), detection, the literals
// and transactions of mfcd's rulesets, the rescue table, Diagnose's TTL probe and Trace.
export { runNftSync } from "./nft-run.js";
export { type NftAvailability, nftIpFamilyProbeArgs, nftProbeResult, type NftStartupProbe } from "./nft-detect.js";
export { NftError } from "./nft-error.js";
export { NftRescueTable } from "./nft-rescue-table.js";
export { NftTrace } from "./nft-trace.js";

// nftables in the daemon: its start (detection, then the rescue table of the restored routes),
// the rescue table kept equal to the routes' rescue options, and the one FAILED_PRECONDITION of
// requests that need nftables where it cannot be used.
export { type NftStartup, nftTrace, startNft } from "./nft-startup.js";
export { RescueSync } from "./rescue-sync.js";
export { nftUnavailable } from "./nft-unavailable.js";

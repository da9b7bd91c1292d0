// Blocking reads off the event loop: the poll hub (one worker thread for every reader) and its
// two readers, the upcall reader (with its ring of recent upcalls) and the rtnetlink monitor.
// Worker-side modules (poll-hub-worker.ts and the *-handler.ts modules) sit next to the modules
// that name them (worker-module.ts), and scripts/bundle.mjs bundles them as entries of their own.
export { type Upcall, UpcallReader } from "./upcall-reader.js";
export { UpcallRing } from "./upcall-ring.js";
export { type RtnetlinkEvent, RtnetlinkMonitor } from "./rtnetlink-monitor.js";

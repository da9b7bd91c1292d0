// What main.ts starts and stops: the CleanupStack every start step pushes its undo on, the kernel
// tables with their upcall readers and the rtnetlink monitor (table-sockets.ts), the sync of the
// engine with kernel events, the background timers, ip mrules, and Diagnose's kernel probes.
export { CleanupStack } from "./cleanup-stack.js";
export { TableSockets, type Handoff } from "./table-sockets.js";
export { ReconcileTimers } from "./reconcile-timers.js";
export { installMrules } from "./mrule-steps.js";
export { isLocalAddress, kernelFlowProbes } from "./kernel-flow-probes.js";

// The Diagnose and Trace RPCs: evidence about one flow judged into findings, and a temporary
// nft trace of one flow streamed as events.
export { diagnose, type FlowProbes } from "./diagnose.js";
export { traceFlow, type TraceStarter } from "./trace-flow.js";

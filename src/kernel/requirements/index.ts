// What mfcd needs: the kernel option behind each capability and the messages built from probe
// results (pure), and which of the Linux capabilities it needs this process holds.
export {
  capabilitiesForTable,
  CAPABILITY_NAMES,
  CAPABILITY_OPTIONS,
  capabilityEntry,
  missingForTable,
  neededLinuxCapability,
  noRoutingMessage,
  optionForSyscall,
  probeFailureDetail,
  unavailableSummary,
} from "./kernel-requirements.js";
export { missingCapabilities } from "./capabilities.js";

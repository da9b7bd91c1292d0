// Where mfcd keeps its routes unless told otherwise. One file per network namespace (named like
// the default socket), because `ip netns exec` shares /var/lib with the host: two daemons in two
// namespaces must never replay each other's routes.

import path from "node:path";
import { netnsIdentity } from "../shared/netns-identity.js";

const DEFAULT_STATE_DIR = "/var/lib/mfcd";

/** `$STATE_DIRECTORY/<identity>.state` under systemd's StateDirectory=, else /var/lib/mfcd/. */
export function defaultStatePath(identity: string = netnsIdentity()): string {
  // systemd passes one path per StateDirectory= entry, colon-separated; the first is ours.
  const fromSystemd = process.env.STATE_DIRECTORY?.split(":").find((dir) => dir !== "");
  return path.join(fromSystemd ?? DEFAULT_STATE_DIR, `${identity}.state`);
}

// Which network namespace this process runs in, so per-namespace defaults (socket path, later
// the state file) never collide: `ip netns exec NAME` shares /run with the host.

import fs from "node:fs";
import path from "node:path";

const NETNS_DIR = "/run/netns";

/** "host" for the init namespace, the `ip netns` name if there is one, else "netns-<inode>". */
export function netnsIdentity(): string {
  let self: fs.Stats;
  try {
    self = fs.statSync("/proc/self/ns/net");
  } catch {
    return "host";
  }
  try {
    const init = fs.statSync("/proc/1/ns/net");
    if (init.ino === self.ino && init.dev === self.dev) return "host";
  } catch {
    // /proc/1 not visible (containers with their own pid namespace): fall through.
  }
  try {
    for (const name of fs.readdirSync(NETNS_DIR)) {
      const st = fs.statSync(path.join(NETNS_DIR, name));
      if (st.ino === self.ino && st.dev === self.dev) return name;
    }
  } catch {
    // No named namespaces.
  }
  return `netns-${self.ino}`;
}

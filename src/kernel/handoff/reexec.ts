// In-place upgrade: this process becomes the mfcd now installed at its entry point (execve: same
// pid, so a service manager or a container runtime sees no exit). The MRT_INIT sockets stay open
// across it — the kernel never sees their owner go, so forwarding never stops — and the new
// program finds them by name in MFCD_HANDOFF (listen-fds.ts).

import { execve, setCloexec } from "../ffi/index.js";
import { HANDOFF_ENV } from "./listen-fds.js";

/** Replaces this program with a fresh start of the same command line, handing `sockets` over. Returns only by throwing. */
export function reexec(sockets: ReadonlyMap<string, number>): never {
  for (const fd of sockets.values()) setCloexec(fd, false);
  // Node marks its stdio close-on-exec: the new program must log where this one did.
  for (const fd of [0, 1, 2]) {
    try {
      setCloexec(fd, false);
    } catch {
      // not open
    }
  }
  const env = Object.entries(process.env)
    .filter(([k, v]) => v !== undefined && ![HANDOFF_ENV, "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"].includes(k))
    .map(([k, v]) => `${k}=${v ?? ""}`);
  env.push(`${HANDOFF_ENV}=${[...sockets].map(([name, fd]) => `${name}=${fd}`).join(",")}`);
  const script = process.argv[1];
  if (script === undefined) throw new Error("re-exec: no entry point in process.argv");
  execve(process.execPath, [process.execPath, ...process.execArgv, script, ...process.argv.slice(2)], env);
}

// Sockets a process is handed at start, by name: systemd's socket-passing protocol
// (sd_listen_fds(3): fds from 3 on, LISTEN_FDS of them, LISTEN_FDNAMES colon-separated, valid only
// when LISTEN_PID is this process) — how the file-descriptor store gives mfcd back its MRT_INIT
// sockets — and mfcd's own re-exec handoff (MFCD_HANDOFF="name=fd,…", reexec.ts), which keeps the
// descriptors at their numbers across execve().

import { setCloexec } from "../ffi/index.js";

/** The variable reexec() sets for the new program: "name=fd" pairs, comma-separated. */
export const HANDOFF_ENV = "MFCD_HANDOFF";
/** sd_listen_fds(3): the first passed descriptor. */
const LISTEN_FDS_START = 3;

/**
 * The descriptors handed to this process, by name (systemd's unnamed ones as "unknown"). Removes
 * the variables from `env` (a child must not take them as its own) and marks every fd
 * close-on-exec. Malformed variables hand nothing: mfcd then opens its sockets as usual.
 */
export function listenFds(env: NodeJS.ProcessEnv = process.env, pid = process.pid): Map<string, number> {
  const handed = new Map<string, number>();
  const handoff = env[HANDOFF_ENV];
  if (handoff !== undefined) {
    for (const pair of handoff.split(",")) {
      const m = /^([\w.-]+)=(\d+)$/.exec(pair);
      if (m) handed.set(m[1] as string, Number(m[2]));
    }
  }
  const count = Number(env.LISTEN_FDS);
  if (env.LISTEN_PID === String(pid) && Number.isInteger(count) && count > 0 && count < 1024) {
    const names = (env.LISTEN_FDNAMES ?? "").split(":");
    for (let i = 0; i < count; i++) handed.set(names[i] || `unknown-${i}`, LISTEN_FDS_START + i);
  }
  for (const key of [HANDOFF_ENV, "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]) delete env[key];
  for (const fd of handed.values()) {
    try {
      setCloexec(fd, true);
    } catch {
      // EBADF: not open after all; the caller finds the name missing or the socket unusable
    }
  }
  return handed;
}

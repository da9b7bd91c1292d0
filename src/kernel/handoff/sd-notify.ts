// The service manager's notify protocol (sd_notify(3)) without libsystemd: one datagram of
// "KEY=value" lines to the AF_UNIX socket named by $NOTIFY_SOCKET, with file descriptors as
// SCM_RIGHTS for FDSTORE=1. mfcd stores its MRT_INIT sockets there (systemd's file-descriptor
// store) so that a restart of the unit hands them to the next mfcd and forwarding never stops.

import { AF_UNIX, close, sendmsgFds, SOCK_CLOEXEC, SOCK_DGRAM, socket, sockaddrUn } from "../ffi/index.js";

/** Whether $NOTIFY_SOCKET names a socket mfcd can notify (a path or an abstract "@name"). */
export function notifySocket(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = env.NOTIFY_SOCKET;
  return path !== undefined && (path.startsWith("/") || path.startsWith("@")) ? path : undefined;
}

/**
 * Sends `state` (e.g. "READY=1", "FDSTORE=1\nFDNAME=mrt-ipv4-0") with `fds` to the notify
 * socket; false when there is none. Throws KernelError when the datagram cannot be sent (the
 * manager refuses fds unless the unit sets FileDescriptorStoreMax=).
 */
export function sdNotify(state: string, fds: readonly number[] = [], env: NodeJS.ProcessEnv = process.env): boolean {
  const path = notifySocket(env);
  if (path === undefined) return false;
  const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  try {
    sendmsgFds(fd, sockaddrUn(path), Buffer.from(state, "utf8"), fds, `sendmsg(NOTIFY_SOCKET=${path})`);
  } finally {
    close(fd);
  }
  return true;
}

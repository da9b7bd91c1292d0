// Handing kernel sockets to the next mfcd without closing them: systemd's notify protocol and
// file-descriptor store, the sockets a process is handed at start, and the in-place re-exec.
export { notifySocket, sdNotify } from "./sd-notify.js";
export { listenFds } from "./listen-fds.js";
export { reexec } from "./reexec.js";

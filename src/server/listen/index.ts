// Unix socket listeners: a stale socket file is replaced, a live one refused, and --socket-group
// names the group that may connect (mode 0660).
export { prepareUnixSocket } from "./unix-socket.js";
export { resolveGroupId } from "./socket-group.js";

// --listen values: "unix:/abs/path", "unix:///abs/path", "unix:relative" or "host:port".

import path from "node:path";
import { netnsIdentity } from "./netns-identity.js";

export type ListenAddress = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

export const DEFAULT_SOCKET_DIR = "/run/mfcd";

/** One socket per network namespace: the host gets mfcd.sock, `ip netns` NAME gets NAME.sock. */
export function defaultSocketPath(): string {
  const id = netnsIdentity();
  return path.join(DEFAULT_SOCKET_DIR, id === "host" ? "mfcd.sock" : `${id}.sock`);
}

export function parseListenAddress(text: string, flag = "--listen"): ListenAddress {
  if (text.startsWith("unix:")) {
    let p = text.slice("unix:".length);
    if (p.startsWith("//")) p = p.slice(2);
    if (p === "") throw new Error(`${flag} ${text}: empty socket path`);
    return { kind: "unix", path: path.resolve(p) };
  }
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  if (!m) throw new Error(`${flag} ${text}: expected unix:/path or host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`${flag} ${text}: port out of range`);
  return { kind: "tcp", host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** The address grpc-js binds/dials. */
export function grpcTarget(addr: ListenAddress): string {
  if (addr.kind === "unix") return `unix://${addr.path}`;
  return addr.host.includes(":") ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

export function formatListenAddress(addr: ListenAddress): string {
  return addr.kind === "unix" ? `unix:${addr.path}` : grpcTarget(addr);
}

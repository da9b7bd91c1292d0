// Credentials per listener: Unix sockets are guarded by file permissions (0660 + --socket-group)
// and stay plaintext; TCP listeners use TLS when --tls-cert/--tls-key are given, and mutual TLS
// (a client certificate signed by --tls-client-ca is required) when a client CA is given too.

import fs from "node:fs";
import { ServerCredentials } from "@grpc/grpc-js";
import type { ListenAddress } from "./listen-address.js";

export interface TlsFiles {
  cert: string;
  key: string;
  /** Require and verify client certificates against this CA bundle. */
  clientCa?: string;
}

/** A PEM file named by a command-line flag; the error names the flag, the file and the errno. */
export function readFlagFile(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Reads the files once at start: a missing or unreadable file refuses the start, naming it. */
export function loadTls(files: TlsFiles): { cert: Buffer; key: Buffer; clientCa?: Buffer } {
  const cert = readFlagFile("--tls-cert", files.cert);
  const key = readFlagFile("--tls-key", files.key);
  const clientCa = files.clientCa === undefined ? undefined : readFlagFile("--tls-client-ca", files.clientCa);
  return clientCa === undefined ? { cert, key } : { cert, key, clientCa };
}

export function credentialsFor(
  addr: ListenAddress,
  tls: { cert: Buffer; key: Buffer; clientCa?: Buffer } | undefined,
): ServerCredentials {
  if (addr.kind === "unix" || tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ cert_chain: tls.cert, private_key: tls.key }],
    tls.clientCa !== undefined,
  );
}

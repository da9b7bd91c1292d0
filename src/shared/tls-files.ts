// The PEM files of --tls-cert/--tls-key/--tls-client-ca (and mfcctl's), read once at start. Kept
// apart from src/server/rpc/server-credentials.ts, which needs @grpc/grpc-js: the daemon reads
// these files before it takes the kernel table, and importing grpc-js there would put its module
// evaluation in front of the restore instead of overlapping it with the workers' boot (its cost:
// README "Measured figures in the code").

import fs from "node:fs";

export interface TlsFiles {
  cert: string;
  key: string;
  /** Require and verify client certificates against this CA bundle. */
  clientCa?: string;
}

/** The file contents loadTls() returns, handed to credentialsFor(). */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
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
export function loadTls(files: TlsFiles): TlsMaterial {
  const cert = readFlagFile("--tls-cert", files.cert);
  const key = readFlagFile("--tls-key", files.key);
  const clientCa = files.clientCa === undefined ? undefined : readFlagFile("--tls-client-ca", files.clientCa);
  return clientCa === undefined ? { cert, key } : { cert, key, clientCa };
}

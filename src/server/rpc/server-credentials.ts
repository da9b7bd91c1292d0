// Credentials per listener: Unix sockets are guarded by file permissions (0660 + --socket-group)
// and stay plaintext; TCP listeners use TLS when --tls-cert/--tls-key are given, and mutual TLS
// (a client certificate signed by --tls-client-ca is required) when a client CA is given too.

import { ServerCredentials } from "@grpc/grpc-js";
import type { ListenAddress } from "../../shared/listen-address.js";
import type { TlsMaterial } from "../../shared/tls-files.js";

export function credentialsFor(
  addr: ListenAddress,
  tls: TlsMaterial | undefined,
): ServerCredentials {
  if (addr.kind === "unix" || tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ cert_chain: tls.cert, private_key: tls.key }],
    tls.clientCa !== undefined,
  );
}

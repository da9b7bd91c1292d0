// Server reflection for grpcurl / buf curl: v1 from nice-grpc-server-reflection, and the same
// implementation under the v1alpha path that older grpcurl and evans still speak (the messages
// are wire-identical).

import fs from "node:fs";
import type { Server } from "nice-grpc";
import { ServerReflection, ServerReflectionService } from "nice-grpc-server-reflection";
import { MfcServiceDefinition } from "../gen/mfc.js";

/** Same relative path from src/server and dist/server. */
const DESCRIPTOR_SET = new URL("../../src/gen/mfc.binpb", import.meta.url);

const V1ALPHA_SERVICE = Object.fromEntries(
  Object.entries(ServerReflectionService).map(([name, method]) => [
    name,
    { ...method, path: method.path.replace("grpc.reflection.v1.", "grpc.reflection.v1alpha.") },
  ]),
) as unknown as typeof ServerReflectionService;

export function addReflection(server: Server): void {
  const impl = ServerReflection(new Uint8Array(fs.readFileSync(DESCRIPTOR_SET)), [MfcServiceDefinition.fullName]);
  server.add(ServerReflectionService, impl);
  server.add(V1ALPHA_SERVICE, impl);
}

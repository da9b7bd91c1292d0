// --json output: the proto3 JSON mapping of a response, with every field present (defaults
// included, so scripts need no fallbacks) and the proto's snake_case names, as grpcurl prints
// with --emit-defaults. 64-bit counters are strings, enums their names, timestamps RFC 3339.
// The generated ts-proto messages are re-read through the descriptor set mfcd also serves by
// reflection, so the JSON follows the .proto exactly.

import fs from "node:fs";
import { createFileRegistry, fromBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { packageFileUrl } from "../shared/package-file.js";

/** The descriptor set, relative to the package root (installs and the Docker image ship it). */
const DESCRIPTOR_SET = "src/gen/mfc.binpb";

let registry: ReturnType<typeof createFileRegistry> | undefined;

function messageSchema(typeName: string) {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, new Uint8Array(fs.readFileSync(packageFileUrl(DESCRIPTOR_SET, import.meta.url)))));
  const schema = registry.getMessage(typeName);
  if (!schema) throw new Error(`unknown message type ${typeName}`);
  return schema;
}

/** A ts-proto message type: its encoder is all we need. */
export interface Encodable<T> {
  encode(message: T): { finish(): Uint8Array };
}

/** `typeName` is the full proto name, e.g. "mfc.v1.ListRoutesResponse". */
export function toProtoJson<T>(fns: Encodable<T>, typeName: string, message: T): JsonValue {
  const schema = messageSchema(typeName);
  return toJson(schema, fromBinary(schema, fns.encode(message).finish()), {
    alwaysEmitImplicit: true,
    useProtoFieldName: true,
  });
}

// Server reflection for grpcurl / buf curl: v1 from nice-grpc-server-reflection, and the same
// implementation under the v1alpha path that older grpcurl and evans still speak (the messages
// are wire-identical).
//
// Loaded on the first reflection call, not at every start: the implementation pulls in
// google-protobuf and parses our descriptor set, a noticeable part of the start (README "Measured
// figures in the code").
// Until then the service is registered with pass-through (de)serializers; the call decodes and
// encodes with the real method definition once it is loaded.

import fs from "node:fs";
import type { CallContext, MethodDefinition, Server } from "nice-grpc";
import { MfcServiceDefinition } from "../../gen/mfc.js";
import { packageFileUrl } from "../../shared/package-file.js";

/** The descriptor set, relative to the package root (installs and the Docker image ship it). */
const DESCRIPTOR_SET = "src/gen/mfc.binpb";
const V1_PATH = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const V1ALPHA_PATH = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

interface LoadedReflection {
  serverReflectionInfo(requests: AsyncIterable<unknown>, context: CallContext): AsyncIterable<unknown>;
  requestDeserialize(bytes: Uint8Array): unknown;
  responseSerialize(response: unknown): Uint8Array;
}

let loading: Promise<LoadedReflection> | undefined;

function load(): Promise<LoadedReflection> {
  // `default` (module.exports of this CommonJS package): the bundle's chunk exports nothing else.
  loading ??= import("nice-grpc-server-reflection").then(({ default: { ServerReflection, ServerReflectionService } }) => {
    const impl = ServerReflection(new Uint8Array(fs.readFileSync(packageFileUrl(DESCRIPTOR_SET, import.meta.url))), [MfcServiceDefinition.fullName]);
    const method = ServerReflectionService.serverReflectionInfo;
    return {
      serverReflectionInfo: (requests, context) => impl.serverReflectionInfo(requests as never, context),
      requestDeserialize: (bytes) => method.requestDeserialize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
      responseSerialize: (response) => method.responseSerialize(response as never),
    };
  });
  return loading;
}

const bytes = (b: Uint8Array): Uint8Array => b;


type Bytes = Uint8Array;
// A type alias, not an interface: nice-grpc's ServiceDefinition has an index signature.
type LazyDefinition = {
  serverReflectionInfo: MethodDefinition<Bytes, Bytes, Bytes, Bytes, true, true>;
};

function lazyDefinition(path: string): LazyDefinition {
  return {
    serverReflectionInfo: {
      path,
      requestStream: true,
      responseStream: true,
      requestSerialize: bytes,
      requestDeserialize: bytes,
      responseSerialize: bytes,
      responseDeserialize: bytes,
      options: {},
    },
  };
}

async function* serverReflectionInfo(requests: AsyncIterable<Uint8Array>, context: CallContext): AsyncIterable<Uint8Array> {
  const real = await load();
  async function* decoded(): AsyncIterable<unknown> {
    for await (const request of requests) yield real.requestDeserialize(request);
  }
  for await (const response of real.serverReflectionInfo(decoded(), context)) yield real.responseSerialize(response);
}

export function addReflection(server: Server): void {
  server.add(lazyDefinition(V1_PATH), { serverReflectionInfo });
  server.add(lazyDefinition(V1ALPHA_PATH), { serverReflectionInfo });
}

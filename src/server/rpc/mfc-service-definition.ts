// The generated MfcService definition with ListRoutes and WatchStats also accepting a
// WireReply. nice-grpc serializes a ts-proto response as encode(fromPartial(response)): a
// deep copy and then a generic encode of every one of 10k routes. A WireReply skips both; any
// other response still goes through ts-proto unchanged. Every request type decodes without
// throwing (see decodingSafely). src/gen stays as generated.

import type { ServiceImplementation } from "nice-grpc";
import type { ServerMiddleware } from "nice-grpc-common";
import { DomainError } from "../../engine/domain-error.js";
import {
  type DeepPartial,
  ListRoutesResponse,
  type MessageFns,
  MfcServiceDefinition,
  WatchStatsResponse,
} from "../../gen/mfc.js";
import { WireReply } from "../wire/index.js";

function acceptingWireReplies<T>(type: MessageFns<T>) {
  return {
    ...type,
    fromPartial: (object: DeepPartial<T> | WireReply): T | WireReply =>
      object instanceof WireReply ? object : type.fromPartial(object),
    encode: (message: T | WireReply): { finish(): Uint8Array } => {
      if (!(message instanceof WireReply)) return type.encode(message);
      const { bytes } = message;
      return { finish: () => bytes };
    },
  };
}

/** A request body that is not a valid message of its type (truncated, a wire type that cannot be). */
class MalformedRequest {
  constructor(
    readonly typeName: string,
    readonly problem: string,
  ) {}
}

/**
 * grpc-js answers a body its deserializer throws on with INTERNAL ("Error deserializing
 * request"): the client is told the server is broken. The decoder returns a MalformedRequest
 * instead — typed as the request, but malformedRequestMiddleware rejects it before any handler.
 */
function decodingSafely<T>(typeName: string, type: MessageFns<T>): MessageFns<T> {
  return {
    ...type,
    decode: (input, length) => {
      try {
        return type.decode(input, length);
      } catch (err) {
        return new MalformedRequest(typeName, err instanceof Error ? err.message : String(err)) as T;
      }
    },
  };
}

function decodingRequestsSafely<M extends Record<string, { name: string; requestType: MessageFns<unknown> }>>(all: M): M {
  const pkg = MfcServiceDefinition.fullName.replace(/\.[^.]*$/, "");
  const out: Record<string, unknown> = {};
  for (const [key, m] of Object.entries(all)) out[key] = { ...m, requestType: decodingSafely(`${pkg}.${m.name}Request`, m.requestType) };
  return out as M;
}

/** INVALID_ARGUMENT (MALFORMED_REQUEST) for a body that did not decode; innermost middleware. */
export const malformedRequestMiddleware: ServerMiddleware = async function* (call, context) {
  const { request } = call;
  if (request instanceof MalformedRequest) {
    throw new DomainError("invalid-argument", `the request is not a valid ${request.typeName} message: ${request.problem}`, {
      reason: "MALFORMED_REQUEST",
    });
  }
  return yield* call.next(request, context);
};

const methods = decodingRequestsSafely(MfcServiceDefinition.methods);

export const MfcWireServiceDefinition = {
  ...MfcServiceDefinition,
  methods: {
    ...methods,
    listRoutes: { ...methods.listRoutes, responseType: acceptingWireReplies(ListRoutesResponse) },
    watchStats: { ...methods.watchStats, responseType: acceptingWireReplies(WatchStatsResponse) },
  },
} as const;

export type MfcWireServiceImplementation = ServiceImplementation<typeof MfcWireServiceDefinition>;

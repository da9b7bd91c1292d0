// The generated MfcService definition with ListRoutes and WatchStats also accepting a
// WireReply. nice-grpc serializes a ts-proto response as encode(fromPartial(response)): a
// deep copy and then a generic encode of every one of 10k routes. A WireReply skips both; any
// other response still goes through ts-proto unchanged. src/gen stays as generated.

import type { ServiceImplementation } from "nice-grpc";
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

const { methods } = MfcServiceDefinition;

export const MfcWireServiceDefinition = {
  ...MfcServiceDefinition,
  methods: {
    ...methods,
    listRoutes: { ...methods.listRoutes, responseType: acceptingWireReplies(ListRoutesResponse) },
    watchStats: { ...methods.watchStats, responseType: acceptingWireReplies(WatchStatsResponse) },
  },
} as const;

export type MfcWireServiceImplementation = ServiceImplementation<typeof MfcWireServiceDefinition>;

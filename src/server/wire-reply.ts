// A response message that encodes itself: handlers of the large responses (ListRoutes,
// WatchStats) return one instead of a ts-proto object, and the service definition
// (mfc-service-definition.ts) serializes it by calling encode(). Encoding runs after the
// handler returned, so a reply holds only plain data (no kernel reads left to do).

export abstract class WireReply {
  /** The message's protobuf bytes: exactly what ts-proto would write for the same content. */
  abstract encode(): Uint8Array;
}

// A response message already encoded: the handlers of the large responses (ListRoutes,
// WatchStats) write their protobuf bytes in one pass over the engine's routes and return one
// of these, and the service definition (mfc-service-definition.ts) sends the bytes as they
// are. Encoding inside the handler keeps kernel errors on the normal error path.

export class WireReply {
  constructor(readonly bytes: Uint8Array) {}
}

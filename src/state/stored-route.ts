// The persisted shape of one route. Only what mfcd needs to reprogram the kernel is required;
// any other field (a later mfcd adds some) is carried along untouched, so a downgrade followed
// by an upgrade loses nothing.

import type { RouteFields } from "../shared/route-fields.js";

export interface StoredRoute extends RouteFields {
  /** Who installed the route, so a restart can hand it back to the same client. */
  owner: string;
  [extra: string]: unknown;
}

// WatchStats splits a large update into several messages with the same time (`part`/`parts`);
// the watch view wants whole updates. This joins them again.

import type { RouteStats, VifStatus, WatchStatsResponse } from "../sdk/index.js";

export interface WatchUpdate {
  time: Date;
  routes: RouteStats[];
  vifs: VifStatus[];
}

function timeOf(m: WatchStatsResponse): Date {
  const t = m.time;
  return t ? new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)) : new Date();
}

/** Yields one WatchUpdate per complete update; an update cut short by the stream's end is dropped. */
export async function* watchUpdates(messages: AsyncIterable<WatchStatsResponse>): AsyncGenerator<WatchUpdate> {
  let pending: WatchUpdate | undefined;
  for await (const m of messages) {
    if (m.part === 0 || pending === undefined) pending = { time: timeOf(m), routes: [], vifs: [...m.vifs] };
    pending.routes.push(...m.routes);
    if (m.parts <= 1 || m.part >= m.parts - 1) {
      yield pending;
      pending = undefined;
    }
  }
}

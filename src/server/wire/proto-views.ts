// Engine views → generated proto messages.

import type { ForeignView, RouteSpec, RouteState as EngineRouteState, RouteView, VifView } from "../../engine/route-engine.js";
import type { SgCounters } from "../../engine/kernel-port.js";
import { RouteState, type Counters, type ForeignEntry, type Route, type RouteStatus, type VifStatus } from "../../gen/mfc.js";
import type { Timestamp } from "../../gen/google/protobuf/timestamp.js";

const STATE: Record<EngineRouteState, RouteState> = {
  installed: RouteState.ROUTE_STATE_INSTALLED,
  pending: RouteState.ROUTE_STATE_PENDING,
  drifted: RouteState.ROUTE_STATE_DRIFTED,
};

export function toCounters(c: SgCounters | undefined): Counters {
  return c ? { packets: c.packets, bytes: c.bytes, wrongIf: c.wrongIf } : { packets: 0n, bytes: 0n, wrongIf: 0n };
}

export function toRouteStatus(view: RouteView): RouteStatus {
  const { spec } = view;
  return {
    route: toRoute(spec),
    state: STATE[view.state],
    reason: view.reason,
    counters: toCounters(view.counters),
    owner: view.owner,
    missingInterfaces: [...view.missing],
    downInterfaces: [...view.down],
    driftRepairs: view.driftRepairs,
    lastDrift: view.lastDrift,
    learned: view.learned ?? false,
    stopFilter: view.stopFilter ?? false,
    template: view.template ?? "",
  };
}

export function toRoute(spec: RouteSpec): Route {
  return {
    source: spec.source,
    group: spec.group,
    iif: spec.iif,
    oifs: [...spec.oifs],
    rewriteSource: spec.rewriteSource,
    setTtl: spec.setTtl,
    // Only thresholds other than the default 1.
    oifTtl: { ...spec.oifTtl },
    table: spec.table,
  };
}

export function toForeignEntry(entry: ForeignView): ForeignEntry {
  return {
    family: entry.family,
    table: entry.table,
    source: entry.source,
    group: entry.group,
    iif: entry.iif,
    oifs: [...entry.oifs],
    counters: toCounters(entry.counters),
  };
}

export function toVifStatus(vif: VifView): VifStatus {
  return {
    vif: vif.vif,
    interface: vif.name,
    ifindex: vif.ifindex,
    refs: vif.refs,
    inPackets: vif.counters.inPackets,
    inBytes: vif.counters.inBytes,
    outPackets: vif.counters.outPackets,
    outBytes: vif.counters.outBytes,
    up: vif.up,
    running: vif.running,
    family: vif.family,
    table: vif.table,
  };
}

export function toTimestamp(ms: number): Timestamp {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: Math.round((ms % 1000) * 1e6) };
}

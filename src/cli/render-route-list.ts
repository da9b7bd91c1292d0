// `mfcctl ls`: the routes table (state, owner, kernel counters, notes), the VIF table and the
// kernel entries mfcd did not create.

import { RouteState, type ListRoutesResponse, type RouteStatus, type VifStatus } from "../sdk/index.js";
import { renderTable } from "./render-table.js";

export function stateName(state: RouteState): string {
  switch (state) {
    case RouteState.ROUTE_STATE_INSTALLED:
      return "INSTALLED";
    case RouteState.ROUTE_STATE_PENDING:
      return "PENDING";
    case RouteState.ROUTE_STATE_DRIFTED:
      return "DRIFTED";
    default:
      return "UNKNOWN";
  }
}

/** What a person should know about a route beyond its state, in one cell. */
export function routeNotes(r: RouteStatus): string {
  const notes: string[] = [];
  if (r.stopFilter) notes.push("stop filter");
  else if (r.learned && !r.reason) notes.push(`learned from ${r.template || "a template"}`);
  if (r.reason) notes.push(r.reason);
  if (r.missingInterfaces.length > 0 && !r.reason.includes(r.missingInterfaces[0]!)) {
    notes.push(`missing ${r.missingInterfaces.join(" ")}`);
  }
  if (r.downInterfaces.length > 0) notes.push(`down ${r.downInterfaces.join(" ")}`);
  const route = r.route;
  if (route) {
    const ttl = Object.entries(route.oifTtl);
    if (ttl.length > 0) notes.push(`ttl ${ttl.map(([o, t]) => `${o}=${t}`).join(",")}`);
    if (route.rewriteSource !== undefined) notes.push(`rewrite-source ${route.rewriteSource}`);
    if (route.setTtl !== undefined) notes.push(`set-ttl ${route.setTtl}`);
  }
  if (r.driftRepairs > 0) notes.push(`${r.driftRepairs} drift repair(s), last: ${r.lastDrift}`);
  return notes.join("; ");
}

const dash = (s: string): string => (s === "" ? "-" : s);

function routeRows(routes: RouteStatus[], withTable: boolean): string[][] {
  return routes.map((r) => {
    const route = r.route;
    const c = r.counters;
    return [
      route?.source ? route.source : "*",
      route?.group ?? "",
      ...(withTable ? [String(route?.table ?? 0)] : []),
      dash(route?.iif ?? ""),
      route && route.oifs.length > 0 ? route.oifs.join(",") : "-",
      stateName(r.state),
      dash(r.owner),
      String(c?.packets ?? 0n),
      String(c?.bytes ?? 0n),
      String(c?.wrongIf ?? 0n),
      routeNotes(r),
    ];
  });
}

function vifRows(vifs: VifStatus[], withTable: boolean): string[][] {
  return vifs.map((v) => [
    String(v.vif),
    v.family || "ipv4",
    ...(withTable ? [String(v.table)] : []),
    v.interface,
    String(v.ifindex),
    String(v.refs),
    v.up ? (v.running ? "up" : "no-carrier") : "down",
    String(v.inPackets),
    String(v.inBytes),
    String(v.outPackets),
    String(v.outBytes),
  ]);
}

/** Kernel entries of mfcd's tables that no route explains. */
function renderForeign(entries: ListRoutesResponse["foreignEntries"]): string[] {
  return renderTable(
    [
      { header: "SOURCE" },
      { header: "GROUP" },
      { header: "FAMILY" },
      { header: "TABLE", align: "right" },
      { header: "IIF" },
      { header: "OIFS" },
      { header: "PACKETS", align: "right" },
      { header: "BYTES", align: "right" },
      { header: "WRONG_IF", align: "right" },
    ],
    entries.map((f) => [
      f.source,
      f.group,
      f.family || "ipv4",
      String(f.table),
      dash(f.iif),
      f.oifs.length > 0 ? f.oifs.join(",") : "-",
      String(f.counters?.packets ?? 0n),
      String(f.counters?.bytes ?? 0n),
      String(f.counters?.wrongIf ?? 0n),
    ]),
    "  ",
  );
}

export function renderRouteList(res: ListRoutesResponse): string {
  const out: string[] = [];
  const withTable =
    res.routes.some((r) => (r.route?.table ?? 0) !== 0) ||
    res.vifs.some((v) => v.table !== 0) ||
    res.foreignEntries.some((f) => f.table !== 0);
  const table = withTable ? [{ header: "TABLE", align: "right" as const }] : [];
  if (res.routes.length === 0) out.push("no routes");
  else {
    out.push(
      ...renderTable(
        [
          { header: "SOURCE" },
          { header: "GROUP" },
          ...table,
          { header: "IIF" },
          { header: "OIFS" },
          { header: "STATE" },
          { header: "OWNER" },
          { header: "PACKETS", align: "right" },
          { header: "BYTES", align: "right" },
          { header: "WRONG_IF", align: "right" },
          { header: "NOTES" },
        ],
        routeRows(res.routes, withTable),
      ),
    );
  }
  if (res.vifs.length > 0) {
    out.push("", "VIFs:");
    out.push(
      ...renderTable(
        [
          { header: "VIF", align: "right" },
          { header: "FAMILY" },
          ...table,
          { header: "INTERFACE" },
          { header: "IFINDEX", align: "right" },
          { header: "REFS", align: "right" },
          { header: "LINK" },
          { header: "IN_PACKETS", align: "right" },
          { header: "IN_BYTES", align: "right" },
          { header: "OUT_PACKETS", align: "right" },
          { header: "OUT_BYTES", align: "right" },
        ],
        vifRows(res.vifs, withTable),
        "  ",
      ),
    );
  }
  if (res.foreignEntries.length > 0) {
    out.push("", "Foreign kernel entries (not created by mfcd, left alone):", ...renderForeign(res.foreignEntries));
  }
  return out.join("\n") + "\n";
}

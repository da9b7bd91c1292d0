// One-line descriptions of routes and flows for messages: "(10.0.0.1, 239.1.1.1) from eth0 to eth1 eth2".

import type { Route } from "../sdk/index.js";

/** "(S, G)" with "*" for any source, plus " table N" when not the default table. */
export function describeFlow(source: string, group: string, table = 0): string {
  return `(${source === "" ? "*" : source}, ${group})${table === 0 ? "" : ` table ${table}`}`;
}

export function describeRoute(route: Route): string {
  const ttl = Object.entries(route.oifTtl ?? {});
  const extras = [
    ...ttl.map(([oif, t]) => `ttl ${oif}=${t}`),
    ...(route.rewriteSource === undefined ? [] : [`rewrite-source ${route.rewriteSource}`]),
    ...(route.setTtl === undefined ? [] : [`set-ttl ${route.setTtl}`]),
  ];
  return (
    `${describeFlow(route.source, route.group, route.table)} from ${route.iif} to ${route.oifs.join(" ")}` +
    (extras.length > 0 ? ` ${extras.join(" ")}` : "")
  );
}

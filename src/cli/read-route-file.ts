// `mfcctl apply FILE`: the route file format of `mfcd --config` (docs/config.md), read by the
// same strict parser and route validator, so a file that mfcctl accepts is one mfcd accepts and
// vice versa.

import fs from "node:fs";
import type { Route } from "../sdk/index.js";
import { loadConfigFile, parseConfig, type ConfigRoute } from "../shared/route-file.js";

function toRoute(r: ConfigRoute): Route {
  const route: Route = { source: r.source, group: r.group, iif: r.iif, oifs: r.oifs, table: r.table, oifTtl: r.oifTtl ?? {} };
  if (r.rewriteSource !== undefined) route.rewriteSource = r.rewriteSource;
  if (r.setTtl !== undefined) route.setTtl = r.setTtl;
  return route;
}

/** "-" reads standard input. Throws ConfigFileError listing every problem with its line. */
export function readRouteFile(file: string): Route[] {
  if (file === "-") return parseConfig(fs.readFileSync(0, "utf8"), "<stdin>").map(toRoute);
  return loadConfigFile(file).map(toRoute);
}

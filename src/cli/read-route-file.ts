// `mfcctl apply FILE`: the route file format of `mfcd --config` (docs/config.md), read by the
// same strict parser, so a file that mfcctl accepts is one mfcd accepts and vice versa.

import fs from "node:fs";
import type { Route } from "../gen/mfc.js";
import { ConfigFileError, loadConfigFile, parseConfig, type ConfigRoute } from "../server/config-file.js";

export { ConfigFileError };

function toRoute(r: ConfigRoute): Route {
  return { source: r.source, group: r.group, iif: r.iif, oifs: r.oifs, table: r.table, oifTtl: {} };
}

/** "-" reads standard input. Throws ConfigFileError listing every problem with its line. */
export function readRouteFile(file: string): Route[] {
  if (file === "-") return parseConfig(fs.readFileSync(0, "utf8"), "<stdin>").map(toRoute);
  return loadConfigFile(file).map(toRoute);
}

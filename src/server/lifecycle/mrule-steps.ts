// `--mrule`: each ip mrule is installed once mfcd owns its table (traffic must not be steered to
// a table nobody serves) and pushes its own removal, so a failed start or a shutdown removes
// every rule mfcd added even when removing another one fails.

import type { Mrule } from "../../kernel/index.js";
import type { CleanupStack } from "./cleanup-stack.js";
import type { Logger } from "../config/index.js";

export interface MruleDeps {
  /** Own the (family, table) before any traffic is steered to it. */
  ensureTable(family: Mrule["family"], table: number): void;
  add(rule: Mrule): void;
  del(rule: Mrule): void;
}

export function installMrules(rules: readonly Mrule[], deps: MruleDeps, cleanup: CleanupStack, logger: Logger): void {
  for (const rule of rules) {
    deps.ensureTable(rule.family, rule.table);
    deps.add(rule);
    cleanup.push(`mrule ${rule.family} iif ${rule.iif} lookup ${rule.table}`, () => {
      deps.del(rule);
      logger.info(rule, "mrule removed");
    });
    logger.info(rule, "mrule installed");
  }
}

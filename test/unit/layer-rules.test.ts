// The layer rules of eslint.config.js (issue 11 §4) reject a wrong import: each case lints a
// one-line fixture as if it were a file in that src folder, through ESLint's Node API.
import path from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const eslint = new ESLint({ cwd: root });

/** The rules that fail `code` placed at src/<file>. */
async function violations(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport const used = x;\n`, { filePath: path.join(root, "src", file) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? "fatal"}: ${m.message}`);
}

describe("layer rules", () => {
  it.each([
    ["cli/fixture.ts", 'import { x } from "../server/main.js";'],
    ["cli/fixture.ts", 'import { x } from "../server/listen-address.js";'],
    ["cli/fixture.ts", 'import type { x } from "../engine/route-engine.js";'],
    ["cli/fixture.ts", 'import { x } from "../gen/mfc.js";'],
    ["cli/sub/fixture.ts", 'import { x } from "../../kernel/index.js";'],
    ["sdk/fixture.ts", 'import { x } from "../server/mfc-service.js";'],
    ["kernel/fixture.ts", 'import { x } from "../engine/route-engine.js";'],
    ["kernel/fixture.ts", 'import { x } from "../server/logger.js";'],
    ["engine/fixture.ts", 'import { x } from "../kernel/mroute-socket.js";'],
    ["engine/fixture.ts", 'import { x } from "../server/logger.js";'],
    ["shared/fixture.ts", 'import { x } from "../server/validate-route.js";'],
    ["shared/fixture.ts", 'import { x } from "../engine/route-engine.js";'],
    ["engine/fixture.ts", 'import { x } from "../kernel/ipv6-address.js";'],
    ["address/fixture.ts", 'import { x } from "../kernel/mroute-constants.js";'],
    ["address/fixture.ts", 'import { x } from "../shared/route-validation.js";'],
    ["server/fixture.ts", 'import { x } from "../cli/main.js";'],
  ])("rejects in src/%s: %s", async (file, code) => {
    const found = await violations(file, code);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^no-restricted-imports: .*issue 11 §4/);
  });

  it("rejects a dynamic import across a layer too", async () => {
    const found = await violations("cli/fixture.ts", 'const x = await import("../server/main.js");');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^no-restricted-syntax: mfcctl depends only on src\/sdk and src\/shared/);
  });

  it.each([
    ["server/fixture.ts", 'import { x } from "../kernel/mroute/mroute-socket.js";'],
    ["server/lifecycle/fixture.ts", 'import type { x } from "../../kernel/poll/upcall-ring.js";'],
    ["server/rpc/fixture.ts", 'import { x } from "../diagnostics/diagnose.js";'],
    ["server/fixture.ts", 'const x = await import("./rpc/mfc-service.js");'],
    ["kernel/nft/fixture.ts", 'import { x } from "../ffi/libc.js";'],
    ["kernel/fixture.ts", 'export { x } from "./poll/poll-hub.js";'],
  ])("rejects a deep import into a src/kernel or src/server subfolder, in src/%s: %s", async (file, code) => {
    const found = await violations(file, code);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^mfcd\/through-index: import src\/(kernel|server)\/\w+ through its index\.ts/);
  });

  it.each([
    ["cli/fixture.ts", 'import { x } from "../sdk/index.js";'],
    ["cli/fixture.ts", 'import { x } from "../shared/route-file.js";'],
    ["cli/fixture.ts", 'import { x } from "./parse-command.js";'],
    ["sdk/fixture.ts", 'import { x } from "../gen/mfc.js";'],
    ["kernel/fixture.ts", 'import type { x } from "../engine/kernel-port.js";'],
    ["engine/fixture.ts", 'import { x } from "../address/index.js";'],
    ["shared/fixture.ts", 'import { x } from "../engine/vif-table.js";'],
    ["server/fixture.ts", 'import { x } from "../kernel/index.js";'],
    ["shared/fixture.ts", 'import { x } from "../kernel/abi/index.js";'],
    ["server/fixture.ts", 'const x = await import("../shared/route-file.js");'],
    ["server/fixture.ts", 'const x = await import("./rpc/index.js");'],
    ["server/rpc/fixture.ts", 'import { x } from "./mfc-service.js";'],
    ["server/rpc/fixture.ts", 'import { x } from "../diagnostics/index.js";'],
    ["kernel/nft/fixture.ts", 'import { x } from "../ffi/index.js";'],
    ["kernel/fixture.ts", 'export { x } from "./poll/index.js";'],
  ])("allows in src/%s: %s", async (file, code) => {
    expect(await violations(file, code)).toEqual([]);
  });
});

// kernel-needs: none
// nft that cannot even open its netlink socket means the kernel has no nf_tables: the reason must
// name the kernel options (seen in Debian's user-mode kernel, whose nf_tables is an unloaded module),
// so the refusal does not send the operator to reinstall the nftables package.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { detectNft } from "../../src/kernel/nft/nft-detect.js";
import { kernelIsCause, nftUnavailable } from "../../src/server/nft/nft-unavailable.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfct-fake-nft-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function fakeNft(stderr: string): NodeJS.ProcessEnv {
  const file = path.join(dir, "nft");
  fs.writeFileSync(file, `#!/bin/sh\necho '${stderr}' >&2\nexit 3\n`, { mode: 0o755 });
  return { PATH: dir };
}

describe("detectNft on a kernel without nf_tables", () => {
  it("names CONFIG_NF_TABLES and CONFIG_NF_TABLES_IPV4, and the refusal says the kernel is the cause", () => {
    const found = detectNft({ env: fakeNft("mnl.c:60: Unable to initialize Netlink socket: Protocol not supported") });
    expect(found.available).toBe(false);
    const why = found.available ? "" : found.why;
    expect(why).toContain("CONFIG_NF_TABLES_IPV4");
    expect(kernelIsCause(why)).toBe(true);
    expect(nftUnavailable("rewrite_source needs nftables", why).message).toContain("a kernel with CONFIG_NF_TABLES_IPV4");
  });

  it("another failure of nft does not blame the kernel", () => {
    const found = detectNft({ env: fakeNft("Error: something else") });
    expect(found.available).toBe(false);
    expect(kernelIsCause(found.available ? "" : found.why)).toBe(false);
  });
});

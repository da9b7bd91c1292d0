// What each test file needs from the kernel, from its `// kernel-needs: ipv4 nft` line.
// Files without the line are unit tests: they run natively and need no kernel feature.
// `// kernel-needs: none` is a file that touches the kernel but needs none of its multicast options
// (it runs natively). `// kernel-needs: debian-uml` is a file that must run in Debian's packaged user-mode kernel,
// which LACKS options (tests of how mfcd degrades on a partial kernel). `// kernel-needs: uml-kernel`
// is a file that runs natively and boots the project's user-mode kernel itself (MFCD_UML_KERNEL):
// the runner starts it once that kernel is built, other native files run while it builds.

import fs from "node:fs";
import path from "node:path";

export const KERNEL_NEEDS = ["ipv4", "tables", "ipv6", "ipv6-tables", "nft", "debian-uml", "uml-kernel"] as const;
export type KernelNeed = (typeof KERNEL_NEEDS)[number];

export interface TestFile {
  /** Path relative to the repository root, as vitest takes it. */
  file: string;
  /** Empty for a unit test. */
  needs: KernelNeed[];
  /** Bytes: a stand-in for the run time when no earlier duration is known. */
  size: number;
}

const NEEDS_LINE = /^\/\/ kernel-needs:(.*)$/m;

/** Parses a file's declaration; throws on an unknown need so a typo cannot silently skip. */
export function parseNeeds(text: string, file: string): KernelNeed[] {
  const m = NEEDS_LINE.exec(text);
  if (!m) return [];
  const words = (m[1] ?? "").trim().split(/\s+/).filter((w) => w !== "");
  if (words.length === 1 && words[0] === "none") return [];
  if (words.length === 0) throw new Error(`${file}: "// kernel-needs:" names nothing (expected some of ${KERNEL_NEEDS.join(", ")})`);
  for (const w of words) {
    if (!(KERNEL_NEEDS as readonly string[]).includes(w)) {
      throw new Error(`${file}: unknown kernel need "${w}" (expected some of ${KERNEL_NEEDS.join(", ")})`);
    }
  }
  return words as KernelNeed[];
}

function walk(dir: string, out: string[]): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.name.endsWith(".test.ts")) out.push(full);
  }
}

/** Whether the file says what it needs at all (`none` included). */
export function declaresNeeds(text: string): boolean {
  return NEEDS_LINE.test(text);
}

/** Every test file under `root/test`, sorted, with its needs. */
export function listTestFiles(root: string): TestFile[] {
  const files: string[] = [];
  walk(path.join(root, "test"), files);
  return files.sort().map((full) => {
    const text = fs.readFileSync(full, "utf8");
    const file = path.relative(root, full);
    return { file, needs: parseNeeds(text, file), size: text.length };
  });
}

// SIGKILL a process that is writing the state file, at random moments, again and again on the
// same file: every acknowledged put must survive, no acknowledged delete may come back, and the
// file must always load.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StateStore } from "../../src/state/state-store.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const STORE_URL = pathToFileURL(path.join(REPO_ROOT, "src/state/state-store.ts")).href;

const group = (i: number): string => `239.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

// The writer: 8 concurrent "clients". Each put gets a fresh key (so what was acknowledged is
// unambiguous); 7 in 8 are deleted again, so the log compacts often; some requests are bulk
// batches. stdout to a pipe is synchronous on Linux, so a printed line is never lost to the kill.
// "d" is printed before a delete is buffered: a delete that was not acknowledged may or may not
// have reached the file.
//
// Besides the parent's kill at a random time, the writer kills itself at its N-th file
// operation (N chosen by the parent): before or after a rename, before an fdatasync, or in the
// middle of a write after only a random prefix of the data went out (a torn append or a torn
// compaction file). SIGKILL keeps the page cache, so this is what a crash can leave behind.
const CHILD = `
import fsp from "node:fs/promises";
import { StateStore } from ${JSON.stringify(STORE_URL)};
const [file, first, crashAt, only, probe] = process.argv.slice(2);

// Counts every file operation, or with only=rewrite just those of whole-file rewrites
// (writes at offset 0, renames), which are rare but the riskiest.
let ops = 0;
const crashNow = (rewriting = false) => (only !== "rewrite" || rewriting) && ++ops === Number(crashAt);
const die = () => { process.stdout.write("crash point\\n"); process.kill(process.pid, "SIGKILL"); return new Promise(() => {}); };
const handle = await fsp.open(probe, "w");
const FileHandle = Object.getPrototypeOf(handle);
await handle.close();
const write = FileHandle.write;
FileHandle.write = async function (buf, off, len, pos) {
  if (crashNow(pos === 0)) {
    const cut = Math.floor(Math.random() * len);
    if (cut > 0) await write.call(this, buf, off, cut, pos);
    return die();
  }
  return write.call(this, buf, off, len, pos);
};
const datasync = FileHandle.datasync;
FileHandle.datasync = async function () { return crashNow() ? die() : datasync.call(this); };
const rename = fsp.rename;
fsp.rename = async (from, to) => {
  if (crashNow(true)) return die();
  await rename(from, to);
  if (crashNow(true)) return die();
};

const group = (i) => "239." + ((i >> 16) & 255) + "." + ((i >> 8) & 255) + "." + (i & 255); // = group() above
const route = (i) => ({ family: "ipv4", table: i % 3, source: "10.0.0.1", group: group(i), iif: "eth0", oifs: ["eth1", "v" + i], owner: "crash", n: i });
const { store } = StateStore.open(file);
const out = (s) => process.stdout.write(s + "\\n");
let next = Number(first);
async function client(c) {
  for (;;) {
    const batch = c === 0 ? 1 + Math.floor(Math.random() * 500) : 1;
    const keys = [];
    for (let k = 0; k < batch; k++) { const i = next++; keys.push(i); store.put(route(i)); }
    await store.flush();
    out(keys.map((i) => "P " + i).join("\\n"));
    for (const i of keys.filter((i) => i % 8 !== 0)) {
      out("d " + i);
      store.delete(route(i));
      await store.flush();
      out("D " + i);
    }
  }
}
out("ready");
for (let c = 0; c < 8; c++) void client(c);
`;

interface RoundResult {
  stdout: string;
  stderr: string;
  signal: NodeJS.Signals | null;
  code: number | null;
}

function runAndKill(
  script: string,
  file: string,
  first: number,
  crashAt: number,
  only: string,
): Promise<RoundResult> {
  return new Promise((resolve, reject) => {
    const args = [script, file, String(first), String(crashAt), only, `${script}.probe`];
    const child = spawn(process.execPath, ["--import", "tsx", ...args], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let armed = false;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (!armed && stdout.includes("\nP ")) {
        armed = true; // writing for real now: kill at a random moment (if no crash point hit first)
        setTimeout(() => child.kill("SIGKILL"), Math.random() * 1000);
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ stdout, stderr, signal, code }));
  });
}

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-crash-"));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("StateStore under SIGKILL", () => {
  it("keeps every acknowledged put and no acknowledged delete", async () => {
    const script = path.join(dir, "writer.mjs");
    fs.writeFileSync(script, CHILD);
    const file = path.join(dir, "state", "crash.state");
    const acked = new Set<number>(); // put acknowledged, no delete started
    const deleting = new Set<number>(); // delete started, not acknowledged: either outcome is fine
    const deleted = new Set<number>(); // delete acknowledged
    let ackedTotal = 0;

    for (let round = 0; round < 12; round++) {
      const first = round * 10_000_000;
      // Early rounds crash at the first few file operations (creation, first appends); then
      // alternately at any operation and inside a compaction.
      const only = round >= 3 && round % 2 === 1 ? "rewrite" : "any";
      const crashAt = 1 + Math.floor(Math.random() * (round < 3 ? 8 : only === "rewrite" ? 6 : 1500));
      const result = await runAndKill(script, file, first, crashAt, only);
      expect(result.signal, `writer exited on its own (code ${result.code}): ${result.stderr}`).toBe("SIGKILL");

      const complete = result.stdout.slice(0, result.stdout.lastIndexOf("\n") + 1);
      for (const text of complete.split("\n")) {
        const [op, n] = text.split(" ");
        const i = Number(n);
        if (op === "P") {
          acked.add(i);
          ackedTotal++;
        } else if (op === "d") {
          acked.delete(i);
          deleting.add(i);
        } else if (op === "D") {
          deleting.delete(i);
          deleted.add(i);
        }
      }

      const { routes } = StateStore.open(file);
      const present = new Map(routes.map((r) => [r.n as number, r]));
      for (const i of acked) {
        const r = present.get(i);
        expect(r, `acknowledged put ${i} lost in round ${round}`).toBeDefined();
        expect(r).toEqual({
          family: "ipv4",
          table: i % 3,
          source: "10.0.0.1",
          group: group(i),
          iif: "eth0",
          oifs: ["eth1", `v${i}`],
          owner: "crash",
          n: i,
        });
      }
      for (const i of deleted) expect(present.has(i), `acknowledged delete ${i} came back in round ${round}`).toBe(false);
      console.log(
        `round ${round} (${complete.includes("crash point") ? "crashed at" : "killed before"} ${only} file op ${crashAt}): ${present.size} routes on disk, ${acked.size} acknowledged live, ` +
          `${deleted.size} acknowledged deletes, file ${fs.existsSync(file) ? fs.statSync(file).size : 0} bytes`,
      );
    }
    expect(ackedTotal).toBeGreaterThan(0);
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { StateFileError } from "../../src/state/state-file-error.js";
import { STATE_HEADER_LINE } from "../../src/state/state-record.js";
import { StateStore } from "../../src/state/state-store.js";
import type { StoredRoute } from "../../src/state/stored-route.js";

function route(i: number, extra: Partial<StoredRoute> = {}): StoredRoute {
  return {
    family: "ipv4",
    table: 0,
    source: "10.0.0.1",
    group: `239.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    iif: "eth0",
    oifs: ["eth1", "eth2"],
    owner: "test",
    ...extra,
  };
}

const line = (record: unknown): string => `${JSON.stringify(record)}\n`;
const byGroup = (a: StoredRoute, b: StoredRoute): number => a.group.localeCompare(b.group);

let dir: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-state-"));
  file = path.join(dir, "test.state");
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function reopen(): StoredRoute[] {
  return StateStore.open(file).routes.sort(byGroup);
}

function fileLines(): string[] {
  return fs.readFileSync(file, "utf8").split("\n").slice(0, -1);
}

describe("StateStore", () => {
  it("starts empty without a file and writes nothing until flushed", async () => {
    const { store, routes } = StateStore.open(file);
    expect(routes).toEqual([]);
    expect(store.size).toBe(0);
    await store.flush();
    expect(fs.existsSync(file)).toBe(false);
    await store.close();
  });

  it("round-trips puts and deletes across a reopen", async () => {
    const { store } = StateStore.open(file);
    for (let i = 0; i < 5; i++) store.put(route(i));
    expect(store.delete(route(3))).toBe(true);
    expect(store.delete(route(99))).toBe(false);
    await store.flush();
    expect(reopen()).toEqual([route(0), route(1), route(2), route(4)]);

    store.delete(route(0));
    await store.close();
    expect(reopen()).toEqual([route(1), route(2), route(4)]);
    expect(fileLines()[0]).toBe(STATE_HEADER_LINE);
  });

  it("replays in order: the last write wins", async () => {
    const { store } = StateStore.open(file);
    store.put(route(1, { oifs: ["a"] }));
    store.put(route(1, { oifs: ["b"], owner: "other" }));
    store.put(route(2));
    store.delete(route(2));
    store.put(route(2, { iif: "eth9" }));
    await store.close();
    expect(reopen()).toEqual([route(1, { oifs: ["b"], owner: "other" }), route(2, { iif: "eth9" })]);
  });

  it("keeps fields it does not know, through appends and compaction", async () => {
    const extra = route(1, { ttl: 7, nested: { a: [1, "x"] } });
    const { store } = StateStore.open(file);
    store.put(extra);
    await store.close();
    expect(reopen()).toEqual([extra]);

    const again = StateStore.open(file).store;
    for (let i = 0; i < 3000; i++) again.put(route(2, { oifs: [`e${i}`] }));
    await again.close();
    expect(again.stats.rewrites).toBeGreaterThan(0);
    expect(reopen()).toEqual([extra, route(2, { oifs: ["e2999"] })]);
  });

  it("snapshots a route at put(): later mutation by the caller is not stored", async () => {
    const r = route(1);
    const { store } = StateStore.open(file);
    store.put(r);
    r.oifs.push("late");
    expect(store.routes()).toEqual([route(1)]);
    await store.close();
    expect(reopen()).toEqual([route(1)]);
  });

  it("rejects a malformed route at put() instead of writing an unloadable file", () => {
    const { store } = StateStore.open(file);
    expect(() => store.put({ ...route(1), table: -1 })).toThrow(/table/);
    expect(() => store.put({ ...route(1), oifs: [3] } as unknown as StoredRoute)).toThrow(/oifs/);
    expect(store.size).toBe(0);
  });

  it("creates the directory 0700 and the file 0600", async () => {
    file = path.join(dir, "a", "b", "test.state");
    const { store } = StateStore.open(file);
    store.put(route(1));
    await store.close();
    expect(fs.statSync(path.join(dir, "a")).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(reopen()).toEqual([route(1)]);
  });

  it("refuses puts after close", async () => {
    const { store } = StateStore.open(file);
    await store.close();
    expect(() => store.put(route(1))).toThrow(/closed/);
  });

  describe("torn last line", () => {
    it("ignores a record cut off mid-line, and truncates it at the next write", async () => {
      const whole = line({ put: route(2) });
      const torn = whole.slice(0, whole.indexOf("eth0")); // cut after route 2's group
      fs.writeFileSync(file, line({ mfcd: "state", version: 1 }) + line({ put: route(1) }) + torn);
      const { store, routes } = StateStore.open(file);
      expect(routes).toEqual([route(1)]);
      expect(fs.readFileSync(file, "utf8")).toContain(torn); // opening alone changes nothing

      store.put(route(3));
      await store.close();
      expect(fs.readFileSync(file, "utf8")).not.toContain(torn);
      for (const text of fileLines()) expect(() => JSON.parse(text) as unknown).not.toThrow();
      expect(reopen()).toEqual([route(1), route(3)]);
    });

    it("ignores a complete record without its newline: its flush never returned", () => {
      fs.writeFileSync(file, line({ mfcd: "state", version: 1 }) + line({ put: route(1) }) + JSON.stringify({ put: route(2) }));
      expect(reopen()).toEqual([route(1)]);
    });

    it("ignores an unparsable newline-terminated last line (zeros left by a crash)", () => {
      fs.writeFileSync(file, line({ mfcd: "state", version: 1 }) + line({ put: route(1) }) + "\0\0\0\0\n");
      expect(reopen()).toEqual([route(1)]);
    });

    it("treats an empty file or a torn header as empty", async () => {
      fs.writeFileSync(file, "");
      expect(reopen()).toEqual([]);
      fs.writeFileSync(file, STATE_HEADER_LINE.slice(0, 9));
      const { store, routes } = StateStore.open(file);
      expect(routes).toEqual([]);
      store.put(route(1));
      await store.close();
      expect(fileLines()[0]).toBe(STATE_HEADER_LINE);
      expect(reopen()).toEqual([route(1)]);
    });
  });

  describe("refuses a file it cannot trust", () => {
    function openError(): StateFileError {
      try {
        StateStore.open(file);
      } catch (err) {
        expect(err).toBeInstanceOf(StateFileError);
        return err as StateFileError;
      }
      throw new Error("open succeeded");
    }

    it("an unparsable line in the middle, naming file and line", () => {
      fs.writeFileSync(file, line({ mfcd: "state", version: 1 }) + line({ put: route(1) }) + "{oops\n" + line({ put: route(2) }));
      const err = openError();
      expect(err.path).toBe(file);
      expect(err.line).toBe(3);
      expect(err.message).toMatch(new RegExp(`^state file ${file}: line 3: not valid JSON`));
    });

    it.each([
      ["a string table", { put: { ...route(1), table: "0" } }, /"table" must be an integer/],
      ["a missing owner", { put: { ...route(1), owner: undefined } }, /"owner" must be a string/],
      ["a bad family", { del: { family: "ipx", table: 0, source: "", group: "239.1.1.1" } }, /"family"/],
      ["an unknown record", { frob: 1 }, /exactly one of "put" or "del"/],
      ["both put and del", { put: route(1), del: route(1) }, /exactly one of/],
    ])("a record with %s", (_name, record, problem) => {
      fs.writeFileSync(file, line({ mfcd: "state", version: 1 }) + line(record) + line({ put: route(2) }));
      const err = openError();
      expect(err.line).toBe(2);
      expect(err.message).toMatch(problem);
    });

    it("a damaged last line when it parses but is no valid record", () => {
      fs.writeFileSync(file, line({ mfcd: "state", version: 1 }) + line({ put: { ...route(1), iif: 5 } }));
      expect(openError().line).toBe(2);
    });

    it("a missing or foreign header", () => {
      fs.writeFileSync(file, line({ put: route(1) }));
      expect(openError().message).toMatch(/line 1: not an mfcd state file/);
      fs.writeFileSync(file, "hello world\n");
      expect(openError().message).toMatch(/line 1: not an mfcd state file/);
      fs.writeFileSync(file, "some other file without a newline");
      expect(openError().line).toBe(1);
    });

    it("a newer format version", () => {
      fs.writeFileSync(file, line({ mfcd: "state", version: 2 }));
      expect(openError().message).toMatch(/line 1: format version 2 is newer/);
    });

    it("invalid UTF-8, naming the line", () => {
      const bytes = Buffer.concat([
        Buffer.from(line({ mfcd: "state", version: 1 }) + line({ put: route(1) })),
        Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]),
        Buffer.from(line({ put: route(2) })),
      ]);
      fs.writeFileSync(file, bytes);
      const err = openError();
      expect(err.line).toBe(3);
      expect(err.message).toMatch(/not valid UTF-8/);
    });

    it("a directory at the path", () => {
      fs.mkdirSync(file);
      expect(openError().message).toBe(`state file ${file}: is a directory, not a state file`);
    });

    it("a path whose parent is not a directory", () => {
      fs.writeFileSync(path.join(dir, "plain"), "");
      file = path.join(dir, "plain", "x.state");
      expect(openError().message).toMatch(/cannot read: ENOTDIR/);
    });
  });

  describe("moveAside", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("returns undefined without a file", () => {
      expect(StateStore.moveAside(file)).toBeUndefined();
    });

    it("renames the file aside and never replaces an earlier one", () => {
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(new Date("2025-01-02T03:04:05.678Z"));
      fs.writeFileSync(file, "first");
      const first = StateStore.moveAside(file);
      expect(first).toBe(`${file}.bad-2025-01-02T030405.678Z`);
      expect(fs.existsSync(file)).toBe(false);

      fs.writeFileSync(file, "second");
      const second = StateStore.moveAside(file);
      expect(second).not.toBe(first);
      expect(fs.readFileSync(first as string, "utf8")).toBe("first");
      expect(fs.readFileSync(second as string, "utf8")).toBe("second");
      expect(StateStore.open(file).routes).toEqual([]);
    });

    it("moves a directory at the path aside too", () => {
      fs.mkdirSync(file);
      const aside = StateStore.moveAside(file);
      expect(fs.statSync(aside as string).isDirectory()).toBe(true);
      expect(fs.existsSync(file)).toBe(false);
    });
  });

  describe("compaction", () => {
    it("rewrites a log dominated by dead records, keeping the live set", async () => {
      const { store } = StateStore.open(file);
      for (let round = 0; round < 300; round++) {
        for (let i = 0; i < 10; i++) store.put(route(i, { oifs: [`r${round}`] }));
        await store.flush();
        // Bounded by max(1000, 2 × live) plus the batch that crossed it.
        expect(fileLines().length).toBeLessThanOrEqual(1 + 1000 + 10);
      }
      expect(store.stats.rewrites).toBeGreaterThanOrEqual(3);
      await store.close();
      expect(reopen()).toEqual(Array.from({ length: 10 }, (_, i) => route(i, { oifs: ["r299"] })));
      expect(fs.existsSync(`${file}.tmp`)).toBe(false);
    });

    it("shrinks the file after mass deletion", async () => {
      const { store } = StateStore.open(file);
      for (let i = 0; i < 2000; i++) store.put(route(i));
      await store.flush();
      const before = fs.statSync(file).size;
      for (let i = 100; i < 2000; i++) store.delete(route(i));
      await store.close();
      expect(fs.statSync(file).size).toBeLessThan(before / 10);
      expect(fileLines()).toHaveLength(101);
      expect(reopen()).toEqual(Array.from({ length: 100 }, (_, i) => route(i)).sort(byGroup));
    });
  });

  describe("flush", () => {
    it("group-commits concurrent callers into few fdatasyncs", async () => {
      const { store } = StateStore.open(file);
      const callers = Array.from({ length: 1000 }, async (_, i) => {
        // Spread the callers over several event-loop turns, like RPCs arriving over time.
        for (let t = 0; t < i % 7; t++) await new Promise((resolve) => setImmediate(resolve));
        store.put(route(i));
        await store.flush();
        // Resolved means durable: the route is in the file by now.
        expect(fs.readFileSync(file, "utf8")).toContain(`"group":"${route(i).group}"`);
      });
      await Promise.all(callers);
      expect(store.stats.syncs).toBeLessThan(50);
      await store.close();
      expect(reopen()).toHaveLength(1000);
    });

    it("writes a 100k-route batch with one write and one fdatasync", async () => {
      const { store } = StateStore.open(file);
      store.put(route(0));
      await store.flush(); // creates the file
      const before = { ...store.stats };
      for (let i = 1; i <= 100_000; i++) store.put(route(i));
      const started = performance.now();
      await store.flush();
      console.log(`flush of 100k routes: ${(performance.now() - started).toFixed(1)} ms`);
      expect(store.stats.writes - before.writes).toBe(1);
      expect(store.stats.syncs - before.syncs).toBe(1);
      await store.close();
      expect(StateStore.open(file).store.size).toBe(100_001);
    });

    it("rejects naming the file when writing fails, and a later flush retries", async () => {
      fs.mkdirSync(`${file}.tmp`); // the file is created via <file>.tmp: make that fail
      const { store } = StateStore.open(file);
      store.put(route(1));
      const failed = store.flush();
      await expect(failed).rejects.toThrow(StateFileError);
      await expect(failed).rejects.toThrow(new RegExp(`^state file ${file}: cannot write: EISDIR`));
      store.put(route(2));
      await expect(store.flush()).rejects.toThrow(/cannot write/);

      fs.rmdirSync(`${file}.tmp`);
      await store.flush();
      await store.close();
      expect(reopen()).toEqual([route(1), route(2)]);
    });
  });

  it("loads 10k routes", async () => {
    const { store } = StateStore.open(file);
    const expected = Array.from({ length: 10_000 }, (_, i) => route(i, { oifs: [`e${i % 32}`, "x"] }));
    for (const r of expected) store.put(r);
    await store.close();
    const started = performance.now();
    const { routes } = StateStore.open(file);
    console.log(`load of 10k routes: ${(performance.now() - started).toFixed(1)} ms`);
    expect(routes.sort(byGroup)).toEqual(expected.sort(byGroup));
  });
});

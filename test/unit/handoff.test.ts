// kernel-needs: none
// Handing kernel sockets to the next mfcd (src/kernel/handoff): systemd's sd_notify FDSTORE=1
// datagram with SCM_RIGHTS, the sockets a start is handed (LISTEN_FDS / MFCD_HANDOFF), and the
// in-place re-exec that keeps a descriptor open across execve (same pid).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { listenFds, sdNotify } from "../../src/kernel/handoff/index.js";
import { AF_UNIX, bind, recvmsgFds, SOCK_CLOEXEC, SOCK_DGRAM, socket, sockaddrUn } from "../../src/kernel/ffi/index.js";

const O_CLOEXEC_OCTAL = 0o2000000;
const cloexec = (fd: number) => (parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1] ?? "0", 8) & O_CLOEXEC_OCTAL) !== 0;

const opened: number[] = [];
afterEach(() => {
  for (const fd of opened.splice(0)) fs.closeSync(fd);
});

describe("sdNotify", () => {
  it("sends the state and the descriptors (SCM_RIGHTS) to $NOTIFY_SOCKET, path or abstract", () => {
    for (const name of [`@mfcd-test-${process.pid}-${Date.now()}`, path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-notify-")), "notify")]) {
      const manager = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      opened.push(manager);
      bind(manager, sockaddrUn(name), "bind(notify)");
      const file = fs.openSync("/proc/self/status", "r");
      opened.push(file);
      expect(sdNotify("FDSTORE=1\nFDNAME=mrt-ipv4-0", [file], { NOTIFY_SOCKET: name })).toBe(true);
      const buf = Buffer.alloc(256);
      const got = recvmsgFds(manager, buf, 4, "recvmsg");
      expect(got && buf.toString("utf8", 0, got.length)).toBe("FDSTORE=1\nFDNAME=mrt-ipv4-0");
      expect(got?.fds).toHaveLength(1);
      const copy = got!.fds[0]!;
      opened.push(copy);
      expect(copy).not.toBe(file);
      expect(fs.fstatSync(copy).ino).toBe(fs.fstatSync(file).ino);
    }
  });

  it("does nothing without $NOTIFY_SOCKET, and throws when nobody listens there", () => {
    expect(sdNotify("READY=1", [], {})).toBe(false);
    expect(() => sdNotify("READY=1", [], { NOTIFY_SOCKET: `@mfcd-nobody-${process.pid}` })).toThrow(/ECONNREFUSED|sendmsg/);
  });
});

describe("listenFds", () => {
  it("takes systemd's LISTEN_FDS only for this pid, names them, clears the variables and marks the fds close-on-exec", () => {
    // fds 3 and 4 exist in any Node process; the names are what matters here.
    const env: NodeJS.ProcessEnv = { LISTEN_PID: String(process.pid), LISTEN_FDS: "2", LISTEN_FDNAMES: "mrt-ipv4-0:mrt-ipv6-0", KEEP: "1" };
    expect([...listenFds(env)]).toEqual([
      ["mrt-ipv4-0", 3],
      ["mrt-ipv6-0", 4],
    ]);
    expect(env).toEqual({ KEEP: "1" });
    expect(cloexec(3)).toBe(true);
    expect([...listenFds({ LISTEN_PID: "1", LISTEN_FDS: "2", LISTEN_FDNAMES: "a:b" })]).toEqual([]);
    expect([...listenFds({ LISTEN_PID: String(process.pid), LISTEN_FDS: "x" })]).toEqual([]);
  });

  it("takes MFCD_HANDOFF name=fd pairs and ignores malformed ones", () => {
    const fd = fs.openSync("/dev/null", "r");
    opened.push(fd);
    const env: NodeJS.ProcessEnv = { MFCD_HANDOFF: `mrt-ipv4-0=${fd},bad,=3,mrt-ipv4-7=x` };
    expect([...listenFds(env)]).toEqual([["mrt-ipv4-0", fd]]);
    expect(env.MFCD_HANDOFF).toBeUndefined();
  });
});

describe("reexec", () => {
  it("replaces the program in the same process and the descriptor stays open, found by name and close-on-exec again", () => {
    const child = path.join(import.meta.dirname, "fixtures/reexec-child.ts");
    const target = fs.realpathSync("/proc/version");
    const run = spawnSync(process.execPath, ["--import", "tsx", child, target], { encoding: "utf8", timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines).toHaveLength(1); // the first program never printed: execve replaced it
    const got = JSON.parse(lines[0]!) as { pid: number; fd: number; target: string; cloexec: string; handoffEnv: string | null };
    expect(got.pid, "same process").toBe(run.pid);
    expect(got.target).toBe(target);
    expect(got.handoffEnv, "the variable is consumed").toBeNull();
    expect(parseInt(got.cloexec, 8) & O_CLOEXEC_OCTAL).not.toBe(0);
  });
});

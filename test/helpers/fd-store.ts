// A stand-in for systemd's file-descriptor store (systemd is not PID 1 here): a notify socket
// ($NOTIFY_SOCKET) that collects what mfcd sends — states like READY=1, and FDSTORE=1 datagrams
// whose SCM_RIGHTS descriptors it keeps by FDNAME — and the options that start the next mfcd with
// them as systemd does (fds from 3 on, LISTEN_FDS/LISTEN_FDNAMES, LISTEN_PID set by a shell that
// execs mfcd, so the pid matches).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AF_UNIX, bind, recvmsgFds, SOCK_CLOEXEC, SOCK_DGRAM, socket, sockaddrUn } from "../../src/kernel/ffi/index.js";
import type { SpawnMfcdOptions } from "./mfcd-process.js";

export class FdStore {
  /** Every notify datagram's text, in order. */
  readonly states: string[] = [];
  /** The stored descriptors (this process's copies) by FDNAME. */
  readonly stored = new Map<string, number>();
  readonly #dir = fs.mkdtempSync(path.join(os.tmpdir(), "mfcd-fdstore-"));
  readonly #notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  readonly #other: number[] = [];

  constructor() {
    bind(this.#notify, sockaddrUn(this.notifyPath), "bind(notify)");
  }

  get notifyPath(): string {
    return path.join(this.#dir, "notify");
  }

  /** The environment of an mfcd under this store (FDSTORE as systemd ≥ 254 sets it). */
  env(): NodeJS.ProcessEnv {
    return { ...process.env, NOTIFY_SOCKET: this.notifyPath, FDSTORE: "8" };
  }

  /** Reads every queued notify datagram; stores FDSTORE=1 descriptors by name. */
  drain(): void {
    const buf = Buffer.alloc(4096);
    for (let m = recvmsgFds(this.#notify, buf, 8, "recvmsg(notify)"); m; m = recvmsgFds(this.#notify, buf, 8, "recvmsg(notify)")) {
      const text = buf.toString("utf8", 0, m.length);
      this.states.push(text);
      const name = /FDNAME=(\S+)/.exec(text)?.[1];
      for (const fd of m.fds) {
        if (/^FDSTORE=1$/m.test(text) && name && !this.stored.has(name)) this.stored.set(name, fd);
        else this.#other.push(fd);
      }
    }
  }

  /** spawnMfcd options that hand the stored descriptors to the next mfcd, as systemd would. */
  handBack(): Pick<SpawnMfcdOptions, "env" | "wrapper" | "passFds"> {
    this.drain();
    const names = [...this.stored.keys()];
    return {
      env: { ...this.env(), LISTEN_FDS: String(names.length), LISTEN_FDNAMES: names.join(":") },
      wrapper: ["sh", "-c", 'export LISTEN_PID=$$; exec "$@"', "sh"],
      passFds: names.map((n) => this.stored.get(n) as number),
    };
  }

  /** The unit stops: the store closes its copies (for the kernel, maybe the last holder). */
  release(): void {
    for (const fd of [...this.stored.values(), ...this.#other.splice(0)]) fs.closeSync(fd);
    this.stored.clear();
  }

  close(): void {
    this.release();
    fs.closeSync(this.#notify);
    fs.rmSync(this.#dir, { recursive: true, force: true });
  }
}

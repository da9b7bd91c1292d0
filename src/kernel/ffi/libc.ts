// Thin koffi bindings to the few libc calls the kernel layer needs. Every wrapper reads
// koffi.errno() immediately after the call and throws KernelError on failure, except the
// `try*` variants, which return the errno so hot paths can map "not found" without a throw.
//
// Payloads are Node Buffers passed as `void *`: koffi hands the C function a pointer into the
// Buffer's memory for the duration of a synchronous call (also for subarray views).

import koffi from "koffi";
import os from "node:os";
import { KernelError } from "./kernel-error.js";

const { EAGAIN } = os.constants.errno;
const LE = os.endianness() === "LE";

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const IPPROTO_IP = 0;
export const IPPROTO_IGMP = 2;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;
/** setsockopt(IPPROTO_ICMPV6, ICMP6_FILTER, struct icmp6_filter): a set bit blocks that type. */
export const ICMP6_FILTER = 1;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;
export const MSG_DONTWAIT = 0x40;
export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;
export const MSG_TRUNC = 0x20;
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_RCVBUFFORCE = 33;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const F_DUPFD_CLOEXEC = 1030;
export const SO_ATTACH_FILTER = 26;
export const POLLIN = 0x1;
export const POLLNVAL = 0x20;
/** sizeof(struct pollfd): int fd, short events, short revents. */
const POLLFD_SIZE = 8;

type IntFn = (...args: unknown[]) => number;
type BigFn = (...args: unknown[]) => number | bigint;

const lib = koffi.load("libc.so.6");
/** struct sock_fprog: the classic BPF program of SO_ATTACH_FILTER (a count and a pointer). */
const SockFprog = koffi.struct("mfcd_sock_fprog", { len: "uint16", filter: "void *" });
/** struct iovec and struct msghdr (LP64): sendmsg/recvmsg with SCM_RIGHTS (fd passing). */
const Iovec = koffi.struct("mfcd_iovec", { base: "void *", len: "size_t" });
const Msghdr = koffi.struct("mfcd_msghdr", {
  name: "void *",
  namelen: "uint32",
  iov: "mfcd_iovec *",
  iovlen: "size_t",
  control: "void *",
  controllen: "size_t",
  flags: "int",
});
const c = {
  socket: lib.func("int socket(int domain, int type, int protocol)") as IntFn,
  setsockopt: lib.func("int setsockopt(int fd, int level, int optname, void *optval, uint32_t optlen)") as IntFn,
  setsockoptFilter: lib.func("int setsockopt(int fd, int level, int optname, mfcd_sock_fprog *optval, uint32_t optlen)") as IntFn,
  getsockopt: lib.func("int getsockopt(int fd, int level, int optname, void *optval, void *optlen)") as IntFn,
  // ioctl and open are variadic in glibc but read their optional argument as a plain register
  // argument on Linux x86_64/aarch64, so a fixed prototype is ABI-safe and avoids koffi's much
  // slower variadic call path (ioctl is on the 10k/s counters path).
  ioctl: lib.func("int ioctl(int fd, unsigned long request, void *arg)") as IntFn,
  open: lib.func("int open(const char *path, int flags)") as IntFn,
  close: lib.func("int close(int fd)") as IntFn,
  recv: lib.func("intptr_t recv(int fd, void *buf, size_t len, int flags)") as BigFn,
  send: lib.func("intptr_t send(int fd, void *buf, size_t len, int flags)") as BigFn,
  pread: lib.func("intptr_t pread(int fd, void *buf, size_t count, int64_t offset)") as BigFn,
  setns: lib.func("int setns(int fd, int nstype)") as IntFn,
  bind: lib.func("int bind(int fd, void *addr, uint32_t addrlen)") as IntFn,
  eventfd: lib.func("int eventfd(unsigned int initval, int flags)") as IntFn,
  write: lib.func("intptr_t write(int fd, void *buf, size_t count)") as BigFn,
  read: lib.func("intptr_t read(int fd, void *buf, size_t count)") as BigFn,
  poll: lib.func("int poll(void *fds, unsigned long nfds, int timeout)") as IntFn,
  // Variadic in glibc; a fixed int third argument is ABI-safe on x86_64/aarch64 (as for ioctl).
  fcntl: lib.func("int fcntl(int fd, int cmd, int arg)") as IntFn,
  mallopt: lib.func("int mallopt(int param, int value)") as IntFn,
  sendmsg: lib.func("intptr_t sendmsg(int fd, mfcd_msghdr *msg, int flags)") as BigFn,
  recvmsg: lib.func("intptr_t recvmsg(int fd, _Inout_ mfcd_msghdr *msg, int flags)") as BigFn,
  execve: lib.func("int execve(const char *path, const char **argv, const char **envp)") as IntFn,
};

if (koffi.sizeof(Msghdr) !== 56 || koffi.sizeof(Iovec) !== 16) throw new Error("struct msghdr/iovec: unexpected layout");
// The struct codecs assume LP64 (`unsigned long` counters of 8 bytes).
if (koffi.sizeof("unsigned long") !== 8) {
  throw new Error("mfcd's kernel layer supports 64-bit Linux only (unsigned long must be 8 bytes)");
}

function fail(what: string): never {
  throw new KernelError(what, koffi.errno());
}

export function socket(domain: number, type: number, protocol: number): number {
  const fd = c.socket(domain, type, protocol);
  if (fd < 0) fail("socket");
  return fd;
}

export function setsockopt(fd: number, level: number, optname: number, value: Buffer, what: string): void {
  if (c.setsockopt(fd, level, optname, value, value.length) < 0) fail(what);
}

/** setsockopt; returns 0 on success, else the errno (no throw). */
export function trySetsockopt(fd: number, level: number, optname: number, value: Buffer): number {
  return c.setsockopt(fd, level, optname, value, value.length) < 0 ? koffi.errno() : 0;
}

const intArg = Buffer.alloc(4);

export function setsockoptInt(fd: number, level: number, optname: number, value: number, what: string): void {
  intArg.writeInt32LE(value, 0);
  if (c.setsockopt(fd, level, optname, intArg, 4) < 0) fail(what);
}

const intLen = Buffer.alloc(4);

export function getsockoptInt(fd: number, level: number, optname: number, what: string): number {
  intArg.fill(0);
  intLen.writeUInt32LE(4, 0);
  if (c.getsockopt(fd, level, optname, intArg, intLen) < 0) fail(what);
  return intArg.readInt32LE(0);
}

/** ioctl; returns 0 on success, else the errno (no throw). */
export function tryIoctl(fd: number, request: number, arg: Buffer): number {
  return c.ioctl(fd, request, arg) < 0 ? koffi.errno() : 0;
}

export function open(path: string, flags: number): number {
  const fd = c.open(path, flags);
  if (fd < 0) fail(`open(${path})`);
  return fd;
}

export function close(fd: number): void {
  if (c.close(fd) < 0) fail("close");
}

/** pread into `buf` (may be a subarray view); returns the byte count, 0 at end of file. */
export function pread(fd: number, buf: Buffer, offset: number, what: string): number {
  const n = Number(c.pread(fd, buf, buf.length, offset));
  if (n < 0) fail(what);
  return n;
}

/**
 * Non-blocking recv into `buf` (MSG_DONTWAIT | `flags`); the byte count, or undefined when
 * nothing is queued. With MSG_TRUNC the count is the datagram's real length, which may exceed
 * buf.length.
 */
export function recvNonBlocking(fd: number, buf: Buffer, what: string, flags = 0): number | undefined {
  const n = Number(c.recv(fd, buf, buf.length, MSG_DONTWAIT | flags));
  if (n >= 0) return n;
  const errno = koffi.errno();
  if (errno === EAGAIN) return undefined;
  throw new KernelError(what, errno);
}

/** read(2) into `buf`; the byte count, or undefined when a non-blocking fd has nothing (EAGAIN). */
export function read(fd: number, buf: Buffer, what: string): number | undefined {
  const n = Number(c.read(fd, buf, buf.length));
  if (n >= 0) return n;
  const errno = koffi.errno();
  if (errno === EAGAIN) return undefined;
  throw new KernelError(what, errno);
}

/** A struct pollfd[] for poll(): `events` on each of `fds`, revents cleared. */
export function pollfds(fds: readonly number[], events: number): Buffer {
  const set = Buffer.alloc(POLLFD_SIZE * fds.length);
  fds.forEach((fd, i) => {
    writeHost32(set, POLLFD_SIZE * i, fd);
    writeHost16(set, POLLFD_SIZE * i + 4, events);
  });
  return set;
}

/** revents of entry `i` of a pollfd[] after poll(). */
export function pollRevents(set: Buffer, i: number): number {
  const off = POLLFD_SIZE * i + 6;
  return LE ? set.readUInt16LE(off) : set.readUInt16BE(off);
}

/** poll(2) over a pollfd[] from pollfds(); the number of entries with revents. */
export function poll(set: Buffer, timeoutMs: number): number {
  const n = c.poll(set, set.length / POLLFD_SIZE, timeoutMs);
  if (n < 0) fail("poll");
  return n;
}

/**
 * SO_ATTACH_FILTER with a classic BPF program (`program`: struct sock_filter[], 8 bytes each);
 * returns 0 on success, else the errno (no throw).
 */
export function tryAttachFilter(fd: number, program: Buffer): number {
  const fprog = { len: program.length / 8, filter: program };
  return c.setsockoptFilter(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, koffi.sizeof(SockFprog)) < 0 ? koffi.errno() : 0;
}

function writeHost32(buf: Buffer, off: number, v: number): void {
  if (LE) buf.writeInt32LE(v, off);
  else buf.writeInt32BE(v, off);
}

function writeHost16(buf: Buffer, off: number, v: number): void {
  if (LE) buf.writeUInt16LE(v, off);
  else buf.writeUInt16BE(v, off);
}

/** send of the whole buffer (datagram sockets: one message). */
export function send(fd: number, buf: Buffer, what: string): void {
  if (Number(c.send(fd, buf, buf.length, 0)) < 0) fail(what);
}

/** Moves the calling thread (only) into the namespace behind `fd`. */
export function setns(fd: number, nstype: number): void {
  if (c.setns(fd, nstype) < 0) fail("setns");
}

/**
 * Blocking recv with extra `flags`; the byte count. With MSG_TRUNC a datagram socket returns
 * the datagram's real length even when it did not fit into `buf` (caller checks n > length).
 */
export function recvFlags(fd: number, buf: Buffer, flags: number, what: string): number {
  const n = Number(c.recv(fd, buf, buf.length, flags));
  if (n < 0) fail(what);
  return n;
}

/** bind to the socket address encoded in `addr` (e.g. a 12-byte sockaddr_nl). */
export function bind(fd: number, addr: Buffer, what: string): void {
  if (c.bind(fd, addr, addr.length) < 0) fail(what);
}

/** eventfd(2) with EFD_* flags; the new fd. */
export function eventfd(initval: number, flags: number): number {
  const fd = c.eventfd(initval, flags);
  if (fd < 0) fail("eventfd");
  return fd;
}

/** write(2) of the whole buffer in one call (eventfds and other all-or-nothing files). */
export function write(fd: number, buf: Buffer, what: string): void {
  const n = Number(c.write(fd, buf, buf.length));
  if (n < 0) fail(what);
  if (n !== buf.length) throw new KernelError(what, os.constants.errno.EIO, `short write: ${n} of ${buf.length} bytes`);
}

/**
 * fcntl(F_DUPFD_CLOEXEC): a second descriptor (close-on-exec) for the same open file. The copy
 * keeps the file alive until it is closed too, and its number can never be reused for another
 * file while it is open (unlike the original's number after close()).
 */
export function dupCloexec(fd: number): number {
  const copy = c.fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) fail("fcntl(F_DUPFD_CLOEXEC)");
  return copy;
}

/** glibc's mallopt(): true when the parameter was set (it sets no errno). */
export function mallopt(param: number, value: number): boolean {
  return c.mallopt(param, value) === 1;
}

export const AF_UNIX = 1;
const SCM_RIGHTS = 1;
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
/** sizeof(struct cmsghdr) on LP64: size_t len, int level, int type. */
const CMSG_HDR = 16;

/** FD_CLOEXEC on or off: off hands `fd` to the program execve() starts. */
export function setCloexec(fd: number, on: boolean): void {
  const flags = c.fcntl(fd, F_GETFD, 0);
  if (flags < 0) fail("fcntl(F_GETFD)");
  if (c.fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC) < 0) fail("fcntl(F_SETFD)");
}

/** A struct sockaddr_un for `path`; a leading "@" names an abstract socket (as systemd writes it). */
export function sockaddrUn(path: string): Buffer {
  const name = Buffer.from(path.startsWith("@") ? "\0" + path.slice(1) : path, "utf8");
  if (name.length > 107) throw new KernelError("sockaddr_un", os.constants.errno.ENAMETOOLONG, path);
  const addr = Buffer.alloc(2 + name.length + (path.startsWith("@") ? 0 : 1));
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  return addr;
}

/** One datagram to `addr` (a sockaddr, or null for a connected socket) carrying `fds` as SCM_RIGHTS. */
export function sendmsgFds(fd: number, addr: Buffer | null, data: Buffer, fds: readonly number[], what: string): void {
  const control = fds.length === 0 ? null : Buffer.alloc(CMSG_HDR + 8 * Math.ceil(fds.length / 2));
  if (control) {
    if (LE) control.writeBigUInt64LE(BigInt(CMSG_HDR + 4 * fds.length), 0);
    else control.writeBigUInt64BE(BigInt(CMSG_HDR + 4 * fds.length), 0);
    writeHost32(control, 8, SOL_SOCKET);
    writeHost32(control, 12, SCM_RIGHTS);
    fds.forEach((f, i) => writeHost32(control, CMSG_HDR + 4 * i, f));
  }
  const msg = {
    name: addr,
    namelen: addr?.length ?? 0,
    iov: { base: data, len: data.length },
    iovlen: 1,
    control,
    controllen: control?.length ?? 0,
    flags: 0,
  };
  if (Number(c.sendmsg(fd, msg, 0)) < 0) fail(what);
}

/**
 * recvmsg(MSG_DONTWAIT | MSG_CMSG_CLOEXEC) of one datagram with up to `maxFds` SCM_RIGHTS fds;
 * undefined when nothing is queued.
 */
export function recvmsgFds(fd: number, buf: Buffer, maxFds: number, what: string): { length: number; fds: number[] } | undefined {
  const MSG_CMSG_CLOEXEC = 0x40000000;
  const control = Buffer.alloc(CMSG_HDR + 8 * Math.ceil(maxFds / 2));
  const msg = { name: null, namelen: 0, iov: { base: buf, len: buf.length }, iovlen: 1, control, controllen: control.length, flags: 0 };
  const n = Number(c.recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
  if (n < 0) {
    const errno = koffi.errno();
    if (errno === EAGAIN) return undefined;
    throw new KernelError(what, errno);
  }
  const fds: number[] = [];
  if (msg.controllen >= CMSG_HDR && readHost32(control, 12) === SCM_RIGHTS) {
    const count = (Number(LE ? control.readBigUInt64LE(0) : control.readBigUInt64BE(0)) - CMSG_HDR) / 4;
    for (let i = 0; i < count; i++) fds.push(readHost32(control, CMSG_HDR + 4 * i));
  }
  return { length: n, fds };
}

/** Replaces this process's program (same pid, fds without FD_CLOEXEC stay open); returns only by throwing. */
export function execve(path: string, argv: readonly string[], env: readonly string[]): never {
  c.execve(path, [...argv, null], [...env, null]);
  fail(`execve(${path})`);
}

function readHost32(buf: Buffer, off: number): number {
  return LE ? buf.readInt32LE(off) : buf.readInt32BE(off);
}

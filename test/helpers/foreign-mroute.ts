// A "foreign" multicast router for drift tests: a second raw IGMP socket in a namespace that
// does NOT take MRT_INIT (mfcd holds it) and still changes the MFC, as any process with
// CAP_NET_ADMIN may (see kernel-facts.md). Entries it adds are flagged static by the kernel.
//
// The socket is created inside the namespace (setns on this thread only, for the socket() call)
// and closed again after each operation, so nothing lingers between tests.

import {
  inNetns,
  KernelError,
  AF_INET,
  AF_INET6,
  IPPROTO_ICMPV6,
  IPPROTO_IGMP,
  IPPROTO_IP,
  IPPROTO_IPV6,
  SOCK_CLOEXEC,
  SOCK_RAW,
  close,
  socket,
  trySetsockopt,
} from "../../src/kernel/ffi/index.js";
import { IPV4_STRUCTS, IPV6_STRUCTS, MRT6_DEL_MFC, MRT_ADD_MFC, MRT_DEL_MFC, encodeMfcctl } from "../../src/kernel/abi/index.js";

function withForeignSocket<T>(ns: string, fn: (fd: number) => T): T {
  const fd = inNetns(`/run/netns/${ns}`, () => socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_IGMP));
  try {
    return fn(fd);
  } finally {
    close(fd);
  }
}

/** MRT_DEL_MFC of (source, group) from a non-owner socket in `ns`. Throws KernelError (ENOENT, …). */
export function foreignDelMfc(ns: string, source: string, group: string): void {
  withForeignSocket(ns, (fd) => {
    const errno = trySetsockopt(fd, IPPROTO_IP, MRT_DEL_MFC, encodeMfcctl(IPV4_STRUCTS, { origin: source, group, parent: 0 }));
    if (errno !== 0) throw new KernelError("foreign setsockopt(MRT_DEL_MFC)", errno, `(${source}, ${group})`);
  });
}

/**
 * MRT_ADD_MFC of (source, group) from a non-owner socket in `ns`: input VIF `parent`, TTL
 * threshold 1 on each VIF of `oifs`. Replaces an existing entry in place (kernel semantics).
 */
export function foreignAddMfc(ns: string, source: string, group: string, parent: number, oifs: readonly number[]): void {
  withForeignSocket(ns, (fd) => {
    const req = encodeMfcctl(IPV4_STRUCTS, { origin: source, group, parent, oifs: new Map(oifs.map((v) => [v, 1])) });
    const errno = trySetsockopt(fd, IPPROTO_IP, MRT_ADD_MFC, req);
    if (errno !== 0) throw new KernelError("foreign setsockopt(MRT_ADD_MFC)", errno, `(${source}, ${group})`);
  });
}

/** MRT6_DEL_MFC of (source, group) from a raw ICMPv6 socket in `ns` that is not the MRT6_INIT owner. */
export function foreignDelMfc6(ns: string, source: string, group: string): void {
  const fd = inNetns(`/run/netns/${ns}`, () => socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6));
  try {
    const errno = trySetsockopt(fd, IPPROTO_IPV6, MRT6_DEL_MFC, encodeMfcctl(IPV6_STRUCTS, { origin: source, group, parent: 0 }));
    if (errno !== 0) throw new KernelError("foreign setsockopt(MRT6_DEL_MFC)", errno, `(${source}, ${group})`);
  } finally {
    close(fd);
  }
}

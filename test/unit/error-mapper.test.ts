import { Status } from "nice-grpc";
import { BadRequest, ErrorInfo, RichServerError } from "nice-grpc-error-details";
import { describe, expect, it } from "vitest";
import { DomainError, type DomainErrorKind } from "../../src/engine/domain-error.js";
import { KernelError } from "../../src/kernel/ffi/kernel-error.js";
import { clipText, toServerError } from "../../src/server/rpc/error-mapper.js";

describe("toServerError", () => {
  it.each<[DomainErrorKind, Status]>([
    ["invalid-argument", Status.INVALID_ARGUMENT],
    ["not-found", Status.NOT_FOUND],
    ["already-exists", Status.ALREADY_EXISTS],
    ["failed-precondition", Status.FAILED_PRECONDITION],
    ["resource-exhausted", Status.RESOURCE_EXHAUSTED],
    ["unavailable", Status.UNAVAILABLE],
    ["internal", Status.INTERNAL],
  ])("%s → %s", (kind, status) => {
    expect(toServerError(new DomainError(kind, "m")).code).toBe(status);
  });

  it("carries field violations as BadRequest and the reason as ErrorInfo", () => {
    const err = toServerError(DomainError.invalid([{ field: "route.group", description: "bad" }]));
    expect(err).toBeInstanceOf(RichServerError);
    const extra = (err as RichServerError).extra;
    const bad = extra.find((d) => d.$type === BadRequest.$type) as BadRequest;
    expect(bad.fieldViolations.map((v) => [v.field, v.description])).toEqual([["route.group", "bad"]]);
    const info = extra.find((d) => d.$type === ErrorInfo.$type) as ErrorInfo;
    expect(info.reason).toBe("INVALID_FIELD");
    expect(info.domain).toBe("mfcd.v1");
  });

  it("maps kernel errnos: ENFILE → RESOURCE_EXHAUSTED, EPERM → PERMISSION_DENIED, others INTERNAL", () => {
    expect(toServerError(new KernelError("setsockopt(MRT_ADD_VIF)", 23)).code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(toServerError(new KernelError("socket", 1)).code).toBe(Status.PERMISSION_DENIED);
    const other = toServerError(new KernelError("setsockopt(MRT_ADD_MFC)", 22)) as RichServerError;
    expect(other.code).toBe(Status.INTERNAL);
    expect(other.details).toContain("EINVAL");
    expect((other.extra[0] as ErrorInfo).reason).toBe("KERNEL_EINVAL");
  });

  it("unknown errors become INTERNAL with the message", () => {
    const err = toServerError(new Error("boom"));
    expect(err.code).toBe(Status.INTERNAL);
    expect(err.details).toContain("boom");
  });
});

describe("toServerError: kernel answers about missing options, owners and privileges", () => {
  const ENOPROTOOPT = 92;
  const EADDRINUSE = 98;
  const EPERM = 1;
  const EACCES = 13;
  const info = (err: unknown) => ((err as RichServerError).extra.find((d) => d.$type === ErrorInfo.$type) as ErrorInfo);

  it.each([
    ["setsockopt(MRT_INIT)", "CONFIG_IP_MROUTE"],
    ["setsockopt(MRT_TABLE)", "CONFIG_IP_MROUTE_MULTIPLE_TABLES"],
    ["setsockopt(MRT6_INIT)", "CONFIG_IPV6_MROUTE"],
    ["setsockopt(MRT6_TABLE)", "CONFIG_IPV6_MROUTE_MULTIPLE_TABLES"],
  ])("ENOPROTOOPT from %s → FAILED_PRECONDITION naming %s", (syscall, option) => {
    const err = toServerError(new KernelError(syscall, ENOPROTOOPT));
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain(option);
    expect(info(err).reason).toBe("KERNEL_ENOPROTOOPT");
    expect(info(err).metadata.option).toBe(option);
  });

  it("ENOPROTOOPT from an unknown call is still FAILED_PRECONDITION", () => {
    const err = toServerError(new KernelError("getsockopt(X)", ENOPROTOOPT));
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain("lacks the option");
  });

  it("EADDRINUSE opening a non-default table → FAILED_PRECONDITION naming the table (not INTERNAL)", () => {
    const err = toServerError(new KernelError("setsockopt(MRT_INIT)", EADDRINUSE, undefined, 7));
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toContain("another multicast router owns table 7");
    expect(info(err).metadata.table).toBe("7");
    const v6 = toServerError(new KernelError("setsockopt(MRT6_INIT)", EADDRINUSE).inTable(3));
    expect(v6.details).toContain("owns table 3");
    expect(toServerError(new KernelError("setsockopt(MRT_ADD_VIF)", EADDRINUSE)).code).toBe(Status.FAILED_PRECONDITION);
  });

  it.each([
    ["socket", EPERM, "CAP_NET_RAW"],
    ["setsockopt(MRT_TABLE)", EACCES, "CAP_NET_ADMIN"],
    ["setsockopt(MRT_ADD_VIF)", EPERM, "CAP_NET_ADMIN"],
  ])("%s errno %d → PERMISSION_DENIED naming %s", (syscall, errno, cap) => {
    const err = toServerError(new KernelError(syscall, errno));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(err.details).toContain(cap);
    expect(info(err).metadata.capability).toBe(cap);
  });

  it("none of these is ever INTERNAL", () => {
    for (const errno of [ENOPROTOOPT, EADDRINUSE, EPERM, EACCES]) {
      expect(toServerError(new KernelError("setsockopt(MRT_INIT)", errno)).code).not.toBe(Status.INTERNAL);
    }
  });

  it("clipText keeps the start and the end of a long text and never splits a surrogate pair", () => {
    expect(clipText("short", 10)).toBe("short");
    const clipped = clipText(`"${"1".repeat(1000)}" is not a dotted-quad`, 60);
    expect(clipped).toMatch(/^"1{19}…\[\d+ characters left out\]…1*" is not a dotted-quad$/);
    for (let max = 2; max < 12; max++) {
      const text = clipText("😀".repeat(20), max);
      expect(text.replace(/[\ud800-\udbff][\udc00-\udfff]/g, "")).not.toMatch(/[\ud800-\udfff]/);
    }
  });
});

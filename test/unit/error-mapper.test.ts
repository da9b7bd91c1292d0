import { Status } from "nice-grpc";
import { BadRequest, ErrorInfo, RichServerError } from "nice-grpc-error-details";
import { describe, expect, it } from "vitest";
import { DomainError, type DomainErrorKind } from "../../src/engine/domain-error.js";
import { KernelError } from "../../src/kernel/kernel-error.js";
import { toServerError } from "../../src/server/error-mapper.js";

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

import { describe, expect, it } from "vitest";
import { CleanupStack, type UndoFailure } from "../../src/server/lifecycle/cleanup-stack.js";

describe("CleanupStack", () => {
  it("runs the undos newest first, each once, and is empty afterwards", async () => {
    const stack = new CleanupStack();
    const ran: string[] = [];
    for (const name of ["state", "tables", "mrule st0", "server"]) stack.push(name, () => void ran.push(name));
    expect(stack.size).toBe(4);
    expect(await stack.unwind()).toEqual([]);
    expect(ran).toEqual(["server", "mrule st0", "tables", "state"]);
    expect(stack.size).toBe(0);
    await stack.unwind();
    expect(ran).toHaveLength(4);
  });

  it("waits for an async undo before the next one starts", async () => {
    const stack = new CleanupStack();
    const ran: string[] = [];
    stack.push("sockets", () => void ran.push("sockets"));
    stack.push("readers", async () => {
      await new Promise((r) => setTimeout(r, 20));
      ran.push("readers");
    });
    await stack.unwind();
    expect(ran).toEqual(["readers", "sockets"]);
  });

  it("a throwing or rejecting step is reported and every other step still runs", async () => {
    const stack = new CleanupStack();
    const ran: string[] = [];
    stack.push("state file", () => void ran.push("state file"));
    stack.push("mrule st0=11", () => void ran.push("mrule st0=11"));
    stack.push("mrule st1=12", () => {
      throw new Error("EPERM");
    });
    stack.push("mrule st2=13", () => void ran.push("mrule st2=13"));
    stack.push("server", () => Promise.reject(new Error("shutdown timed out")));
    const reported: UndoFailure[] = [];
    const failures = await stack.unwind((f) => reported.push(f));
    expect(ran).toEqual(["mrule st2=13", "mrule st0=11", "state file"]);
    expect(failures.map((f) => f.name)).toEqual(["server", "mrule st1=12"]);
    expect(reported).toEqual(failures);
    expect((failures[1]!.err as Error).message).toBe("EPERM");
  });

  it("a reporter that throws does not stop the unwinding", async () => {
    const stack = new CleanupStack();
    const ran: string[] = [];
    stack.push("last", () => void ran.push("last"));
    stack.push("bad", () => {
      throw new Error("x");
    });
    const failures = await stack.unwind(() => {
      throw new Error("logger broke");
    });
    expect(ran).toEqual(["last"]);
    expect(failures).toHaveLength(1);
  });
});

import { describe, expect, it } from "vitest";
import { NullStateStore } from "../../src/state/null-state-store.js";
import type { RouteStore } from "../../src/state/route-store.js";
import type { StoredRoute } from "../../src/state/stored-route.js";

const route = (group: string, oifs = ["eth1"]): StoredRoute => ({
  family: "ipv4",
  table: 0,
  source: "10.0.0.1",
  group,
  iif: "eth0",
  oifs,
  owner: "test",
});

describe("NullStateStore", () => {
  it("answers like a file store, without a file", async () => {
    const store: RouteStore = new NullStateStore();
    expect(store.path).toBeUndefined();
    const r = route("239.1.1.1");
    store.put(r);
    store.put(route("239.1.1.1", ["eth2"]));
    store.put(route("239.1.1.2"));
    r.oifs.push("late");
    expect(store.delete(route("239.1.1.2"))).toBe(true);
    expect(store.delete(route("239.9.9.9"))).toBe(false);
    await store.flush();
    expect(store.size).toBe(1);
    expect(store.routes()).toEqual([route("239.1.1.1", ["eth2"])]);
    await store.close();
  });
});

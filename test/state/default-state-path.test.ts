import { afterEach, describe, expect, it, vi } from "vitest";
import { netnsIdentity } from "../../src/shared/netns-identity.js";
import { defaultStatePath } from "../../src/state/default-state-path.js";

describe("defaultStatePath", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("keeps one file per network namespace under /var/lib/mfcd", () => {
    vi.stubEnv("STATE_DIRECTORY", undefined);
    expect(defaultStatePath("host")).toBe("/var/lib/mfcd/host.state");
    expect(defaultStatePath("blue")).toBe("/var/lib/mfcd/blue.state");
    expect(defaultStatePath("netns-4026532281")).toBe("/var/lib/mfcd/netns-4026532281.state");
    expect(defaultStatePath()).toBe(`/var/lib/mfcd/${netnsIdentity()}.state`);
  });

  it("uses systemd's STATE_DIRECTORY (the first one if several)", () => {
    vi.stubEnv("STATE_DIRECTORY", "/var/lib/mfcd-custom");
    expect(defaultStatePath("host")).toBe("/var/lib/mfcd-custom/host.state");
    vi.stubEnv("STATE_DIRECTORY", "/srv/a:/srv/b");
    expect(defaultStatePath("red")).toBe("/srv/a/red.state");
    vi.stubEnv("STATE_DIRECTORY", "");
    expect(defaultStatePath("host")).toBe("/var/lib/mfcd/host.state");
  });
});

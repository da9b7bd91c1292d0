// kernel-needs: ipv4
// deploy/: every manifest parses and keeps the invariants users rely on (non-root, only
// NET_RAW + NET_ADMIN, no privileged, probe ports = mfcd's --health-listen, args = valid mfcd
// flags), and the systemd unit's ExecStart really runs: in a private mount namespace (so
// /var/lib/mfcd and /run/mfcd are throwaway tmpfs), in a fresh network namespace (what
// NetworkNamespacePath= does), as an unprivileged user with the unit's ambient capabilities.
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { parseCliOptions } from "../../src/server/config/index.js";
import { createMfcClient, RouteState } from "../../src/sdk/index.js";
import { addNetns, delNetns, ip, uniqueName } from "../helpers/netns.js";
import { REPO_ROOT } from "../helpers/mfcd-process.js";
import { readableMfcdMain } from "../helpers/readable-runtime.js";
import { waitFor } from "../helpers/traffic.js";
import { bound } from "../helpers/time-bounds.js";

const DEPLOY = path.join(REPO_ROOT, "deploy");
const read = (p: string) => fs.readFileSync(path.join(DEPLOY, p), "utf8");

/** Flags mfcd accepts, split "--a=b" forms apart; throws a UsageError for anything invalid. */
function mfcdOptions(args: string[]) {
  return parseCliOptions(args.flatMap((a) => (a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a])));
}

function tcpPort(addr: { kind: string; port?: number } | undefined): number | undefined {
  return addr?.kind === "tcp" ? addr.port : undefined;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === "object" ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

describe("Dockerfile", () => {
  const text = read("Dockerfile");
  const lines = text.split("\n").filter((l) => !l.startsWith("#"));
  const stages = lines.filter((l) => /^FROM\s/.test(l));
  const runtime = text.slice(text.lastIndexOf("\nFROM "));

  it("is multi-stage with a slim runtime running as a non-root user", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages.at(-1)).toMatch(/-slim\b/);
    const user = /^USER\s+(\S+)/m.exec(runtime)?.[1];
    expect(user).toBeDefined();
    expect(user?.split(":")[0]).not.toMatch(/^(0|root)$/);
  });

  it("grants exactly CAP_NET_RAW and CAP_NET_ADMIN", () => {
    const setcaps = [...runtime.matchAll(/setcap\s+(\S+)/g)].map((m) => m[1]);
    expect(setcaps.length).toBeGreaterThan(0);
    for (const caps of setcaps) {
      const names = (caps ?? "").replace(/[+=].*$/, "").split(",");
      expect(names.every((c) => c === "cap_net_raw" || c === "cap_net_admin")).toBe(true);
    }
    expect(setcaps.some((c) => c?.startsWith("cap_net_raw,cap_net_admin"))).toBe(true);
  });

  it("the entrypoint is mfcd and the default arguments are valid mfcd flags", () => {
    const entry = JSON.parse(/^ENTRYPOINT\s+(\[.*\])$/m.exec(runtime)?.[1] ?? "[]") as string[];
    const cmd = JSON.parse(/^CMD\s+(\[.*\])$/m.exec(runtime)?.[1] ?? "[]") as string[];
    expect(entry[0]).toBe("node");
    expect(entry.at(-1)).toBe("dist/server/main.js");
    // The same node flags as the bin's shebang (what `npx mfcd` runs).
    const shebang = fs.readFileSync(path.join(REPO_ROOT, "src/server/main.ts"), "utf8").split("\n", 1)[0] ?? "";
    expect(entry.slice(1, -1)).toEqual(shebang.replace(/^#!\S*env -S node\s*/, "").split(/\s+/).filter(Boolean));
    expect(fs.existsSync(path.join(REPO_ROOT, entry.at(-1) ?? ""))).toBe(true);
    const o = mfcdOptions(cmd);
    expect(o.listen[0]).toEqual({ kind: "unix", path: "/run/mfcd/mfcd.sock" });
    // mfcctl is on PATH for `docker exec … mfcctl`, pointing at the package's bin.
    const bin = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { bin: Record<string, string> }).bin;
    expect(runtime).toContain(`ln -s /app/${bin.mfcctl} /usr/local/bin/mfcctl`);
    // The socket's directory is a volume owned by the runtime user.
    expect(runtime).toMatch(/VOLUME \["\/run\/mfcd"\]/);
  });
});

describe("the image's runtime stage", () => {
  const created: string[] = [];
  afterAll(async () => {
    for (const ns of created) await delNetns(ns);
  });

  it("has every file mfcd needs: assembled from its COPY --from=build lines, it serves health and reflection and mfcctl works", async () => {
    const text = read("Dockerfile");
    const runtime = text.slice(text.lastIndexOf("\nFROM "));
    const workdir = /^WORKDIR\s+(\S+)/m.exec(runtime)?.[1] ?? "/";
    // The build stage's /app is this checkout after `npm run build`.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "mfct-image-"));
    try {
      for (const m of runtime.matchAll(/^COPY --from=build\s+(.+)$/gm)) {
        const parts = (m[1] ?? "").trim().split(/\s+/);
        const dest = parts.pop() ?? "";
        for (const src of parts) {
          const from = path.join(REPO_ROOT, path.relative("/app", src));
          const to = dest.endsWith("/") || parts.length > 1 ? path.join(root, dest, path.basename(src)) : path.join(root, dest);
          fs.mkdirSync(path.dirname(to), { recursive: true });
          // node_modules is large and read-only here: a link stands in for the copy.
          if (src.endsWith("/node_modules")) fs.symlinkSync(from, to);
          else fs.cpSync(from, to, { recursive: true });
        }
      }
      expect(fs.existsSync(path.join(root, "src/server"))).toBe(false); // no sources in the image
      const entry = JSON.parse(/^ENTRYPOINT\s+(\[.*\])$/m.exec(runtime)?.[1] ?? "[]") as string[];
      const ns = uniqueName("image");
      await addNetns(ns);
      created.push(ns);
      const sock = path.join(root, "mfcd.sock");
      const child = spawn("ip", ["netns", "exec", ns, process.execPath, ...entry.slice(1), "--listen", `unix:${sock}`, "--state-file", "none"], {
        cwd: path.join(root, path.relative("/app", workdir)),
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
      try {
        await waitFor(() => fs.existsSync(sock), { message: () => stderr });
        // mfcctl as the image links it (/usr/local/bin/mfcctl → dist/cli/main.js).
        const link = /ln -s \/app\/(\S+) \/usr\/local\/bin\/mfcctl/.exec(runtime)?.[1] ?? "";
        const mfcctl = (...args: string[]) =>
          new Promise<string>((resolve, reject) =>
            execFile(process.execPath, [path.join(root, link), "--addr", `unix:${sock}`, ...args], (err, out, errOut) =>
              err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
            ),
          );
        await waitFor(async () => (await mfcctl("health").catch(() => "")).includes("SERVING"), { message: () => stderr });
        expect(await mfcctl("ls")).toContain("no routes");
        // Reflection reads the descriptor set the image copies (src/gen/mfc.binpb).
        const services = await new Promise<string>((resolve, reject) =>
          execFile("npx", ["--no-install", "buf", "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--unix-socket", sock,
            "--list-services", "http://localhost"], { cwd: REPO_ROOT, timeout: bound(30_000) }, (err, out) => (err ? reject(err) : resolve(out))),
        );
        expect(services).toContain("mfc.v1.MfcService");
        child.kill("SIGTERM");
        expect(await exited).toBe(0);
      } finally {
        child.kill("SIGKILL");
        await exited;
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

function checkMfcdContainer(c: Obj): ReturnType<typeof mfcdOptions> {
  const sc = obj(c.securityContext);
  expect(sc.privileged).not.toBe(true);
  expect(sc.runAsNonRoot).toBe(true);
  expect(Number(sc.runAsUser)).toBeGreaterThan(0);
  const caps = obj(sc.capabilities);
  expect(arr(caps.drop)).toEqual(["ALL"]);
  expect([...arr(caps.add)].sort()).toEqual(["NET_ADMIN", "NET_RAW"]);
  const o = mfcdOptions(arr(c.args).map(String));
  const health = o.healthListen.map(tcpPort);
  for (const probe of ["readinessProbe", "livenessProbe"]) {
    const port = obj(obj(c[probe]).grpc).port;
    expect(port, `${probe} is a gRPC probe on a --health-listen port`).toBeDefined();
    expect(health).toContain(port);
  }
  // Probes reach the pod's address, not loopback.
  for (const a of o.healthListen) expect(a).toMatchObject({ kind: "tcp", host: "0.0.0.0" });
  const ports = arr(c.ports).map((p) => obj(p).containerPort);
  expect(ports).toContain(health[0]);
  if (o.metricsListen) expect(ports).toContain(tcpPort(o.metricsListen));
  return o;
}

describe("Kubernetes", () => {
  it("sidecar: shares the pod's network, the socket through an emptyDir, no privileged", () => {
    const docs = parseAllDocuments(read("kubernetes/sidecar.yaml")).map((d) => obj(d.toJS()));
    const pod = docs.find((d) => d.kind === "Pod");
    const spec = obj(pod?.spec);
    expect(spec.hostNetwork).not.toBe(true);
    const containers = arr(spec.containers).map(obj);
    const mfcd = containers.find((c) => c.name === "mfcd");
    const app = containers.find((c) => c.name !== "mfcd");
    expect(mfcd && app).toBeTruthy();
    const o = checkMfcdContainer(mfcd ?? {});
    const sock = o.listen.find((a) => a.kind === "unix");
    expect(sock).toBeDefined();
    const dir = sock?.kind === "unix" ? path.dirname(sock.path) : "";
    const volume = arr(spec.volumes).map(obj).find((v) => v.emptyDir !== undefined);
    const mountOf = (c: Obj | undefined) => arr(c?.volumeMounts).map(obj).find((m) => m.name === volume?.name);
    expect(mountOf(mfcd)?.mountPath).toBe(dir);
    expect(mountOf(app)?.mountPath).toBe(dir);
    // The app may open the 0660 socket: it is in the socket's group.
    expect(arr(obj(spec.securityContext).supplementalGroups)).toContain(obj(mfcd?.securityContext).runAsGroup);
    // A container restart keeps forwarding: the routes on a volume that lives as long as the
    // pod, and SIGTERM leaving them in the kernel for the next mfcd.
    expect(o.keepForwarding).toBe(true);
    const stateMount = arr(mfcd?.volumeMounts).map(obj).find((m) => o.stateFile?.startsWith(`${String(m.mountPath)}/`));
    expect(arr(spec.volumes).map(obj).find((v) => v.name === stateMount?.name)?.emptyDir, "state file on an emptyDir").toBeDefined();
  });

  it("DaemonSet: host network, state and socket on the node, same invariants", () => {
    const ds = parseAllDocuments(read("kubernetes/daemonset.yaml")).map((d) => obj(d.toJS())).find((d) => d.kind === "DaemonSet");
    const spec = obj(obj(obj(ds?.spec).template).spec);
    expect(spec.hostNetwork).toBe(true);
    for (const c of [...arr(spec.containers), ...arr(spec.initContainers)].map(obj)) {
      expect(obj(c.securityContext).privileged).not.toBe(true);
    }
    const mfcd = arr(spec.containers).map(obj).find((c) => c.name === "mfcd") ?? {};
    const o = checkMfcdContainer(mfcd);
    const mounts = arr(mfcd.volumeMounts).map(obj).map((m) => String(m.mountPath));
    expect(o.stateFile).toBeDefined();
    expect(mounts).toContain(path.dirname(o.stateFile ?? ""));
    const hostPaths = arr(spec.volumes).map(obj).map((v) => obj(v.hostPath).path);
    expect(hostPaths).toContain(path.dirname(o.stateFile ?? ""));
  });
});

describe("containerlab", () => {
  it("a source, a router running mfcd with valid flags, two receivers, linked through the router", () => {
    const lab = obj(parseYaml(read("containerlab/mfcd.clab.yml")));
    const topo = obj(lab.topology);
    const nodes = obj(topo.nodes);
    expect(Object.keys(nodes).sort()).toEqual(["rcv1", "rcv2", "router", "src"]);
    const router = obj(nodes.router);
    expect(String(router.image)).toMatch(/^mfcd/);
    expect([...arr(router["cap-add"])].sort()).toEqual(["NET_ADMIN", "NET_RAW"]);
    mfcdOptions(String(router.cmd).split(/\s+/));
    const links = arr(topo.links).map((l) => arr(obj(l).endpoints).map(String));
    for (const peer of ["src", "rcv1", "rcv2"]) {
      expect(links.some((ends) => ends.some((e) => e.startsWith("router:")) && ends.some((e) => e.startsWith(`${peer}:`)))).toBe(true);
    }
    // The mfcctl command in the instructions names router interfaces that the links create.
    const add = /mfcctl add \S+ \S+ from (\S+) to ([^\n]+)/.exec(read("containerlab/mfcd.clab.yml"));
    const routerIfaces = links.flat().filter((e) => e.startsWith("router:")).map((e) => e.slice("router:".length));
    for (const iface of [add?.[1], ...(add?.[2]?.trim().split(/\s+/) ?? [])]) expect(routerIfaces).toContain(iface);
  });
});

/** [Service] keys of a unit file (repeated keys collected in order). */
function unitService(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1] ?? "";
      continue;
    }
    if (section !== "Service") continue;
    const i = line.indexOf("=");
    const key = line.slice(0, i);
    out.set(key, [...(out.get(key) ?? []), line.slice(i + 1)]);
  }
  return out;
}

describe("systemd mfcd@.service", () => {
  const service = unitService(read("systemd/mfcd@.service"));
  const one = (k: string) => service.get(k)?.at(-1);
  const execStart = (one("ExecStart") ?? "").split(/\s+/);

  it("one mfcd per named namespace, non-root with exactly NET_RAW + NET_ADMIN, hardened, reloads with SIGHUP", () => {
    expect(one("NetworkNamespacePath")).toBe("/run/netns/%i");
    expect(one("User")).toBeDefined();
    expect(one("User")).not.toMatch(/^(root|0)$/);
    const caps = (k: string) => (one(k) ?? "").split(/\s+/).sort();
    expect(caps("AmbientCapabilities")).toEqual(["CAP_NET_ADMIN", "CAP_NET_RAW"]);
    expect(caps("CapabilityBoundingSet")).toEqual(["CAP_NET_ADMIN", "CAP_NET_RAW"]);
    expect(one("NoNewPrivileges")).toBe("yes");
    expect(one("ProtectSystem")).toBe("strict");
    expect(one("RuntimeDirectory")).toBe("mfcd");
    expect(one("RuntimeDirectoryPreserve")).toBe("yes");
    expect(one("StateDirectory")).toBe("mfcd");
    expect(one("ExecReload")).toMatch(/kill -HUP \$MAINPID/);
    // Hitless restarts: mfcd notifies readiness and keeps its MRT_INIT sockets in the fd store.
    expect(one("Type")).toBe("notify");
    expect(Number(one("FileDescriptorStoreMax"))).toBeGreaterThan(0);
    expect(service.get("Environment")?.some((e) => /^FDSTORE=\d+$/.test(e))).toBe(true);
    expect(service.has("MemoryDenyWriteExecute")).toBe(false); // V8's JIT
    const o = mfcdOptions(execStart.slice(1).map((a) => a.replaceAll("%i", "blue")));
    expect(o.listen).toEqual([{ kind: "unix", path: "/run/mfcd/blue.sock" }]);
    expect(o.stateFile).toBe("/var/lib/mfcd/blue.state");
  });

  const created: string[] = [];
  afterAll(async () => {
    for (const ns of created) await delNetns(ns);
  });

  it("its ExecStart runs in the namespace as the unit would: serves, persists, reloads on SIGHUP, stops on SIGTERM", async () => {
    const ns = uniqueName("unit");
    await addNetns(ns);
    created.push(ns);
    await ip(["link", "add", "u0", "type", "veth", "peer", "name", "u1"], ns);
    await ip(["link", "add", "u2", "type", "veth", "peer", "name", "u3"], ns);
    for (const l of ["u0", "u1", "u2", "u3"]) await ip(["link", "set", l, "up"], ns);

    const argv = execStart.map((a) => a.replaceAll("%i", ns));
    expect(argv[0]).toBe("/usr/local/bin/mfcd");
    const capList = (one("AmbientCapabilities") ?? "").split(/\s+/).map((c) => `+${c.replace(/^CAP_/, "").toLowerCase()}`).join(",");
    const nobody = 65534;
    // RuntimeDirectory=/StateDirectory= as private tmpfs owned by the service user; then
    // NetworkNamespacePath= (ip netns exec), User= and AmbientCapabilities= (setpriv).
    const script = [
      "set -e",
      `mount -t tmpfs -o mode=0750,uid=${nobody},gid=${nobody} tmpfs /run/mfcd 2>/dev/null || { mkdir -p /run/mfcd && mount -t tmpfs -o mode=0750,uid=${nobody},gid=${nobody} tmpfs /run/mfcd; }`,
      `if [ -d /var/lib/mfcd ]; then mount -t tmpfs -o mode=0750,uid=${nobody},gid=${nobody} tmpfs /var/lib/mfcd; else mount -t tmpfs tmpfs /var/lib && install -d -o ${nobody} -g ${nobody} -m 0750 /var/lib/mfcd; fi`,
      `exec ip netns exec "$0" setpriv --reuid=${nobody} --regid=${nobody} --clear-groups --inh-caps=-all,${capList} --ambient-caps=-all,${capList} --bounding-set=-all,${capList} -- "$@"`,
    ].join("\n");
    const child = spawn(
      "unshare",
      ["--mount", "--propagation", "private", "sh", "-c", script, ns, process.execPath, readableMfcdMain(), ...argv.slice(1)],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    // The socket lives in the private /run/mfcd: reach it through the process's root.
    // unshare → sh execs ip → ip execs setpriv → setpriv execs node: one pid all along.
    const mfcdPid = (): number => {
      if (child.pid === undefined) throw new Error(`unshare did not start: ${stderr}`);
      return child.pid;
    };
    let client: ReturnType<typeof createMfcClient> | undefined;
    try {
      const sock = await waitFor(() => {
        const p = `/proc/${child.pid}/root/run/mfcd/${ns}.sock`;
        return fs.existsSync(p) ? p : undefined;
      }, { message: () => stderr });
      client = createMfcClient(`unix:${sock}`, { deadlineMs: bound(5000) });
      const c = client;
      await waitFor(async () => (await c.health().catch(() => "")) === "SERVING", { message: () => stderr });
      const added = await c.addRoute({ route: { source: "10.9.0.1", group: "239.9.0.1", iif: "u0", oifs: ["u2"] } });
      expect(added.route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
      const state = fs.readFileSync(`/proc/${child.pid}/root/var/lib/mfcd/${ns}.state`, "utf8");
      expect(state).toContain("239.9.0.1");
      expect(fs.readFileSync(`/proc/net/ip_mr_cache`, "utf8")).not.toContain("0109000A"); // not in the host table
      const status = fs.readFileSync(`/proc/${mfcdPid()}/status`, "utf8");
      expect(status).toMatch(new RegExp(`^Uid:\\s+${nobody}\\s`, "m"));
      expect(/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1]).toBe("0000000000003000");
      // ExecReload: SIGHUP with no --config is harmless.
      process.kill(mfcdPid(), "SIGHUP");
      await waitFor(() => stderr.includes("SIGHUP: no --config file to reload"), { message: () => stderr });
      expect(await c.health()).toBe("SERVING");
      client.close();
      client = undefined;
      process.kill(mfcdPid(), "SIGTERM");
      expect(await exited).toBe(0);
      expect(stderr).toContain('"msg":"stopped"');
    } finally {
      client?.close();
      child.kill("SIGKILL");
      await exited;
    }
  });
});

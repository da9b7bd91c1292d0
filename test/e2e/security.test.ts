// kernel-needs: ipv4
// End-to-end security (issue 6 §4), in throwaway namespaces:
// - mfcd as a non-root user holding only CAP_NET_RAW + CAP_NET_ADMIN (setpriv, ambient caps)
//   owns the table and forwards real multicast; without CAP_NET_RAW it refuses to start naming it;
// - Unix socket 0660 owned by --socket-group;
// - TLS and mutual TLS on a TCP listener: a client with a certificate from the right CA is
//   served, one without a certificate or with one from another CA is refused; plaintext clients
//   are refused; the --health-listen port answers health in plaintext and nothing else.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RouteState, Status } from "../../src/sdk/index.js";
import { createLab, type Lab } from "../helpers/lab.js";
import { execIn } from "../helpers/netns.js";
import { REPO_ROOT, spawnMfcd, startMfcd, tempSocketPath } from "../helpers/mfcd-process.js";
import { readableMfcdMain } from "../helpers/readable-runtime.js";
import { sendMulticast, startReceiver } from "../helpers/traffic.js";

if (process.getuid?.() !== 0) throw new Error("test/e2e needs root (network namespaces, MRT_INIT)");

const NOBODY = 65534;
const NO_STATE = ["--state-file", "none"];
const ONLY_MROUTE_CAPS = (caps: string) => [
  "setpriv",
  `--reuid=${NOBODY}`,
  `--regid=${NOBODY}`,
  "--clear-groups",
  `--inh-caps=-all,${caps}`,
  `--ambient-caps=-all,${caps}`,
  `--bounding-set=-all,${caps}`,
  "--",
];

let lab: Lab;
let certs: string;

const openssl = (args: string[]) => promisify(execFile)("openssl", args, { cwd: certs });

/** A CA, a server certificate for 127.0.0.1 signed by it, a client certificate signed by it, and
 *  a client certificate signed by a second, unrelated CA. */
async function makeCertificates(): Promise<void> {
  for (const ca of ["ca", "rogue-ca"]) {
    await openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${ca}.key`, "-out", `${ca}.pem`,
      "-days", "2", "-subj", `/CN=mfcd test ${ca}`]);
  }
  const leaf = async (name: string, ca: string, ext: string) => {
    fs.writeFileSync(path.join(certs, `${name}.ext`), ext);
    await openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
    await openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial",
      "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`]);
  };
  await leaf("server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await leaf("client", "ca", "extendedKeyUsage=clientAuth\n");
  await leaf("rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n");
}

beforeAll(async () => {
  lab = await createLab({ receivers: 1 });
  certs = fs.mkdtempSync(path.join(os.tmpdir(), "mfct-tls-"));
  await makeCertificates();
});
afterAll(async () => {
  await lab?.cleanup();
  if (certs) fs.rmSync(certs, { recursive: true, force: true });
});

/** One SDK call made from inside the router namespace (see test/helpers/ns-client.ts). */
async function nsCall(req: Record<string, string>): Promise<{ ok: boolean; value?: unknown; code?: number; message?: string }> {
  const abs = Object.fromEntries(
    Object.entries(req).map(([k, v]) => [k, ["ca", "cert", "key"].includes(k) ? path.join(certs, v) : v]),
  );
  const out = await execIn(lab.router, [
    process.execPath, "--import", "tsx", path.join(REPO_ROOT, "test/helpers/ns-client.ts"), JSON.stringify(abs),
  ]);
  return JSON.parse(out) as { ok: boolean; value?: unknown; code?: number; message?: string };
}

describe("least privilege", () => {
  it("a non-root mfcd with only CAP_NET_RAW and CAP_NET_ADMIN owns the table and forwards", async () => {
    const socketPath = tempSocketPath();
    fs.chownSync(path.dirname(socketPath), NOBODY, NOBODY);
    const mfcd = await startMfcd(lab.router, {
      socketPath,
      args: NO_STATE,
      wrapper: ONLY_MROUTE_CAPS("+net_raw,+net_admin"),
      main: readableMfcdMain(),
    });
    try {
      const status = fs.readFileSync(`/proc/${mfcd.proc.pid}/status`, "utf8");
      expect(status).toMatch(new RegExp(`^Uid:\\s+${NOBODY}\\s`, "m"));
      // Exactly bits 12 (NET_ADMIN) and 13 (NET_RAW).
      expect(/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1]).toBe("0000000000003000");
      const group = `239.${lab.k}.91.1`;
      const added = await mfcd.client.addRoute({ route: { source: lab.addrs.source, group, iif: "in0", oifs: ["out1"] } });
      expect(added.route?.state).toBe(RouteState.ROUTE_STATE_INSTALLED);
      const rcv = await startReceiver(lab.receivers[0]!, { group, port: 5000, ifaceAddr: lab.addrs.receivers[0]! });
      try {
        await sendMulticast(lab.source, { group, port: 5000, ttl: 8, ifaceAddr: lab.addrs.source, count: 10, firstSeq: 0, intervalMs: 1 });
        expect(await rcv.waitForCount(10)).toBe(10);
      } finally {
        await rcv.stop();
      }
    } finally {
      await mfcd.stop();
    }
  });

  it("without CAP_NET_RAW it exits 1 naming the missing capability", async () => {
    const socketPath = tempSocketPath();
    fs.chownSync(path.dirname(socketPath), NOBODY, NOBODY);
    const m = spawnMfcd(lab.router, { socketPath, args: NO_STATE, wrapper: ONLY_MROUTE_CAPS("+net_admin"), main: readableMfcdMain() });
    expect((await m.exitWithin()).code).toBe(1);
    expect(m.stderr()).toContain("missing CAP_NET_RAW");
    expect(m.stderr()).not.toContain("CAP_NET_ADMIN (");
  });
});

describe("Unix socket permissions", () => {
  it("is 0660 and owned by --socket-group", async () => {
    const socketPath = tempSocketPath();
    const mfcd = await startMfcd(lab.router, { socketPath, args: [...NO_STATE, "--socket-group", "4242"] });
    try {
      const st = fs.statSync(socketPath);
      expect(st.isSocket()).toBe(true);
      expect(st.mode & 0o777).toBe(0o660);
      expect(st.gid).toBe(4242);
    } finally {
      await mfcd.stop();
    }
  });

  it("an unknown --socket-group refuses the start, naming it", async () => {
    const m = spawnMfcd(lab.router, { args: [...NO_STATE, "--socket-group", "no-such-group-x"] });
    expect((await m.exitWithin()).code).toBe(1);
    expect(m.stderr()).toContain("--socket-group no-such-group-x: no such group");
  });
});

describe("TLS", () => {
  it("mutual TLS: the right client certificate is served, others and plaintext are refused; the health port is plaintext", async () => {
    const mfcd = await startMfcd(lab.router, {
      args: [
        ...NO_STATE,
        "--listen", "127.0.0.1:7443",
        "--health-listen", "127.0.0.1:7444",
        "--tls-cert", path.join(certs, "server.pem"),
        "--tls-key", path.join(certs, "server.key"),
        "--tls-client-ca", path.join(certs, "ca.pem"),
      ],
    });
    try {
      const tls = { address: "127.0.0.1:7443", ca: "ca.pem" };
      expect(await nsCall({ ...tls, call: "listRoutes", cert: "client.pem", key: "client.key" })).toEqual({ ok: true, value: 0 });
      const noCert = await nsCall({ ...tls, call: "listRoutes" });
      expect(noCert.ok).toBe(false);
      expect(noCert.code).toBe(Status.UNAVAILABLE);
      const rogue = await nsCall({ ...tls, call: "listRoutes", cert: "rogue.pem", key: "rogue.key" });
      expect(rogue.ok).toBe(false);
      expect(rogue.code).toBe(Status.UNAVAILABLE);
      const plaintext = await nsCall({ address: "127.0.0.1:7443", call: "listRoutes" });
      expect(plaintext.ok).toBe(false);
      // Health in plaintext for kubelet probes, and nothing else there.
      expect(await nsCall({ address: "127.0.0.1:7444", call: "health" })).toEqual({ ok: true, value: "SERVING" });
      const api = await nsCall({ address: "127.0.0.1:7444", call: "listRoutes" });
      expect(api).toMatchObject({ ok: false, code: Status.UNIMPLEMENTED });
      // mfcctl over mutual TLS; without a client certificate it fails with exit 1.
      const mfcctl = (extra: string[]) =>
        execIn(lab.router, [process.execPath, path.join(REPO_ROOT, "dist/cli/main.js"), "--addr", "127.0.0.1:7443",
          "--tls-ca", path.join(certs, "ca.pem"), ...extra, "health"]);
      expect(await mfcctl(["--tls-cert", path.join(certs, "client.pem"), "--tls-key", path.join(certs, "client.key")])).toContain("SERVING");
      const refused = await mfcctl([]).then(() => "", (err: Error) => err.message);
      expect(refused).toContain("exit 1");
      expect(refused).toContain("certificate required");
      expect(refused).toContain("the TLS handshake failed");
      expect(refused).not.toContain("DeprecationWarning");
      // The Unix socket next to it stays available to local tools.
      expect((await mfcd.client.listRoutes({})).routes).toEqual([]);
    } finally {
      await mfcd.stop();
    }
  });

  it("server-only TLS serves a client that verifies the server, without a client certificate", async () => {
    const mfcd = await startMfcd(lab.router, {
      args: [...NO_STATE, "--listen", "127.0.0.1:7445", "--tls-cert", path.join(certs, "server.pem"), "--tls-key", path.join(certs, "server.key")],
    });
    try {
      expect(await nsCall({ address: "127.0.0.1:7445", ca: "ca.pem", call: "health" })).toEqual({ ok: true, value: "SERVING" });
      // A client trusting another CA refuses the server.
      expect((await nsCall({ address: "127.0.0.1:7445", ca: "rogue-ca.pem", call: "health" })).ok).toBe(false);
    } finally {
      await mfcd.stop();
    }
  });

  it("an unreadable --tls-key refuses the start, naming the file", async () => {
    const m = spawnMfcd(lab.router, {
      args: [...NO_STATE, "--listen", "127.0.0.1:7446", "--tls-cert", path.join(certs, "server.pem"), "--tls-key", path.join(certs, "missing.key")],
    });
    expect((await m.exitWithin()).code).toBe(1);
    expect(m.stderr()).toContain(`--tls-key ${path.join(certs, "missing.key")}: ENOENT`);
  });
});

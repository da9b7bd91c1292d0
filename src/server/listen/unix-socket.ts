// Unix socket housekeeping: a socket file left by a dead process is replaced; one a live
// process still accepts on means another mfcd is serving there, and we must not steal it.

import fs from "node:fs";
import net from "node:net";
import path from "node:path";

function accepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    conn.once("connect", () => {
      conn.destroy();
      resolve(true);
    });
    conn.once("error", () => resolve(false));
  });
}

export async function prepareUnixSocket(socketPath: string): Promise<void> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
  if (await accepts(socketPath)) {
    throw new Error(`${socketPath} is in use by a live process (another mfcd?); stop it or choose another --listen`);
  }
  fs.unlinkSync(socketPath);
}

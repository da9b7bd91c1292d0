// Runs one parsed mfcctl command against mfcd through the SDK and prints the result, for people
// or (--json) for scripts. Errors propagate to main, which prints them.

import { isAbortError } from "abort-controller-x";
import {
  AddRouteResponse,
  ApplyRoutesResponse,
  DiagnoseResponse,
  GetInfoResponse,
  ListRoutesResponse,
  TraceResponse,
  WatchStatsResponse,
  type MfcClient,
  type Route,
} from "../sdk/index.js";
import { describeFlow, describeRoute } from "./describe-route.js";
import type { Command, Invocation } from "./parse-command.js";
import { readRouteFile } from "./read-route-file.js";
import { renderInfo } from "./render-info.js";
import { renderRouteList, stateName } from "./render-route-list.js";
import { toProtoJson } from "./to-proto-json.js";
import { renderWatchLines, WatchScreen, type Terminal } from "./watch-screen.js";
import { watchUpdates } from "./watch-updates.js";

export interface CliOutput extends Terminal {
  isTTY?: boolean;
  on?(event: "resize", listener: () => void): unknown;
  off?(event: "resize", listener: () => void): unknown;
}

export interface RunContext {
  client: MfcClient;
  /** The address in use, for messages. */
  addr: string;
  stdout: CliOutput;
  /** Aborted on Ctrl-C / SIGTERM: streams end and the command returns 0. */
  signal: AbortSignal;
}

type Handler<C extends Command["name"]> = (
  cmd: Extract<Command, { name: C }>,
  json: boolean,
  ctx: RunContext,
) => Promise<number>;

const jsonLine = (value: unknown): string => `${JSON.stringify(value)}\n`;

const add: Handler<"add"> = async (cmd, json, { client, stdout }) => {
  const res = await client.addRoute({
    route: cmd.route,
    replace: cmd.replace,
    owner: cmd.owner,
    requireInterfaces: cmd.requireInterfaces,
  });
  if (json) {
    stdout.write(jsonLine(toProtoJson(AddRouteResponse, "mfc.v1.AddRouteResponse", res)));
    return 0;
  }
  const status = res.route;
  const notes = status?.reason ?? "";
  stdout.write(
    `${cmd.replace ? "set" : "added"} ${describeRoute(status?.route ?? cmd.route)}: ` +
      `${status ? stateName(status.state) : "?"}${notes ? ` (${notes})` : ""}\n`,
  );
  return 0;
};

const del: Handler<"del"> = async (cmd, json, { client, stdout }) => {
  await client.delRoute({ source: cmd.source, group: cmd.group, iif: cmd.iif, table: cmd.table });
  stdout.write(json ? jsonLine({}) : `deleted ${describeFlow(cmd.source, cmd.group, cmd.table)}${cmd.iif ? ` from ${cmd.iif}` : ""}\n`);
  return 0;
};

const ls: Handler<"ls"> = async (_cmd, json, { client, stdout }) => {
  const res = await client.listRoutes({});
  stdout.write(
    json ? `${JSON.stringify(toProtoJson(ListRoutesResponse, "mfc.v1.ListRoutesResponse", res), null, 2)}\n` : renderRouteList(res),
  );
  return 0;
};

const watch: Handler<"watch"> = async (cmd, json, { client, addr, stdout, signal }) => {
  const stream = client.watchStats(
    { intervalMs: cmd.intervalMs, source: cmd.source, group: cmd.group },
    { signal },
  );
  const live = !json && stdout.isTTY === true;
  const screen = live ? new WatchScreen(stdout, { addr, intervalMs: cmd.intervalMs }) : undefined;
  const onResize = () => screen?.redraw();
  let seen = 0;
  try {
    screen?.enter();
    stdout.on?.("resize", onResize);
    for await (const update of watchUpdates(stream)) {
      if (screen) screen.draw(update);
      else if (json) {
        const merged = WatchStatsResponse.fromPartial({
          time: { seconds: BigInt(Math.floor(update.time.getTime() / 1000)), nanos: (update.time.getTime() % 1000) * 1e6 },
          routes: update.routes,
          vifs: update.vifs,
          part: 0,
          parts: 1,
        });
        stdout.write(jsonLine(toProtoJson(WatchStatsResponse, "mfc.v1.WatchStatsResponse", merged)));
      } else stdout.write(renderWatchLines(update).join("\n") + "\n");
      if (cmd.count !== undefined && ++seen >= cmd.count) break;
    }
  } catch (err) {
    if (!(isAbortError(err) && signal.aborted)) throw err;
  } finally {
    stdout.off?.("resize", onResize);
    screen?.leave();
  }
  return 0;
};

function diffLines(sign: string, routes: Route[]): string[] {
  return routes.map((r) => `  ${sign} ${describeRoute(r)}`);
}

const apply: Handler<"apply"> = async (cmd, json, { client, stdout }) => {
  const routes = readRouteFile(cmd.file);
  const res = await client.applyRoutes({
    routes,
    owner: cmd.owner,
    dryRun: cmd.dryRun,
    allowEmpty: cmd.allowEmpty,
    requireInterfaces: cmd.requireInterfaces,
    listUnchanged: cmd.listUnchanged,
  });
  if (json) {
    stdout.write(jsonLine(toProtoJson(ApplyRoutesResponse, "mfc.v1.ApplyRoutesResponse", res)));
    return 0;
  }
  const head = res.dryRun
    ? `dry run for owner ${cmd.owner}, nothing changed: would add ${res.added}, replace ${res.replaced}, remove ${res.removed}; ${res.unchanged} unchanged`
    : `applied ${routes.length} route(s) for owner ${cmd.owner}: added ${res.added}, replaced ${res.replaced}, removed ${res.removed}, ${res.unchanged} unchanged`;
  const lines = [
    head,
    ...diffLines("+", res.addedRoutes),
    ...diffLines("~", res.replacedRoutes),
    ...diffLines("-", res.removedRoutes),
    ...diffLines("=", res.unchangedRoutes),
  ];
  stdout.write(lines.join("\n") + "\n");
  return 0;
};

const diagnose: Handler<"diagnose"> = async (cmd, json, { client, stdout }) => {
  const res = await client.diagnose({
    source: cmd.source,
    group: cmd.group,
    iif: cmd.iif,
    table: cmd.table,
    windowMs: cmd.windowMs,
  });
  stdout.write(
    json ? `${JSON.stringify(toProtoJson(DiagnoseResponse, "mfc.v1.DiagnoseResponse", res), null, 2)}\n` : `${res.text.trimEnd()}\n`,
  );
  return 0;
};

const trace: Handler<"trace"> = async (cmd, json, { client, stdout, signal }) => {
  const stream = client.trace({ source: cmd.source, group: cmd.group, iif: cmd.iif, durationMs: cmd.durationMs }, { signal });
  try {
    for await (const ev of stream) {
      if (json) stdout.write(jsonLine(toProtoJson(TraceResponse, "mfc.v1.TraceResponse", ev)));
      else {
        const t = ev.time ? new Date(Number(ev.time.seconds) * 1000 + Math.floor(ev.time.nanos / 1e6)) : new Date();
        const line = ev.raw || `trace id ${ev.traceId} ${ev.table} ${ev.chain} (${ev.hook}) ${ev.rule} ${ev.verdict}`.trim();
        stdout.write(`${t.toISOString().slice(11, 23)} ${line.trimEnd()}\n`);
      }
    }
  } catch (err) {
    if (!(isAbortError(err) && signal.aborted)) throw err;
  }
  return 0;
};

const info: Handler<"info"> = async (_cmd, json, { client, stdout }) => {
  const res = await client.getInfo({});
  stdout.write(json ? `${JSON.stringify(toProtoJson(GetInfoResponse, "mfc.v1.GetInfoResponse", res), null, 2)}\n` : renderInfo(res));
  return 0;
};

const health: Handler<"health"> = async (_cmd, json, { client, stdout }) => {
  const status = await client.health();
  stdout.write(json ? jsonLine({ status }) : `${status}\n`);
  return status === "SERVING" ? 0 : 1;
};

const stop: Handler<"stop"> = async (cmd, json, { client, stdout }) => {
  await client.stop({ keepForwarding: cmd.keepForwarding });
  const what = cmd.keepForwarding ? "mfcd stopping; its routes stay in the kernel for the next mfcd" : "mfcd stopping";
  stdout.write(json ? jsonLine({ stopping: true, keepForwarding: cmd.keepForwarding }) : `${what}\n`);
  return 0;
};

const upgrade: Handler<"upgrade"> = async (_cmd, json, { client, stdout }) => {
  await client.stop({ upgrade: true });
  stdout.write(json ? jsonLine({ upgrading: true }) : "mfcd re-executing; forwarding goes on\n");
  return 0;
};

const HANDLERS: { [N in Exclude<Command["name"], "help">]: Handler<N> } = { add, del, ls, watch, apply, diagnose, trace, info, health, stop, upgrade };

/** Exit status of the command (0 = success); RPC failures throw MfcError. */
export async function runCommand(inv: Invocation, ctx: RunContext): Promise<number> {
  const cmd = inv.command;
  if (cmd.name === "help") throw new Error("help is handled by main");
  // The handler of cmd.name takes cmd; TypeScript cannot correlate the two through the union.
  const handler = HANDLERS[cmd.name] as Handler<typeof cmd.name>;
  return handler(cmd as never, inv.json, ctx);
}

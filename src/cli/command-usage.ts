// mfcctl's help texts: the overview and one page per command.

import type { CommandName } from "./parse-command.js";

const GLOBAL = `Global options (anywhere on the line):
  --addr ADDR   mfcd's address: unix:/path, /path or host:port (default: mfcd's own
                default, unix:/run/mfcd/mfcd.sock, or unix:/run/mfcd/NAME.sock inside
                "ip netns exec NAME")
  --json        machine-readable output (proto3 JSON with snake_case field names;
                errors as a JSON object on stderr)
  --tls-ca FILE TLS to a TCP --addr: trust mfcd's certificate if this CA signed it
  --tls-cert FILE --tls-key FILE
                present this client certificate (mfcd --tls-client-ca)
  -h, --help    this help, or a command's ("mfcctl add --help")`;

export const GENERAL_USAGE = `Usage: mfcctl [--addr ADDR] [--json] COMMAND [ARGS]

Talks to mfcd, the multicast routing daemon of this network namespace.

Commands:
  add SRC GROUP from IIF to OIF...   add (or with "replace", change) a route
  del SRC GROUP [from IIF]           delete a route
  ls                                 routes with state and counters, VIFs, foreign entries
  watch [SRC GROUP]                  live packet/bit rates per route
  apply FILE                         make an owner's routes exactly those of a route file
  diagnose SRC GROUP                 explain why a flow is (not) forwarded
  trace SRC GROUP                    follow a flow's packets through netfilter
  info                               mfcd's version, kernel capabilities, owned tables
  health                             is mfcd serving?
  stop [--keep-forwarding]           stop mfcd (keeping its routes in the kernel for the next)
  upgrade                            re-execute the installed mfcd in place: forwarding never stops
  help [COMMAND]                     help on a command

SRC may be "*" (or "-") for any source; SRC and GROUP may be prefixes (10.0.0.0/8).

${GLOBAL}

Exit status: 0 success, 1 error (the gRPC status and its details are printed), 2 usage error.
`;

const PAGES: Record<CommandName, string> = {
  add: `Usage: mfcctl add SRC GROUP from IIF to OIF... [table N] [replace] [owner NAME]
                  [rewrite-source ADDR] [set-ttl N] [ttl OIF=N]... [require-interfaces]

Adds the route: multicast from SRC to GROUP arriving on IIF leaves through every OIF.
  SRC                 sender address; "*", "-" or "" for any source; or a prefix (10.1.0.0/16)
  GROUP               multicast group, or a prefix (239.1.0.0/16)
  from IIF            input interface
  to OIF...           output interfaces (everything up to the next keyword)
  table N             kernel multicast routing table (default 0)
  replace             switch an existing route of the same (SRC, GROUP) in place
  owner NAME          owner of the route (default "api")
  rewrite-source ADDR rescue: rewrite the flow's source before routing (nft)
  set-ttl N           rescue: set the flow's TTL on IIF before routing (nft)
  ttl OIF=N           TTL threshold of one OIF (IPv4, default 1); repeatable
  require-interfaces  fail instead of waiting (PENDING) for a missing interface
Keywords may also be written as flags: --replace, --owner=NAME, --table 7.

Example: mfcctl add 10.0.0.1 239.1.1.1 from eth0 to eth1 eth2 ttl eth2=16`,
  del: `Usage: mfcctl del SRC GROUP [from IIF] [table N]

Deletes the route of (SRC, GROUP). For an any-source or prefix route, "from IIF" says which
input interface's route, since the same (*, GROUP) may exist on several.

Example: mfcctl del 10.0.0.1 239.1.1.1`,
  ls: `Usage: mfcctl ls [--json]

Lists every route with its state, owner, kernel counters and notes (why PENDING, learned from
which template, missing or down interfaces, drift repairs), then the VIF table and kernel
entries mfcd did not create (foreign entries).`,
  watch: `Usage: mfcctl watch [SRC GROUP] [--interval MS] [--count N] [--json]

A live view of packets/s, bits/s and wrong-interface packets per route, refreshed every
--interval milliseconds (default 1000). On a terminal the screen is redrawn in place (Ctrl-C
quits); otherwise one line per route and update is printed, and with --json one JSON object
per update (NDJSON). SRC and GROUP filter ("*" = any source). --count N stops after N updates.`,
  apply: `Usage: mfcctl apply FILE [--dry-run] [--owner NAME] [--allow-empty]
                    [--require-interfaces] [--list-unchanged]

Makes the routes of one owner exactly the routes in FILE (the YAML/JSON format of
mfcd --config, docs/config.md; "-" reads standard input): adds, replaces and removes only the
difference, and prints it. Routes of other owners are never touched.
  --owner NAME          whose routes the file describes (default "mfcctl"; "config" belongs
                        to mfcd's --config file, "api" to routes added with mfcctl add)
  --dry-run             only show what would change
  --allow-empty         allow an empty file to remove all of the owner's routes
  --require-interfaces  fail instead of waiting (PENDING) for a missing interface
  --list-unchanged      list unchanged routes too`,
  diagnose: `Usage: mfcctl diagnose SRC GROUP [from IIF] [table N] [--window MS]

Watches the flow for --window milliseconds (default 2000, 100..30000) and explains from kernel
evidence why it is or is not forwarded: findings with a code (FORWARDING_OK, NO_ROUTE,
RP_FILTER_DROP, TTL_TOO_LOW, WRONG_IIF, ...), the numbers, the evidence and the fix.`,
  trace: `Usage: mfcctl trace SRC GROUP [from IIF] [--duration MS]

Prints the nft trace events (hook, chain, rule, verdict) of the flow's packets on its input
interface for --duration milliseconds (default 5000, at most 60000). Ctrl-C stops early.`,
  info: `Usage: mfcctl info [--json]

Prints what mfcd reports about itself (GetInfo): its version, the kernel release, when it
started, its state file, the kernel multicast routing tables it owns, and which kernel features
it can use here: one row per capability with whether this kernel offers it (AVAILABLE yes/no),
the kernel option it needs (NEEDS, e.g. CONFIG_IP_MROUTE) and how that was found out (DETAIL).`,
  health: `Usage: mfcctl health

Prints mfcd's grpc.health.v1 status; exits 0 only when it is SERVING.`,
  stop: `Usage: mfcctl stop [--keep-forwarding]

Stops mfcd as SIGTERM does: it answers, stops serving and exits, removing its VIFs and routes
from the kernel. With --keep-forwarding (as SIGUSR2) they stay, counters included, and the next
mfcd adopts them: use it for a planned restart. Nothing is forwarded until that mfcd runs.`,
  upgrade: `Usage: mfcctl upgrade

Makes mfcd re-execute the mfcd now installed at its path, in the same process (same pid, same
command line), handing its kernel multicast routing tables to the new program: the kernel never
sees their owner go, so no packet is lost. The new mfcd adopts its routes with their counters and
serves on the same addresses; the API is unavailable while it starts.`,
  help: `Usage: mfcctl help [COMMAND]`,
};

export function commandUsage(name: CommandName | undefined): string {
  if (name === undefined || name === "help") return GENERAL_USAGE;
  return `${PAGES[name]}\n\n${GLOBAL}\n`;
}

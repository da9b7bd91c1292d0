// --socket-group: the group that may use mfcd's Unix sockets (mode 0660). Node has no getgrnam,
// so names are looked up in /etc/group (NSS-only groups can be given as a numeric gid).

import fs from "node:fs";

export function resolveGroupId(group: string, etcGroup: () => string = () => fs.readFileSync("/etc/group", "utf8")): number {
  if (/^[0-9]+$/.test(group)) return Number(group);
  for (const line of etcGroup().split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined && /^[0-9]+$/.test(gid)) return Number(gid);
  }
  throw new Error(`--socket-group ${group}: no such group in /etc/group (give a numeric gid for groups from NSS)`);
}

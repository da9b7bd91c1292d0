// Why is (S,G) (not) forwarded? A pure function from kernel evidence gathered over a window to
// findings. Every finding is backed by numbers the kernel gave (counters, sysctls, upcalls, a
// route lookup, nft counters); a fault without evidence is not reported.

import { isIpv4LinkLocalMulticast, parseIpv4 } from "../address/index.js";

export type Severity = "info" | "warning" | "error";

export interface Finding {
  code: string;
  severity: Severity;
  explanation: string;
  evidence: [name: string, value: string][];
  fix: string;
}

export interface LinkEvidence {
  name: string;
  exists: boolean;
  up: boolean;
  running: boolean;
  multicast: boolean;
}

export interface FlowEvidence {
  /** Another process holds MRT_INIT on the flow's table (mfcd could not take it): who, if known. */
  tableOwnedByOther?: { table: number; detail: string };
  source: string;
  group: string;
  /** The interface the flow is expected on (request, else the route's iif). */
  iif: string | undefined;
  windowMs: number;
  /**
   * The route that serves the flow: an explicit (S,G) route, else the entry learned from a
   * template, else a template that would learn it (`template` names the template then).
   */
  route:
    | {
        state: "installed" | "pending" | "drifted";
        reason: string;
        iif: string;
        oifs: string[];
        missing: string[];
        template?: string;
      }
    | undefined;
  /** No route or template matches, and mfcd's stop filter (an entry without oifs) counts the flow on this iif. */
  stopFilter?: { iif: string };
  links: LinkEvidence[];
  /** rp_filter of the iif: conf.all, conf.<iif>, effective = max. */
  rpFilter: { all: number; iface: number; effective: number } | undefined;
  /** The kernel's route lookup back to the source, judged for the iif (strict and loose). */
  reversePath: { strictOk: boolean; looseOk: boolean; detail: string } | undefined;
  /** Delta of TcpExtIPReversePathFilter over the window (whole namespace). */
  rpFilterDrops: number;
  /** MFC entry of (S,G): present, and counter deltas over the window. */
  mfc: { present: boolean; packets: number; wrongIf: number };
  /** VIF out-packet deltas of the route's oifs over the window. */
  oifOut: { name: string; packets: number }[];
  /** Upcalls for (S,G) during the window, by the interface (VIF name) they came in on. */
  upcalls: { nocache: { iif: string; count: number }[]; wrongvif: { iif: string; count: number }[] };
  /** nft counters on the iif for this flow: packets with TTL ≤ 1 and > 1; undefined without nft. */
  ttl: { le1: number; gt1: number } | undefined;
  /** Why the TTL probe did not run, if it did not. */
  ttlUnavailable?: string;
  /** A kernel entry for (S,G) that mfcd did not create. */
  foreignEntry: boolean;
  /** VIF slots in use / limit in the flow's table. */
  vifs: { used: number; limit: number };
}

const sum = (xs: { count: number }[]) => xs.reduce((a, x) => a + x.count, 0);
const where = (xs: { iif: string; count: number }[]) => xs.map((x) => `${x.iif} (${x.count})`).join(", ");

/** What every check reads: the evidence and a few figures derived from it once. */
interface Context {
  e: FlowEvidence;
  flow: string;
  secs: string;
  nocache: number;
  wrongvif: number;
  /** Packets out of the route's oifs over the window. */
  forwarded: number;
  /** Findings so far (NO_TRAFFIC is only a lead when nothing else is wrong). */
  findings: readonly Finding[];
}

export function diagnoseFlow(e: FlowEvidence): Finding[] {
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);
  const c: Context = {
    e,
    flow: `(${e.source}, ${e.group})`,
    secs: `${(e.windowMs / 1000).toFixed(1)} s`,
    nocache: sum(e.upcalls.nocache),
    wrongvif: sum(e.upcalls.wrongvif),
    forwarded: e.oifOut.reduce((a, o) => a + o.packets, 0),
    findings,
  };
  // A link-local group or a table another router owns: nothing else applies.
  for (const stop of [linkLocalGroup, tableOwnedByOther]) {
    stop(c, add);
    if (findings.length > 0) return findings;
  }
  for (const check of CHECKS) check(c, add);
  return findings;
}

/** 224.0.0.0/24 is never routed. */
function linkLocalGroup(c: Context, add: (f: Finding) => void): void {
  const { e } = c;
  const g = parseIpv4(e.group);
  if (g !== undefined && isIpv4LinkLocalMulticast(g)) {
    add({
      code: "LINK_LOCAL_GROUP",
      severity: "error",
      explanation: `${e.group} is in 224.0.0.0/24, the link-local control block: the kernel never routes it, whatever the MFC says.`,
      evidence: [["group", e.group]],
      fix: "Use a group outside 224.0.0.0/24 (e.g. 239.x.y.z for private use).",
    });
    // Nothing else applies: no route can exist for it (AddRoute refuses the group) and the
    // kernel never routes it, so NO_ROUTE, TTL or rp_filter findings would be false leads.
  }
}

/** Another process holds MRT_INIT on the flow's table. */
function tableOwnedByOther(c: Context, add: (f: Finding) => void): void {
  const { e } = c;
  if (e.tableOwnedByOther) {
    add({
      code: "TABLE_OWNED_BY_OTHER",
      severity: "error",
      explanation:
        `another multicast router owns table ${e.tableOwnedByOther.table} in this network namespace ` +
        `(MRT_INIT answered EADDRINUSE): mfcd cannot program it, that process decides what is forwarded.`,
      evidence: [["MRT_INIT on table " + String(e.tableOwnedByOther.table), e.tableOwnedByOther.detail]],
      fix: "Stop the other router (usual suspects: smcroute, pimd, igmpproxy, mrouted, another mfcd) or use another table.",
    });
  }
}

/** No route, or a route that is not in the kernel as asked. */
function routeState(c: Context, add: (f: Finding) => void): void {
  const { e, flow, secs, nocache } = c;
  if (!e.route) {
    // Where it arrives: mfcd's stop filter counts the flow (the kernel stopped asking once it
    // existed), else the kernel's NOCACHE upcalls name the VIF.
    const arrives = e.stopFilter
      ? `${e.stopFilter.iif} (mfcd's stop filter, an entry without oifs, counted ${e.mfc.packets} packets in ${secs})`
      : nocache > 0
        ? `${where(e.upcalls.nocache)} (${nocache} NOCACHE upcalls; the kernel sends one per unresolved flow every ~10 s)`
        : undefined;
    add({
      code: "NO_ROUTE",
      severity: "error",
      explanation: arrives
        ? `traffic for ${flow} arrives on ${arrives}, but no route or template matches it.`
        : `no route or template matches ${flow}.`,
      evidence: [
        ["route", "none"],
        ["upcalls NOCACHE", String(nocache)],
        ...(e.stopFilter ? [["stop filter (no oifs) on", e.stopFilter.iif] as [string, string]] : []),
      ],
      fix:
        `Add one: AddRoute{source: ${e.source}, group: ${e.group}, ` +
        `iif: ${e.stopFilter?.iif ?? e.upcalls.nocache[0]?.iif ?? e.iif ?? "IIF"}, oifs: [...]}.`,
    });
  } else if (e.route.state === "pending") {
    add({
      code: "ROUTE_PENDING",
      severity: "error",
      explanation: `the route for ${flow} is not in the kernel: ${e.route.reason}.`,
      evidence: [
        ["route state", "PENDING"],
        ["missing interfaces", e.route.missing.join(",") || "none"],
      ],
      fix: e.route.reason.includes("VIF table full")
        ? "Free VIFs (delete routes on unused interfaces) or use another table."
        : "Create the missing interface (or fix the name): the route installs itself when it appears.",
    });
  } else if (e.route.state === "drifted") {
    add({
      code: "ROUTE_DRIFTED",
      severity: "error",
      explanation: `the kernel entry for ${flow} differs from the route and could not be repaired: ${e.route.reason}.`,
      evidence: [["route state", "DRIFTED"]],
      fix: "Look for another process changing the multicast routing table (it needs CAP_NET_ADMIN).",
    });
  }
}

/** A pending route because the table has no free VIF. */
function vifTableFull(c: Context, add: (f: Finding) => void): void {
  const { e } = c;
  if (e.vifs.used >= e.vifs.limit && e.route?.state === "pending") {
    add({
      code: "VIF_TABLE_FULL",
      severity: "error",
      explanation: `all ${e.vifs.limit} VIFs of the table are in use (${e.vifs.used}).`,
      evidence: [["vifs used", `${e.vifs.used}/${e.vifs.limit}`]],
      fix: "Delete routes using interfaces you no longer need, or put some routes in another table.",
    });
  }
}

/** iif and oifs: down, without carrier, without MULTICAST. */
function linkStates(c: Context, add: (f: Finding) => void): void {
  const { e } = c;
  for (const link of e.links) {
    const role = link.name === e.iif ? "iif" : "oif";
    const ev: [string, string][] = [[`link ${link.name}`, linkText(link)]];
    if (!link.exists) continue; // reported through the route's pending/missing state
    if (!link.up) {
      add({
        code: role === "iif" ? "IIF_DOWN" : "OIF_DOWN",
        severity: "error",
        explanation: `${role} ${link.name} is administratively down.`,
        evidence: ev,
        fix: `ip link set ${link.name} up`,
      });
    } else if (!link.running) {
      add({
        code: role === "iif" ? "IIF_NO_CARRIER" : "OIF_NO_CARRIER",
        severity: "error",
        explanation: `${role} ${link.name} is up but has no carrier (cable, peer or veth partner down).`,
        evidence: ev,
        fix: `Bring the other end of ${link.name} up / check the cable.`,
      });
    }
    if (!link.multicast) {
      add({
        code: role === "iif" ? "IIF_NO_MULTICAST" : "OIF_NO_MULTICAST",
        severity: "warning",
        explanation: `${role} ${link.name} lacks the MULTICAST flag.`,
        evidence: ev,
        fix: `ip link set ${link.name} multicast on`,
      });
    }
  }
}

/** rp_filter drops the flow before the MFC sees it. */
function rpFilterDrop(c: Context, add: (f: Finding) => void): void {
  const { e, flow, secs, nocache } = c;
  if (e.rpFilter && e.rpFilter.effective > 0 && e.reversePath) {
    const strict = e.rpFilter.effective === 1;
    const fails = strict ? !e.reversePath.strictOk : !e.reversePath.looseOk;
    if (fails && (e.rpFilterDrops > 0 || (e.mfc.packets === 0 && nocache === 0))) {
      const dropped = e.rpFilterDrops > 0;
      add({
        code: "RP_FILTER_DROP",
        severity: dropped ? "error" : "warning",
        explanation: dropped
          ? `${e.rpFilterDrops} packets dropped by rp_filter=${e.rpFilter.effective} on ${e.iif ?? "the iif"} in ${secs}: ` +
            `no route back to ${e.source} via ${e.iif ?? "the iif"} (${e.reversePath.detail}); the MFC never sees them.`
          : `rp_filter=${e.rpFilter.effective} on ${e.iif ?? "the iif"} would drop ${flow}: no route back to ${e.source} ` +
            `via it (${e.reversePath.detail}); no packet reached the MFC in ${secs}.`,
        evidence: [
          [`sysctl net.ipv4.conf.all.rp_filter`, String(e.rpFilter.all)],
          [`sysctl net.ipv4.conf.${e.iif ?? "IIF"}.rp_filter`, String(e.rpFilter.iface)],
          ["route lookup back to source", e.reversePath.detail],
          ["TcpExtIPReversePathFilter delta", String(e.rpFilterDrops)],
          ["mfc packets delta", String(e.mfc.packets)],
        ],
        fix:
          `Add a route back to ${e.source} via ${e.iif ?? "the iif"}, or set rp_filter to 0 (or 2 with any route) on ` +
          `it and on "all", or rewrite the source with the route's rewrite_source rescue.`,
      });
    }
  }
}

/** The sender's TTL is too low to be forwarded. */
function ttlTooLow(c: Context, add: (f: Finding) => void): void {
  const { e, flow, secs, forwarded } = c;
  // The nft probe counts at prerouting, before rp_filter and the MFC: TTL-1 packets are seen
  // even when something earlier drops them too (the unroutable camera has both faults).
  if (e.ttl && e.ttl.le1 > 0 && forwarded === 0) {
    add({
      code: "TTL_TOO_LOW",
      severity: "error",
      explanation:
        `${e.ttl.le1} packets of ${flow} arrived on ${e.iif ?? "the iif"} in ${secs} with TTL ≤ 1 ` +
        `(${e.ttl.gt1} with TTL > 1) and none left an oif (${e.mfc.packets} matched the route): the kernel forwards only TTL ≥ 2.`,
      evidence: [
        ["nft counter ttl<=1", String(e.ttl.le1)],
        ["nft counter ttl>1", String(e.ttl.gt1)],
        ["mfc packets delta", String(e.mfc.packets)],
        ...e.oifOut.map((o): [string, string] => [`vif ${o.name} out delta`, String(o.packets)]),
      ],
      fix: "Make the sender use a multicast TTL ≥ 2 (IP_MULTICAST_TTL), or set the route's set_ttl rescue.",
    });
  } else if (!e.ttl && e.route?.state === "installed" && e.mfc.packets > 0 && forwarded === 0) {
    add({
      code: "NOT_FORWARDED",
      severity: "error",
      explanation:
        `${e.mfc.packets} packets matched the route in ${secs} but none left its oifs; the usual cause is a sender TTL of 1 ` +
        `(could not be observed: ${e.ttlUnavailable ?? "no TTL probe"}).`,
      evidence: [["mfc packets delta", String(e.mfc.packets)]],
      fix: "Check the sender's multicast TTL (≥ 2 needed); install nftables so mfcd can observe it.",
    });
  }
}

/** The flow arrives on another interface than the route's iif. */
function wrongIif(c: Context, add: (f: Finding) => void): void {
  const { e, flow, secs, wrongvif } = c;
  if (e.mfc.wrongIf > 0 || wrongvif > 0) {
    const arrives = where(e.upcalls.wrongvif) || "another interface";
    add({
      code: "WRONG_IIF",
      severity: "error",
      explanation:
        `${flow} arrives on ${arrives}, but the route expects ${e.route?.iif ?? e.iif ?? "another iif"} ` +
        `(wrong_if +${e.mfc.wrongIf}, ${wrongvif} WRONGVIF upcalls in ${secs}).`,
      evidence: [
        ["mfc wrong_if delta", String(e.mfc.wrongIf)],
        ["upcalls WRONGVIF", String(wrongvif)],
      ],
      fix: "Change the route's iif to where the traffic really arrives (AddRoute with replace), or fix the upstream path.",
    });
  }
}

/** Another program's kernel entry for the flow. */
function foreignEntry(c: Context, add: (f: Finding) => void): void {
  const { e, flow } = c;
  if (e.foreignEntry) {
    add({
      code: "FOREIGN_ENTRY",
      severity: "warning",
      explanation: `the kernel holds an entry for ${flow} that mfcd did not create (another multicast router or tool).`,
      evidence: [["foreign entry", "yes"]],
      fix: "Find the other process (smcroute, pimd, igmpproxy, a script) and stop it, or delete the route there.",
    });
  }
}

/** Forwarding works: point downstream. */
function forwardingOk(c: Context, add: (f: Finding) => void): void {
  const { e, flow, secs } = c;
  // A VIF counts a packet as sent before the device drops it: an oif without carrier (or down)
  // "forwards" into the void, so only oifs that are up with carrier show forwarding works.
  const working = e.oifOut.filter((o) => o.packets > 0 && e.links.some((l) => l.name === o.name && l.up && l.running));
  if (e.route?.state === "installed" && working.length > 0) {
    add({
      code: "FORWARDING_OK",
      severity: "info",
      explanation:
        `forwarding works${e.route.template ? ` (learned from template ${e.route.template})` : ""}: ` +
        `${e.mfc.packets} packets of ${flow} in ${secs}, out on ` +
        `${working.map((o) => `${o.name} +${o.packets}`).join(", ")}.`,
      evidence: working.map((o): [string, string] => [`vif ${o.name} out delta`, String(o.packets)]),
      fix:
        "If receivers still see nothing, look downstream: does the receiver join the group (IGMP) on that " +
        "link, does an IGMP-snooping switch know a querier, do firewalls on the path or the receiver drop UDP?",
    });
  }
}

/** Nothing arrived at all. */
function noTraffic(c: Context, add: (f: Finding) => void): void {
  const { e, flow, secs, nocache, wrongvif } = c;
  if (
    e.route?.state === "installed" &&
    e.mfc.packets === 0 &&
    nocache === 0 &&
    wrongvif === 0 &&
    e.mfc.wrongIf === 0 &&
    e.rpFilterDrops === 0 &&
    !c.findings.some((f) => f.severity === "error")
  ) {
    add({
      code: "NO_TRAFFIC",
      severity: "warning",
      explanation:
        `no packet of ${flow} reached the multicast router in ${secs}` +
        `${e.route.template ? ` (template ${e.route.template} would route it)` : ""}.`,
      evidence: [
        ["mfc packets delta", "0"],
        ["upcalls", "0"],
        ["TcpExtIPReversePathFilter delta", "0"],
      ],
      fix: "Check that the sender is sending (source address, group, outgoing interface) and that the path to the router carries multicast.",
    });
  }
}

const CHECKS = [routeState, vifTableFull, linkStates, rpFilterDrop, ttlTooLow, wrongIif, foreignEntry, forwardingOk, noTraffic];

function linkText(l: LinkEvidence): string {
  if (!l.exists) return "does not exist";
  return [l.up ? "UP" : "DOWN", l.running ? "carrier" : "no carrier", l.multicast ? "MULTICAST" : "no MULTICAST"].join(", ");
}

/** The report as text: one line per finding plus its evidence and fix. */
export function renderFindings(flow: { source: string; group: string; iif?: string }, findings: Finding[]): string {
  const lines = [`Diagnosis of (${flow.source}, ${flow.group})${flow.iif ? ` on ${flow.iif}` : ""}:`];
  if (findings.length === 0) lines.push("  no finding");
  for (const f of findings) {
    lines.push(`  [${f.severity.toUpperCase()}] ${f.code}: ${f.explanation}`);
    for (const [name, value] of f.evidence) lines.push(`      ${name}: ${value}`);
    lines.push(`      fix: ${f.fix}`);
  }
  return lines.join("\n");
}

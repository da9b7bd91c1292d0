// What `--metrics-listen` serves: computed on each scrape from the engine's own view (kernel
// counters read at that moment), plus RPC and upcall statistics. Per-route series are bounded to
// the routes users configured (and templates' state); the (S,G) entries learned from templates
// and stop filters come and go with traffic and are only broken out when asked
// (`--metrics-learned`), otherwise summed per template.

import type { RouteView, VifView } from "../../engine/route-engine.js";
import { isTemplateKey } from "../../address/index.js";
import { PrometheusText } from "./prometheus-text.js";
import type { RpcStats } from "./rpc-stats.js";

export interface UpcallCount {
  family: string;
  type: string;
  count: number;
}

export interface MetricsInput {
  routes: readonly RouteView[];
  vifs: readonly VifView[];
  foreignEntries: number;
  upcalls: readonly UpcallCount[];
  /** Learned entries and stop filters the kernel refused to install. */
  learnFailures?: number;
  rpc: RpcStats;
  /** The kernel features mfcd probed at startup (GetInfo's kernel_capabilities). */
  kernelCapabilities?: readonly { name: string; available: boolean }[];
  /** One series per learned (S,G) and stop filter instead of sums per template. */
  includeLearned: boolean;
}

const ROUTE_COUNTERS = [
  ["mfcd_route_packets_total", "packets", "Packets the kernel counted on the route's MFC entry (includes wrong-iif arrivals)."],
  ["mfcd_route_bytes_total", "bytes", "Bytes the kernel counted on the route's MFC entry."],
  ["mfcd_route_wrong_if_total", "wrongIf", "Packets of the route's (S,G) that arrived on another interface than its iif."],
] as const;

const VIF_COUNTERS = [
  ["mfcd_vif_in_packets_total", "inPackets", "Packets received on the VIF for forwarding."],
  ["mfcd_vif_in_bytes_total", "inBytes", "Bytes received on the VIF for forwarding."],
  ["mfcd_vif_out_packets_total", "outPackets", "Packets forwarded out of the VIF."],
  ["mfcd_vif_out_bytes_total", "outBytes", "Bytes forwarded out of the VIF."],
] as const;

function kindOf(r: RouteView): string {
  if (r.stopFilter) return "stop_filter";
  if (r.learned) return "learned";
  return isTemplateKey(r.spec) ? "template" : "static";
}

export function renderMetrics(input: MetricsInput): string {
  const out = new PrometheusText();

  out.family("mfcd_routes", "gauge", "Routes by state and kind (static (S,G), template, learned, stop_filter).");
  const byStateKind = new Map<string, number>();
  for (const r of input.routes) {
    const key = `${r.state}\u0000${kindOf(r)}`;
    byStateKind.set(key, (byStateKind.get(key) ?? 0) + 1);
  }
  for (const state of ["installed", "pending", "drifted"]) {
    for (const kind of ["static", "template", "learned", "stop_filter"]) {
      out.sample("mfcd_routes", { state, kind }, byStateKind.get(`${state}\u0000${kind}`) ?? 0);
    }
  }

  out.family("mfcd_route_state", "gauge", "1 for the state each configured route is in (installed, pending, drifted).");
  for (const r of input.routes) {
    if (r.learned || r.stopFilter) continue;
    out.sample("mfcd_route_state", { ...routeLabels(r), owner: r.owner, state: r.state }, 1);
  }

  // Learned entries and stop filters are summed into their template unless asked for.
  const perTemplate = new Map<string, { labels: Record<string, string | number>; counters: Record<string, bigint> }>();
  const series: { labels: Record<string, string | number>; counters: Record<string, bigint> }[] = [];
  for (const r of input.routes) {
    const c = r.counters as unknown as Record<string, bigint>;
    if ((r.learned || r.stopFilter) && !input.includeLearned) {
      const template = r.stopFilter ? "(stop filters)" : (r.template ?? "");
      const key = `${r.spec.family}\u0000${r.spec.table}\u0000${template}`;
      let agg = perTemplate.get(key);
      if (!agg) {
        agg = {
          labels: { family: r.spec.family, table: r.spec.table, template },
          counters: { packets: 0n, bytes: 0n, wrongIf: 0n },
        };
        perTemplate.set(key, agg);
      }
      for (const [, field] of ROUTE_COUNTERS) agg.counters[field] = (agg.counters[field] as bigint) + (c[field] as bigint);
      continue;
    }
    if (kindOf(r) === "template") continue; // a template has no kernel entry of its own
    series.push({ labels: { ...routeLabels(r), kind: kindOf(r), ...(r.template ? { template: r.template } : {}) }, counters: c });
  }
  for (const [name, field, help] of ROUTE_COUNTERS) {
    out.family(name, "counter", help);
    for (const s of series) out.sample(name, s.labels, s.counters[field] as bigint);
  }
  for (const [name, field, help] of ROUTE_COUNTERS) {
    const learnedName = name.replace("mfcd_route_", "mfcd_learned_");
    out.family(learnedName, "counter", `${help} Summed over the entries learned from each template (and over all stop filters).`);
    for (const agg of perTemplate.values()) out.sample(learnedName, agg.labels, agg.counters[field] as bigint);
  }

  for (const [name, field, help] of VIF_COUNTERS) {
    out.family(name, "counter", help);
    for (const v of input.vifs) {
      out.sample(name, vifLabels(v), (v.counters as unknown as Record<string, bigint>)[field] as bigint);
    }
  }
  out.family("mfcd_vif_up", "gauge", "1 when the VIF's interface is administratively up and has carrier.");
  for (const v of input.vifs) out.sample("mfcd_vif_up", vifLabels(v), v.up && v.running ? 1 : 0);

  out.family("mfcd_foreign_entries", "gauge", "Kernel MFC entries in mfcd's tables that no route of mfcd explains.");
  out.sample("mfcd_foreign_entries", {}, input.foreignEntries);

  out.family("mfcd_upcalls_total", "counter", "Kernel upcalls read (nocache: no entry for the flow; wrongvif: arrived on another VIF).");
  for (const u of input.upcalls) out.sample("mfcd_upcalls_total", { family: u.family, type: u.type }, u.count);
  if (input.learnFailures !== undefined) {
    out.family("mfcd_learn_failures_total", "counter", "Entries learned from templates (and stop filters) the kernel refused to install.");
    out.sample("mfcd_learn_failures_total", {}, input.learnFailures);
  }

  input.rpc.writeTo(out);

  if (input.kernelCapabilities) {
    out.family("mfcd_kernel_capability", "gauge", "1 when the running kernel offers this feature mfcd can use (probed at startup), else 0.");
    for (const c of input.kernelCapabilities) out.sample("mfcd_kernel_capability", { name: c.name }, c.available ? 1 : 0);
  }

  out.family("process_resident_memory_bytes", "gauge", "Resident memory of the mfcd process.");
  out.sample("process_resident_memory_bytes", {}, process.memoryUsage.rss());
  const cpu = process.cpuUsage();
  out.family("process_cpu_seconds_total", "counter", "User and system CPU time of the mfcd process.");
  out.sample("process_cpu_seconds_total", {}, (cpu.user + cpu.system) / 1e6);
  return out.toString();
}

function routeLabels(r: RouteView): Record<string, string | number> {
  return { family: r.spec.family, table: r.spec.table, source: r.spec.source, group: r.spec.group, iif: r.spec.iif };
}

function vifLabels(v: VifView): Record<string, string | number> {
  return { family: v.family, table: v.table, vif: v.vif, interface: v.name };
}

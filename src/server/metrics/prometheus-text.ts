// Prometheus text exposition format 0.0.4, written by hand: a few dozen lines instead of a client
// library and its default process collectors (mfcd's memory budget is tight, and every metric
// here is computed on scrape from state mfcd already keeps).

export type Labels = Readonly<Record<string, string | number>>;

export type MetricType = "counter" | "gauge" | "histogram";

/** Builds one exposition; each family's HELP/TYPE is written once, before its first sample. */
export class PrometheusText {
  private readonly lines: string[] = [];
  private readonly declared = new Set<string>();

  family(name: string, type: MetricType, help: string): this {
    if (!this.declared.has(name)) {
      this.declared.add(name);
      this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
    }
    return this;
  }

  sample(name: string, labels: Labels, value: number | bigint): this {
    this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
    return this;
  }

  toString(): string {
    return this.lines.length === 0 ? "" : `${this.lines.join("\n")}\n`;
  }
}

function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabel(String(labels[k]))}"`).join(",")}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(value: number | bigint): string {
  if (typeof value === "bigint") return value.toString();
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

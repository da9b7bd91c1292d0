// Plain-text tables: a header row and aligned columns, numbers right-aligned.

export interface Column {
  header: string;
  align?: "left" | "right";
}

/** Lines of the table (no trailing newline); the last column is not padded. */
export function renderTable(columns: Column[], rows: string[][], indent = ""): string[] {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    indent +
    columns
      .map((c, i) => {
        const cell = cells[i] ?? "";
        if (i === columns.length - 1 && c.align !== "right") return cell;
        return c.align === "right" ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)];
}

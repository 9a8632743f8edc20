/**
 * Plain-text tables for terminals: what `a2a check` and the probe print. Pure.
 */

/** Pads every column but the last to its widest cell, two spaces apart; the first row is the header. */
export function alignColumns(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((cells) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd());
}

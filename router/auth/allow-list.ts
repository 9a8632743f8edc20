/**
 * Allow-lists of deployment ids: exact ids or `*` globs (`team-*`, `*-prod`, `*`).
 * Compiled once into a Set plus glob segments; matching uses no regular
 * expressions, so a pattern can neither inject regex syntax nor backtrack badly.
 */

/** Characters a pattern may hold: those of a deployment id, plus `*`. */
const PATTERN_SYNTAX = /^[A-Za-z0-9._*-]{1,128}$/;

export type AllowCheck = (deploymentId: string) => boolean;

/** Returns a problem description, or undefined when the pattern is acceptable. */
export function patternProblem(pattern: unknown): string | undefined {
  if (typeof pattern !== "string") return "expected a string";
  if (!PATTERN_SYNTAX.test(pattern)) {
    return "expected 1-128 characters of [A-Za-z0-9._-] with `*` as the only wildcard";
  }
  return undefined;
}

/** Throws on an invalid pattern (validate first with `patternProblem` to name where it came from). */
export function compileAllowList(patterns: readonly string[]): AllowCheck {
  const exact = new Set<string>();
  const globs: string[][] = [];
  for (const p of patterns) {
    const problem = patternProblem(p);
    if (problem) throw new Error(`invalid allow-list pattern: ${problem}`);
    if (p === "*" || /^\*+$/.test(p)) return () => true;
    if (p.includes("*")) globs.push(p.split("*"));
    else exact.add(p);
  }
  if (globs.length === 0) return (id) => exact.has(id);
  return (id) => exact.has(id) || globs.some((segments) => matchGlob(segments, id));
}

/**
 * Matches `text` against a glob split on `*` (so segments.length >= 2).
 * Greedy left-to-right search of each middle segment is correct for `*`-only
 * globs and runs in O(len(text) * len(pattern)) at worst.
 */
export function matchGlob(segments: readonly string[], text: string): boolean {
  const first = segments[0];
  const last = segments[segments.length - 1];
  if (text.length < first.length + last.length) return false;
  if (!text.startsWith(first) || !text.endsWith(last)) return false;
  let pos = first.length;
  const end = text.length - last.length;
  for (let i = 1; i < segments.length - 1; i++) {
    const seg = segments[i];
    if (seg === "") continue;
    const at = text.indexOf(seg, pos);
    if (at < 0 || at + seg.length > end) return false;
    pos = at + seg.length;
  }
  return true;
}

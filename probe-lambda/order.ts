/**
 * The order deployments are probed in. A run cut short by its time budget drops the end of the
 * list, so the order must change from run to run: the ids the previous run could not reach go
 * first, the rest follow in a fresh shuffle. Pure; the random source is injected.
 */

/** Fisher-Yates with an injected `random` in [0, 1). Returns a new array. */
export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * `ids` in this run's order: those of `previouslyNotProbed` that are still registered first (in
 * the order the previous run would have reached them), then the others shuffled. An id skipped
 * in one run is therefore probed in the next whenever the next run gets at least as far as the
 * number of ids skipped; without a previous run (a cold start) the shuffle alone spreads the cut.
 */
export function probeOrder(ids: readonly string[], previouslyNotProbed: readonly string[], random: () => number): string[] {
  const registered = new Set(ids);
  const first = [...new Set(previouslyNotProbed)].filter((id) => registered.has(id));
  const firstSet = new Set(first);
  return [...first, ...shuffle(ids.filter((id) => !firstSet.has(id)), random)];
}

/** A per-run offset in [0, n) for spreading deployments over tasks (different each run). */
export function rotation(n: number, random: () => number): number {
  return n <= 1 ? 0 : Math.floor(random() * n);
}

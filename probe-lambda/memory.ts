/**
 * What one run hands the next in the same process (a warm Lambda container, the local loop):
 * which ids the time budget skipped (they go first next time), and which failure-only series
 * were recently 1, so they get a few 0s after recovery and a per-contributor alarm sees the
 * contributor good again instead of only seeing its data stop. Pure; the caller keeps the value.
 *
 * Losing it (a cold start) costs little: the order falls back to a shuffle, and a series that
 * stops is "missing", which the contributor alarms treat as not breaching.
 */

export interface SeriesMemory {
  /** Series id (deployment id or task) -> runs in a row it was good since it last failed (0: failing now). */
  readonly recent: ReadonlyMap<string, number>;
}

export interface ProbeMemory {
  readonly notProbed: readonly string[];
  readonly deployments: SeriesMemory;
  readonly tasks: SeriesMemory;
}

export const EMPTY_MEMORY: ProbeMemory = { notProbed: [], deployments: { recent: new Map() }, tasks: { recent: new Map() } };

export interface SeriesPlan {
  /** Ids whose series is 1 this run. */
  readonly failing: string[];
  /** Ids whose series is 0 this run (recovered, or no longer listed, within the tail). */
  readonly recovered: string[];
  readonly next: SeriesMemory;
}

/**
 * This run's failure-only series. `failing` ids get 1. An id that failed within the last
 * `tailRuns` runs and is good now (probed healthy, or no longer listed at all) gets 0 until it has
 * been good `tailRuns` times; ids this run could not judge (`unjudged`, e.g. not probed in time)
 * keep their place. `withheld` failing ids are not emitted (a platform-wide incident, see run.ts)
 * unless their series was already 1, so a long-failing deployment stays in ALARM through it.
 */
export function planSeries(prev: SeriesMemory, failing: readonly string[], unjudged: readonly string[], tailRuns: number, withhold = false): SeriesPlan {
  const failingSet = new Set(failing);
  const unjudgedSet = new Set(unjudged);
  const next = new Map<string, number>();
  const out: string[] = [];
  const recovered: string[] = [];
  for (const id of [...failingSet].sort()) {
    if (withhold && prev.recent.get(id) !== 0) continue;
    out.push(id);
    next.set(id, 0);
  }
  for (const [id, good] of [...prev.recent].sort(([a], [b]) => a.localeCompare(b))) {
    if (failingSet.has(id)) continue;
    if (unjudgedSet.has(id)) {
      next.set(id, good);
      continue;
    }
    if (good < tailRuns) {
      recovered.push(id);
      if (good + 1 < tailRuns) next.set(id, good + 1);
    }
  }
  return { failing: out, recovered, next: { recent: next } };
}

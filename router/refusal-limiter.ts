/**
 * Which refusal log lines to write when refusals come in a flood: a few per source and code in
 * each window, a cap on all of them, and a count of what was left out. Pure: the clock is passed in.
 */

export interface RefusalLimits {
  /** Lines per (source, code) per window. */
  readonly perKey: number;
  /** Lines per window, all sources and codes together. */
  readonly total: number;
  readonly windowMs: number;
  /** (source, code) pairs tracked per window; lines of further pairs are left out. */
  readonly maxKeys: number;
}

/** 5 lines a minute per source and code, 100 a minute in all. */
export const REFUSAL_LOG_LIMITS: RefusalLimits = { perKey: 5, total: 100, windowMs: 60_000, maxKeys: 10_000 };

/** What a window left out. */
export interface SuppressedSummary {
  readonly suppressed: number;
  /** Lines left out per gRPC code. */
  readonly byCode: Readonly<Record<string, number>>;
  /** Distinct (source, code) pairs that had lines left out (at most maxKeys). */
  readonly keys: number;
  readonly windowSeconds: number;
}

export interface LimitDecision {
  readonly write: boolean;
  /** Set when this call ended a window in which lines were left out. */
  readonly summary?: SuppressedSummary;
}

const WRITE: LimitDecision = { write: true };
const SKIP: LimitDecision = { write: false };

export class RefusalLimiter {
  private windowStart = -Infinity;
  private readonly written = new Map<string, number>();
  private writtenTotal = 0;
  private suppressed = 0;
  private readonly suppressedByCode = new Map<number, number>();
  private readonly suppressedKeys = new Set<string>();

  constructor(private readonly limits: RefusalLimits = REFUSAL_LOG_LIMITS) {}

  /** A refusal from `source` with gRPC `code` happened at `now` (ms): write its line or not. */
  take(source: string, code: number, now: number): LimitDecision {
    const summary = this.roll(now);
    const key = `${code} ${source}`;
    const n = this.written.get(key);
    const tracked = n !== undefined || this.written.size < this.limits.maxKeys;
    if (tracked && (n ?? 0) < this.limits.perKey && this.writtenTotal < this.limits.total) {
      this.written.set(key, (n ?? 0) + 1);
      this.writtenTotal++;
      return summary === undefined ? WRITE : { write: true, summary };
    }
    this.suppressed++;
    this.suppressedByCode.set(code, (this.suppressedByCode.get(code) ?? 0) + 1);
    if (this.suppressedKeys.size < this.limits.maxKeys) this.suppressedKeys.add(key);
    return summary === undefined ? SKIP : { write: false, summary };
  }

  /** Lines are being left out in the current window: when it ends (ms), for a timer. */
  get pendingUntil(): number | undefined {
    return this.suppressed > 0 ? this.windowStart + this.limits.windowMs : undefined;
  }

  /** Ends the window if it is over at `now`; returns what it left out, if anything. */
  roll(now: number): SuppressedSummary | undefined {
    if (now - this.windowStart < this.limits.windowMs) return undefined;
    let summary: SuppressedSummary | undefined;
    if (this.suppressed > 0) {
      const byCode: Record<string, number> = {};
      for (const [code, count] of [...this.suppressedByCode].sort((a, b) => a[0] - b[0])) byCode[String(code)] = count;
      summary = { suppressed: this.suppressed, byCode, keys: this.suppressedKeys.size, windowSeconds: this.limits.windowMs / 1000 };
    }
    this.windowStart = now;
    this.written.clear();
    this.writtenTotal = 0;
    this.suppressed = 0;
    this.suppressedByCode.clear();
    this.suppressedKeys.clear();
    return summary;
  }
}

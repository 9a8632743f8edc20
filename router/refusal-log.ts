/**
 * The log line of a refused call: at `info` (at `warn` when it points at a misconfiguration or an
 * outage), rate-limited per source and code (refusal-limiter.ts) so an id scan or a
 * credential-stuffing run is visible without filling the logs. What was left out is summed up in
 * one line when its window ends. Never the credential: only the fields below are written.
 */
import type { IncomingHttpHeaders } from "node:http2";
import type { Logger } from "../lib/log";
import { RefusalLimiter, REFUSAL_LOG_LIMITS, type RefusalLimits, type SuppressedSummary } from "./refusal-limiter";
import { DEPLOYMENT_ID_KEYS, Status } from "./routing";

/** How much of a caller-given value a log line repeats. */
export const LOGGED_VALUE_CHARS = 64;

const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Status).map(([name, code]) => [code, name]));

export interface RefusedCall {
  readonly code: number;
  readonly reason: string;
  readonly warn: boolean;
  /** HTTP status when the answer was not a gRPC status (415), or the HTTP/2 reset it got. */
  readonly answer: string;
  readonly headers: IncomingHttpHeaders;
  readonly path: string | undefined;
  /** The authenticated caller's name, when there is one. */
  readonly caller: string | undefined;
  readonly peer: string;
}

/** The deployment id as the caller sent it (whichever key it used), cut to LOGGED_VALUE_CHARS; undefined when absent. */
export function deploymentIdAsGiven(headers: IncomingHttpHeaders): string | undefined {
  for (const key of DEPLOYMENT_ID_KEYS) {
    const v = headers[key];
    const s = Array.isArray(v) ? v[0] : v;
    if (s !== undefined) return s.length > LOGGED_VALUE_CHARS ? s.slice(0, LOGGED_VALUE_CHARS) : s;
  }
  return undefined;
}

function cut(s: string | undefined): string | undefined {
  return s !== undefined && s.length > LOGGED_VALUE_CHARS * 2 ? s.slice(0, LOGGED_VALUE_CHARS * 2) : s;
}

export class RefusalLog {
  private readonly limiter: RefusalLimiter;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly logger: Logger, limits: RefusalLimits = REFUSAL_LOG_LIMITS, private readonly now: () => number = () => performance.now()) {
    this.limiter = new RefusalLimiter(limits);
  }

  refused(r: RefusedCall): void {
    // The source is the peer, or the authenticated caller behind it: one proxy in front (Envoy) is one peer for every caller.
    const source = r.caller === undefined ? r.peer : `${r.peer} ${r.caller}`;
    const decision = this.limiter.take(source, r.code, this.now());
    if (decision.summary !== undefined) this.summarize(decision.summary);
    if (!decision.write) return this.armTimer();
    const line = {
      code: r.code,
      status: STATUS_NAMES[r.code] ?? String(r.code),
      answer: r.answer,
      deploymentId: deploymentIdAsGiven(r.headers),
      caller: r.caller,
      peer: r.peer,
      path: cut(r.path),
      reason: r.reason,
    };
    if (r.warn) this.logger.warn(line, "call refused");
    else this.logger.info(line, "call refused");
  }

  /** Writes the summary of a window that is over, if lines were left out (the timer calls this too). */
  flush(): void {
    const summary = this.limiter.roll(this.now());
    if (summary !== undefined) this.summarize(summary);
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private summarize(s: SuppressedSummary): void {
    this.logger.info({ suppressed: s.suppressed, byCode: s.byCode, sources: s.keys, windowSeconds: s.windowSeconds }, "refused calls not logged (rate limit): counted by code in pixell_router_calls_total");
  }

  /** So a flood that stops is still summed up once its window ends, not at the next refusal. */
  private armTimer(): void {
    if (this.timer !== undefined) return;
    const until = this.limiter.pendingUntil;
    if (until === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
      this.armTimer(); // fired a little early: the window is not over yet
    }, Math.max(1, until - this.now()));
    this.timer.unref();
  }
}

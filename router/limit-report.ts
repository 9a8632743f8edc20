/**
 * What happens when a peer hits an HTTP/2 protocol limit (router/h2/limits.ts): the counter
 * `pixell_router_protocol_limit_total{limit}` goes up every time, and a `warn` line says which limit,
 * which peer and what it did, rate-limited per peer and limit (refusal-limiter.ts) so a flood of
 * abusive connections cannot flood the logs too.
 */
import type { Logger } from "../lib/log";
import type { RouterMetrics } from "./metrics";
import { RefusalLimiter, REFUSAL_LOG_LIMITS, type RefusalLimits } from "./refusal-limiter";

/** Every limit the frame relay enforces; the metric's `limit` label. */
export type ProtocolLimit =
  | "premature_resets"
  | "frames_without_progress"
  | "continuation_frames"
  | "header_list_size"
  | "outbound_control_frames";

/** The limiter keys lines by a number: one per limit. */
const LIMIT_CODES: Readonly<Record<ProtocolLimit, number>> = {
  premature_resets: 1, frames_without_progress: 2, continuation_frames: 3, header_list_size: 4, outbound_control_frames: 5,
};

export class LimitReporter {
  private readonly limiter: RefusalLimiter;

  constructor(private readonly metrics: RouterMetrics | undefined, private readonly logger: Logger, limits: RefusalLimits = REFUSAL_LOG_LIMITS,
    private readonly now: () => number = () => performance.now()) {
    this.limiter = new RefusalLimiter(limits);
  }

  /** `peer` hit `limit`; `detail` says what it sent. */
  hit(limit: ProtocolLimit, peer: string, detail: string, role: "client" | "agent" = "client"): void {
    this.metrics?.recordProtocolLimit(limit);
    const decision = this.limiter.take(peer, LIMIT_CODES[limit], this.now());
    if (decision.summary !== undefined) {
      this.logger.warn({ suppressed: decision.summary.suppressed, windowSeconds: decision.summary.windowSeconds },
        "HTTP/2 protocol limit lines not logged (rate limit): counted in pixell_router_protocol_limit_total");
    }
    if (!decision.write) return;
    if (role === "client") this.logger.warn({ limit, peer, detail }, "client hit an HTTP/2 protocol limit");
    else this.logger.warn({ limit, peer, detail }, "agent hit an HTTP/2 protocol limit");
  }
}

/**
 * The time budget of one Lambda invocation: when each step must be done so the metrics are
 * still sent before the Lambda's own limit ends the run. `invocationBudget` is pure;
 * `deadlineSignal` turns a deadline into an AbortSignal for the AWS SDK calls.
 */

/** Kept after the last PutMetricData may end, for the summary log line and the handler's return. */
export const FINAL_MARGIN_MS = 500;

export interface InvocationBudget {
  /** Epoch ms at which the Lambda's limit ends the invocation. */
  readonly endsAt: number;
  /** Reading the token, listing the deployments and every Health call are done by then. */
  readonly probesBy: number;
  /** Every PutMetricData attempt is done (or abandoned) by then. */
  readonly metricsBy: number;
}

/**
 * `now + remainingMs` is the Lambda's limit. The last `reserveMs` are kept for PutMetricData
 * (no AWS call or probe of the run proper may use them) and the last `finalMarginMs` for
 * returning. A reserve smaller than the margin still leaves the steps in order.
 */
export function invocationBudget(now: number, remainingMs: number, reserveMs: number, finalMarginMs = FINAL_MARGIN_MS): InvocationBudget {
  const endsAt = now + remainingMs;
  const metricsBy = endsAt - finalMarginMs;
  return { endsAt, probesBy: Math.min(endsAt - reserveMs, metricsBy), metricsBy };
}

/** Why an SDK call was abandoned at its step's deadline (the AbortError's cause). */
export class DeadlineReached extends Error {
  constructor(readonly deadlineAt: number) {
    super(`the run's deadline (${new Date(deadlineAt).toISOString()}) was reached`);
    this.name = "DeadlineReached";
  }
}

export interface DeadlineSignal {
  readonly signal: AbortSignal;
  /** Clears the timer; call it when the step is over so nothing is left pending. */
  dispose(): void;
}

/**
 * An AbortSignal that aborts at `deadlineAt` (at once when it has passed). Not
 * `AbortSignal.timeout`: its timer cannot be cleared, and a run leaves no timer behind.
 */
export function deadlineSignal(deadlineAt: number, now: () => number = Date.now): DeadlineSignal {
  const controller = new AbortController();
  const wait = deadlineAt - now();
  if (wait <= 0) {
    controller.abort(new DeadlineReached(deadlineAt));
    return { signal: controller.signal, dispose: () => {} };
  }
  const timer = setTimeout(() => controller.abort(new DeadlineReached(deadlineAt)), wait);
  return { signal: controller.signal, dispose: () => clearTimeout(timer) };
}

/** Runs `step` with a signal that aborts at `deadlineAt`, and clears the timer afterwards. */
export async function withDeadline<T>(deadlineAt: number, step: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const d = deadlineSignal(deadlineAt);
  try {
    return await step(d.signal);
  } finally {
    d.dispose();
  }
}

/** True when `err` is the SDK's answer to an aborted signal or to one of its own HTTP timeouts. */
export function isTimeout(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  const name = err instanceof Error ? err.name : undefined;
  return name === "AbortError" || name === "TimeoutError";
}

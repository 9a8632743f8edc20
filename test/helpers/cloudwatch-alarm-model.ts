/**
 * A model of how CloudWatch evaluates an alarm and when it notifies, for pure tests of the alarm
 * plan. The rules, from the CloudWatch User Guide:
 * - "Evaluating an alarm": an M-out-of-N alarm goes to ALARM when at least M (DatapointsToAlarm)
 *   of the last N (EvaluationPeriods) datapoints breach, and to OK otherwise.
 * - "Configuring how CloudWatch alarms treat missing data": `breaching` counts a missing datapoint
 *   as breaching, `notBreaching` as within the threshold (the only two the plan uses).
 * - "Alarm actions": actions run when the alarm changes state; an alarm that stays in ALARM
 *   notifies nothing more. This is why a fleet-wide alarm goes quiet once one deployment fails.
 * - "Acting on alarm changes" / multi time series alarms: a Metrics Insights alarm with GROUP BY
 *   keeps one state per contributor (time series), each only ALARM or OK, and sends an SNS
 *   notification when a contributor changes state.
 * - Composite alarms ("Combining alarms"): the rule is evaluated over the members' states; the
 *   composite notifies on its own state changes.
 */
import type { ComparisonOperator, TreatMissingData } from "../../infra/alarm-plan";

export type State = "OK" | "ALARM";
export type Datapoint = number | undefined;

export interface Evaluation {
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  readonly comparisonOperator: ComparisonOperator;
  readonly threshold: number;
  readonly treatMissingData: TreatMissingData;
}

export function breaches(value: number, e: Evaluation): boolean {
  switch (e.comparisonOperator) {
    case "GreaterThanThreshold": return value > e.threshold;
    case "GreaterThanOrEqualToThreshold": return value >= e.threshold;
    case "LessThanThreshold": return value < e.threshold;
  }
}

/** The state for the last `evaluationPeriods` datapoints (oldest first). */
export function evaluate(window: readonly Datapoint[], e: Evaluation): State {
  if (e.treatMissingData !== "breaching" && e.treatMissingData !== "notBreaching") throw new Error(`model covers breaching and notBreaching only, not ${e.treatMissingData}`);
  const last = window.slice(-e.evaluationPeriods);
  while (last.length < e.evaluationPeriods) last.unshift(undefined);
  const bad = last.filter((v) => (v === undefined ? e.treatMissingData === "breaching" : breaches(v, e))).length;
  return bad >= e.datapointsToAlarm ? "ALARM" : "OK";
}

export interface Notification {
  readonly period: number;
  /** The contributor (per-contributor alarms), else undefined. */
  readonly contributor?: string;
  readonly state: State;
}

/**
 * A single-series alarm over `series` (one datapoint per period): its state each period and the
 * notifications. It starts OK and is first evaluated once a whole evaluation window has passed.
 */
export function runAlarm(series: readonly Datapoint[], e: Evaluation): { states: State[]; notifications: Notification[] } {
  const states: State[] = [];
  const notifications: Notification[] = [];
  let state: State = "OK";
  series.forEach((_, i) => {
    const next = i + 1 < e.evaluationPeriods ? state : evaluate(series.slice(0, i + 1), e);
    if (next !== state) notifications.push({ period: i, state: next });
    state = next;
    states.push(state);
  });
  return { states, notifications };
}

/**
 * A per-contributor alarm: `periods[i]` maps each contributor to its datapoint in period i
 * (absent: no data). A contributor exists from its first datapoint; its state changes notify.
 */
export function runContributorAlarm(periods: readonly ReadonlyMap<string, number>[], e: Evaluation): { notifications: Notification[]; inAlarm: (period: number) => string[] } {
  const states = new Map<string, State>();
  const history: Map<string, State>[] = [];
  const notifications: Notification[] = [];
  const seen = new Set<string>();
  periods.forEach((p, i) => {
    for (const id of p.keys()) seen.add(id);
    for (const id of [...seen].sort()) {
      const window = periods.slice(Math.max(0, i - e.evaluationPeriods + 1), i + 1).map((q) => q.get(id));
      const next = evaluate(window, e);
      if (next !== (states.get(id) ?? "OK")) notifications.push({ period: i, contributor: id, state: next });
      states.set(id, next);
    }
    history.push(new Map(states));
  });
  return { notifications, inAlarm: (period) => [...(history[period] ?? new Map<string, State>())].filter(([, s]) => s === "ALARM").map(([id]) => id).sort() };
}

/** A composite alarm whose rule is ALARM(a) OR ALARM(b) ...: ALARM while any member is. */
export function runComposite(members: readonly (readonly State[])[]): { notifications: Notification[] } {
  const notifications: Notification[] = [];
  let state: State = "OK";
  const n = Math.max(0, ...members.map((m) => m.length));
  for (let i = 0; i < n; i++) {
    const next: State = members.some((m) => m[i] === "ALARM") ? "ALARM" : "OK";
    if (next !== state) notifications.push({ period: i, state: next });
    state = next;
  }
  return { notifications };
}

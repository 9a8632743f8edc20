import { longestGapSeconds, parseSchedule, type Schedule } from "./schedule";

/**
 * The probe alarms' periods, derived from the probe's schedule, and CloudWatch's rules for them.
 *
 * CloudWatch (PutMetricAlarm, https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html):
 * "Valid values are 10, 20, 30, and any multiple of 60" for Period; "Period multiplied by
 * EvaluationPeriods can't be more than 604,800 seconds. For alarms with a period of less than one
 * hour (3,600 seconds), the total evaluation period can't be longer than one day (86,400 seconds)."
 */

/** Runs the per-run alarms look back over (deployment-unhealthy, probe-errors) and "no data" spans. */
export const PROBE_ALARM_RUNS = 3;

/** CloudWatch's refusal of a period / evaluation-period pair, or undefined when it is accepted. */
export function alarmWindowProblem(period: number, evaluationPeriods: number): string | undefined {
  if (!Number.isInteger(period) || !(period === 10 || period === 20 || period === 30 || (period > 0 && period % 60 === 0))) {
    return `period ${period} s: CloudWatch accepts 10, 20, 30 or a multiple of 60`;
  }
  if (!Number.isInteger(evaluationPeriods) || evaluationPeriods < 1) return `evaluationPeriods ${evaluationPeriods}: a positive integer`;
  const limit = period < 3600 ? 86400 : 604800;
  if (period * evaluationPeriods > limit) return `period ${period} s x ${evaluationPeriods} evaluation periods exceeds CloudWatch's ${limit} s`;
  return undefined;
}

export interface ProbeAlarmPeriods {
  /** Period of the per-run alarms: the longest gap between two runs, so every period holds at least one run. */
  readonly run: number;
  /** Period of the "no data" alarm: PROBE_ALARM_RUNS such gaps in one period. */
  readonly noData: number;
}

/**
 * Every period of CloudWatch's clock-aligned periods of length >= the longest gap between runs
 * holds at least one run: so the longest gap (not an average, not "hourly for cron") is the period.
 * EventBridge runs on whole minutes, so the gap is a multiple of 60 already.
 */
export function probeAlarmPeriods(schedule: Schedule): ProbeAlarmPeriods {
  const gap = longestGapSeconds(schedule);
  const run = Math.max(60, Math.ceil(gap / 60) * 60);
  return { run, noData: run * PROBE_ALARM_RUNS };
}

/**
 * Why a probe schedule cannot be used, or undefined: EventBridge's own grammar first, then whether
 * the alarms derived from it fit CloudWatch's limits (a schedule that stops, or runs less often than
 * every 56 hours, cannot be watched over three runs).
 */
export function probeScheduleProblem(expression: string): string | undefined {
  const parsed = parseSchedule(expression);
  if (!parsed.ok) return parsed.reason;
  const periods = probeAlarmPeriods(parsed.schedule);
  if (!Number.isFinite(periods.run)) return "the schedule stops running (a year field, or fewer than two runs in eight years): the probe alarms need a schedule that keeps running";
  const problem = alarmWindowProblem(periods.run, PROBE_ALARM_RUNS) ?? alarmWindowProblem(periods.noData, 1);
  if (problem !== undefined) {
    return `its longest gap between runs is ${periods.run} s, and the probe alarms look at ${PROBE_ALARM_RUNS} runs: ${problem}. Run the probe at least every ${604800 / PROBE_ALARM_RUNS / 3600} hours`;
  }
  return undefined;
}

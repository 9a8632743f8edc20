/**
 * What the monitoring design costs a month in CloudWatch, as a pure function of the fleet and the
 * alarm plan, from CloudWatch's list prices (us-east-1, https://aws.amazon.com/cloudwatch/pricing/;
 * other regions differ a little). Free tiers are left out: the numbers are what the design adds to
 * an account that already uses them up. docs/probe.md shows the table; test/infra-cost.test.ts pins it.
 */
import { FAILURE_ONLY_METRICS, METRIC } from "../lib/probe-metrics";
import type { AlarmSpec } from "./alarm-plan";

export const CLOUDWATCH_LIST_PRICES = {
  /** Custom metrics, per metric-month, by tier (first 10,000; next 240,000; next 750,000; over 1,000,000). Prorated by the hour. */
  metricTiers: [[10_000, 0.30], [240_000, 0.10], [750_000, 0.05], [Infinity, 0.02]] as readonly (readonly [number, number])[],
  /** PutMetricData and the other API requests, per 1,000. */
  apiRequestPer1000: 0.01,
  /** Standard-resolution alarm, per metric the alarm references, per month. */
  alarmMetricMonth: 0.10,
  /** Metrics Insights query alarm, per metric the query analyzes, per month. */
  metricsInsightsAlarmPerMetric: 0.10,
  compositeAlarmMonth: 0.50,
  dashboardMonth: 3.00,
  /** Standard log class. */
  logIngestPerGb: 0.50,
  logStoragePerGbMonth: 0.03,
} as const;

/** Hours AWS bills in a month. */
export const HOURS_PER_MONTH = 730;

/**
 * Bytes a run writes to the probe's log group: the summary line, Lambda's START/END/REPORT lines,
 * and one line per failing deployment (measured on this repo's lines, rounded up).
 */
export const LOG_BYTES = { summary: 600, lambdaPlatform: 400, perFailingDeployment: 400 } as const;

/** Fleet metrics every run sends whatever the fleet size (no dimension). */
export const FLEET_METRICS = Object.values(METRIC).filter((m) => !FAILURE_ONLY_METRICS.includes(m)).length;

export interface CostInput {
  readonly deployments: number;
  /** Deployments failing all month (each has a DeploymentFailing series while it fails). */
  readonly failingDeployments: number;
  /** Tasks failing all month. */
  readonly failingTasks: number;
  /** Probe runs a month (rate(1 minute): 43,800). */
  readonly runsPerMonth: number;
  readonly logRetentionDays: number;
}

export interface CostLine {
  readonly item: string;
  readonly quantity: number;
  readonly usd: number;
}

export interface CostEstimate {
  readonly lines: readonly CostLine[];
  readonly totalUsd: number;
}

/** Custom metric-months at the tiered price. */
export function metricMonthsCost(metrics: number): number {
  let left = metrics;
  let usd = 0;
  for (const [size, price] of CLOUDWATCH_LIST_PRICES.metricTiers) {
    const n = Math.min(left, size);
    usd += n * price;
    left -= n;
    if (left <= 0) break;
  }
  return usd;
}

const cents = (usd: number): number => Math.round(usd * 100) / 100;

/** The design's month: fleet metrics, failure-only series, PutMetricData, alarms (from the plan), dashboard, logs. */
export function monthlyCost(plan: readonly AlarmSpec<unknown>[], input: CostInput): CostEstimate {
  const p = CLOUDWATCH_LIST_PRICES;
  const failingSeries = input.failingDeployments + input.failingTasks;
  const metricAlarms = plan.filter((a) => a.kind === "metric");
  const standardAlarmMetrics = metricAlarms.filter((a) => !a.perContributor).reduce((n, a) => n + a.queries.filter((q) => q.metric !== undefined).length, 0);
  const insightsAnalyzed = metricAlarms.filter((a) => a.perContributor).reduce((n, a) => n + (a.key.startsWith("task") ? input.failingTasks : input.failingDeployments), 0);
  const composites = plan.filter((a) => a.kind === "composite").length;
  // One PutMetricData a run (a few more only with over ~990 failing series: 1000 data a request).
  const requests = input.runsPerMonth * Math.ceil((FLEET_METRICS + failingSeries) / 1000);
  const logGb = (input.runsPerMonth * (LOG_BYTES.summary + LOG_BYTES.lambdaPlatform + input.failingDeployments * LOG_BYTES.perFailingDeployment)) / 1e9;
  const stored = logGb * Math.min(1, input.logRetentionDays / 30);
  const lines: CostLine[] = [
    { item: "fleet metrics (no dimension)", quantity: FLEET_METRICS, usd: 0 },
    { item: "failure-only series (while failing)", quantity: failingSeries, usd: 0 },
    { item: "PutMetricData requests", quantity: requests, usd: (requests / 1000) * p.apiRequestPer1000 },
    { item: "standard alarm metrics", quantity: standardAlarmMetrics, usd: standardAlarmMetrics * p.alarmMetricMonth },
    { item: "Metrics Insights alarm metrics analyzed", quantity: insightsAnalyzed, usd: insightsAnalyzed * p.metricsInsightsAlarmPerMetric },
    { item: "composite alarms", quantity: composites, usd: composites * p.compositeAlarmMonth },
    { item: "dashboard", quantity: 1, usd: p.dashboardMonth },
    { item: "probe log ingestion (GB)", quantity: Math.round(logGb * 1000) / 1000, usd: logGb * p.logIngestPerGb + stored * p.logStoragePerGbMonth },
  ];
  // Metrics are priced on the account's total, so both kinds share the tiers.
  const metricUsd = metricMonthsCost(FLEET_METRICS + failingSeries);
  lines[0] = { ...lines[0]!, usd: metricMonthsCost(FLEET_METRICS) };
  lines[1] = { ...lines[1]!, usd: metricUsd - metricMonthsCost(FLEET_METRICS) };
  const out = lines.map((l) => ({ ...l, usd: cents(l.usd) }));
  return { lines: out, totalUsd: cents(out.reduce((s, l) => s + l.usd, 0)) };
}

/** The design before issue 15: ProbeSuccess and ProbeLatency per deployment plus five run counts, metrics only. */
export function previousDesignMetricsCost(deployments: number): number {
  return cents(metricMonthsCost(2 * deployments + 5));
}

/** Runs a month of a schedule whose runs are `periodSeconds` apart. */
export function runsPerMonth(periodSeconds: number): number {
  return Math.round((HOURS_PER_MONTH * 3600) / periodSeconds);
}

/**
 * The alarm plan: every alarm of the stack as data, a pure function of the stack's identifiers
 * and settings. monitoring.ts turns it into resources; test/unit/infra-alarms.test.ts runs it through
 * a model of CloudWatch's evaluation and notification rules.
 *
 * Who is paged for what:
 * - A deployment that fails pages on its own, naming it, even while others have failed for days:
 *   a Metrics Insights alarm grouped by DeploymentId keeps one state per contributor (time series)
 *   and sends SNS notifications per contributor (CloudWatch User Guide, "Create an alarm based on
 *   a Multi Time Series Metrics Insights query" and "Acting on alarm changes": SNS notifications
 *   at alarm and contributor level). The series exist only while a deployment fails
 *   (probe-lambda/metrics.ts), so they cost only while something fails.
 * - Everything that means the platform or the probe itself is broken (endpoint, tasks, NLB, the
 *   share of failing deployments, and the "saw nothing" alarms) feeds one composite alarm: one
 *   outage is one page. Only the composite and the per-deployment alarm have actions.
 */
import { DEPLOYMENT_DIMENSION, METRIC, PLATFORM_MIN_UNHEALTHY, TASK_DIMENSION } from "../lib/probe-metrics";
import { probeAlarmPeriods, PROBE_ALARM_RUNS } from "./alarm-periods";
import { parseSchedule } from "./schedule";

export interface AlarmIds<T> {
  /** NLB ARN suffix (`net/name/id`): the LoadBalancer dimension. */
  readonly loadBalancer: T;
  /** A2A target group ARN suffix (`targetgroup/name/id`): the TargetGroup dimension. */
  readonly a2aTargetGroup: T;
  readonly probeFunctionName: T;
}

export interface AlarmSettings {
  readonly project: string;
  readonly stack: string;
  readonly namespace: string;
  readonly probeSchedule: string;
  readonly dashboardUrl: string;
  readonly probeLambdaTimeoutSeconds: number;
  /** Share (%) of failing deployments that is a platform incident (the probe's PROBE_PLATFORM_PERCENT). */
  readonly unhealthyPercent: number;
  /** Fewest deployments a run must probe; fewer (or no data at all) pages. */
  readonly minDeploymentsProbed: number;
}

export type TreatMissingData = "breaching" | "notBreaching" | "missing" | "ignore";
export type ComparisonOperator = "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold" | "LessThanThreshold";

/** One element of an alarm's metricQueries: a metric, a metric math expression, or a Metrics Insights query. */
export interface AlarmQuery<T> {
  readonly id: string;
  readonly expression?: string;
  readonly metric?: { readonly namespace: string; readonly metricName: string; readonly dimensions?: Record<string, T>; readonly stat: string; readonly period: number };
  /** Required on an expression that is a Metrics Insights query. */
  readonly period?: number;
  readonly label?: string;
  readonly returnData: boolean;
}

export interface MetricAlarmSpec<T> {
  readonly kind: "metric";
  /** Suffix of the resource and alarm name. */
  readonly key: string;
  /** `<project>-<stack>-<key>`. */
  readonly name: string;
  readonly description: string;
  readonly queries: readonly AlarmQuery<T>[];
  /** The alarm's evaluation period (every query's period). */
  readonly period: number;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  readonly comparisonOperator: ComparisonOperator;
  readonly threshold: number;
  readonly treatMissingData: TreatMissingData;
  /** A Metrics Insights query with GROUP BY: one state (and notification) per contributor. */
  readonly perContributor: boolean;
  /** Sends its own notifications (else only through the composite). */
  readonly notifies: boolean;
  /** Part of the platform composite. */
  readonly inComposite: boolean;
}

export interface CompositeAlarmSpec {
  readonly kind: "composite";
  readonly key: string;
  readonly name: string;
  readonly description: string;
  /** ALARM(name) OR ALARM(name) ... over the member alarms' names. */
  readonly rule: string;
  readonly members: readonly string[];
}

export type AlarmSpec<T> = MetricAlarmSpec<T> | CompositeAlarmSpec;

/** CloudWatch alarms evaluate at most the last 3 hours of a Metrics Insights query ("Limits", Metrics Insights alarms). */
export const METRICS_INSIGHTS_ALARM_WINDOW_SECONDS = 3 * 3600;

/**
 * The window of a per-contributor alarm: three runs, two bad (as the other per-run alarms), when
 * three runs fit in Metrics Insights' 3 hours; else one run; a schedule sparser than 3 hours gets a
 * 3-hour period, so a failing run alarms once and the contributor returns to OK before the next.
 */
export function contributorWindow(runPeriod: number): { period: number; evaluationPeriods: number; datapointsToAlarm: number } {
  if (runPeriod * PROBE_ALARM_RUNS <= METRICS_INSIGHTS_ALARM_WINDOW_SECONDS) return { period: runPeriod, evaluationPeriods: PROBE_ALARM_RUNS, datapointsToAlarm: 2 };
  return { period: Math.min(runPeriod, METRICS_INSIGHTS_ALARM_WINDOW_SECONDS), evaluationPeriods: 1, datapointsToAlarm: 1 };
}

/** Lambda Duration above this share of the timeout pages: the run is about to be cut off with nothing emitted. */
export const DURATION_ALARM_SHARE = 0.8;

/** The text of a description: what it means, the first three things to check, the dashboard. Within PutMetricAlarm's 1024 characters. */
export function runbook(meaning: string, checks: readonly [string, string, string], dashboardUrl: string): string {
  return `${meaning} Check: 1) ${checks[0]} 2) ${checks[1]} 3) ${checks[2]} Dashboard: ${dashboardUrl}`;
}

/**
 * The Metrics Insights query of a per-contributor alarm: the worst value of a failure-only metric, one
 * series (contributor) per value of `dimension`. A namespace with `/` is quoted (FROM clause).
 */
function worstPer(namespace: string, metric: string, dimension: string): string {
  return `SELECT MAX(${metric}) FROM SCHEMA("${namespace}", ${dimension}) GROUP BY ${dimension} ORDER BY MAX() DESC`;
}

/** The stack's alarms, metric alarms first, the composite last. */
export function alarmPlan<T>(ids: AlarmIds<T>, s: AlarmSettings): AlarmSpec<T>[] {
  const parsed = parseSchedule(s.probeSchedule);
  // parseStackConfig refuses a bad schedule first; this only guards a direct caller.
  if (!parsed.ok) throw new Error(`probe schedule ${JSON.stringify(s.probeSchedule)} is not valid: ${parsed.reason}`);
  const run = probeAlarmPeriods(parsed.schedule).run;
  const contributors = contributorWindow(run);
  const name = (key: string): string => `${s.project}-${s.stack}-${key}`;
  const url = s.dashboardUrl;
  const ns = s.namespace;
  const probeLog = `/aws/lambda/${s.project}-${s.stack}-probe`;
  const perRun = { period: run, evaluationPeriods: PROBE_ALARM_RUNS, datapointsToAlarm: 2 } as const;
  const metric = (id: string, namespace: string, metricName: string, stat: string, dimensions?: Record<string, T>, period = run): AlarmQuery<T> =>
    ({ id, metric: { namespace, metricName, stat, period, ...(dimensions ? { dimensions } : {}) }, returnData: false });
  const only = (q: AlarmQuery<T>): AlarmQuery<T>[] => [{ ...q, returnData: true }];
  const lambda = { FunctionName: ids.probeFunctionName };

  const alarms: MetricAlarmSpec<T>[] = [
    {
      kind: "metric", key: "deployment-failing", name: name("deployment-failing"),
      description: runbook(
        "A2A deployment failing (the DeploymentId is the contributor): its Health call failed through two tasks in 2 of the last 3 probe runs. Each deployment notifies on its own, also while others fail.",
        [
          `the probe's "deployment failing" log line for the code and message (Logs Insights on ${probeLog}: filter msg = "deployment failing" and deploymentId = "ID").`,
          "NOT_FOUND: is it in Cloud Map and the router's GET /deployments; UNAVAILABLE or DEADLINE_EXCEEDED: is its agent running and its port open; OK with ok:false: the agent's own message.",
          "what PAR says about the deployment and whether it was changed just now; the agent's own logs.",
        ], url),
      queries: [{
        id: "failing",
        expression: worstPer(ns, METRIC.DeploymentFailing, DEPLOYMENT_DIMENSION),
        period: contributors.period, label: "failing deployments", returnData: true,
      }],
      ...contributors, comparisonOperator: "GreaterThanThreshold", threshold: 0,
      // The series exists only while the deployment fails: no data is good news.
      treatMissingData: "notBreaching", perContributor: true, notifies: true, inComposite: false,
    },
    {
      kind: "metric", key: "task-failing", name: name("task-failing"),
      description: runbook(
        "A2A task failing (the Task, ip:port, is the contributor): the probe could not connect to this ECS task on 50051, or deployments failed through it and answered through another task, in 2 of the last 3 runs. Users whose connection lands on it fail.",
        [
          `the probe's "task failing" line (reason, zone) in ${probeLog}.`,
          "that task's Envoy and router logs (/ecs/<project>-<stack>/envoy and router) and its /readyz; NOT_FOUND there means its registry view is stale.",
          "ECS: stop the task if it stays failing (the service replaces it); compare its task definition revision with the others.",
        ], url),
      queries: [{
        id: "failing",
        expression: worstPer(ns, METRIC.TaskFailing, TASK_DIMENSION),
        period: contributors.period, label: "failing tasks", returnData: true,
      }],
      ...contributors, comparisonOperator: "GreaterThanThreshold", threshold: 0,
      treatMissingData: "notBreaching", perContributor: true, notifies: false, inComposite: true,
    },
    {
      kind: "metric", key: "fleet-unhealthy", name: name("fleet-unhealthy"),
      description: runbook(
        `A2A platform incident: at least ${s.unhealthyPercent}% of the probed deployments (and at least ${PLATFORM_MIN_UNHEALTHY}) failed in 2 of the last 3 runs. Per-deployment pages are held back meanwhile; this is the one page.`,
        [
          "the dashboard's failing deployments: one code for all (NOT_FOUND: registry or Cloud Map; UNAVAILABLE: agents' network or hosts; UNAUTHENTICATED: the probe's token).",
          "recent changes: a router or Envoy release, PAR, security groups, Cloud Map.",
          "the router's refusals by code and the ECS service events.",
        ], url),
      queries: [
        metric("probed", ns, METRIC.DeploymentsProbed, "Maximum"),
        metric("unhealthy", ns, METRIC.DeploymentsUnhealthy, "Maximum"),
        { id: "share", // unhealthy >= 5 implies probed > 0: no division by zero.
        expression: `IF(unhealthy >= ${PLATFORM_MIN_UNHEALTHY}, 100 * unhealthy / probed, 0)`, label: "% of deployments unhealthy", returnData: true },
      ],
      ...perRun, comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: s.unhealthyPercent,
      treatMissingData: "notBreaching", perContributor: false, notifies: false, inComposite: true,
    },
    {
      kind: "metric", key: "endpoint-unreachable", name: name("endpoint-unreachable"),
      description: runbook(
        "A2A endpoint failing: the probe could not connect to the public endpoint (NLB :50051, TLS when on), or deployments that answered on their task failed through it, in 2 of the last 3 runs. Clients cannot reach any deployment.",
        [
          `the probe's "endpoint failing" line for the reason (DNS, connect refused or timed out, TLS handshake).`,
          "the NLB's listener and target group health, and the NLB's and tasks' security groups (50051).",
          "with TLS: the certificate (ACM) and that a2aDomainName points at the NLB.",
        ], url),
      queries: only(metric("reachable", ns, METRIC.EndpointReachable, "Minimum")),
      ...perRun, comparisonOperator: "LessThanThreshold", threshold: 1,
      treatMissingData: "notBreaching", perContributor: false, notifies: false, inComposite: true,
    },
    {
      kind: "metric", key: "nlb-unhealthy-targets", name: name("nlb-unhealthy-targets"),
      description: runbook(
        "A2A NLB unhealthy targets: Envoy's readiness (15021) failed on at least one task for 2 of the last 3 minutes; the NLB sends it no new connections.",
        ["ECS service events and the stopped tasks' reasons.", "the Envoy and router logs of the unhealthy task.", "the task-failing alarm's contributors for the same task."], url),
      queries: only(metric("unhealthy", "AWS/NetworkELB", "UnHealthyHostCount", "Maximum", { LoadBalancer: ids.loadBalancer, TargetGroup: ids.a2aTargetGroup }, 60)),
      period: 60, evaluationPeriods: 3, datapointsToAlarm: 2, comparisonOperator: "GreaterThanThreshold", threshold: 0,
      treatMissingData: "notBreaching", perContributor: false, notifies: false, inComposite: true,
    },
    {
      kind: "metric", key: "deployments-probed-low", name: name("deployments-probed-low"),
      description: runbook(
        `A2A probe saw nothing: fewer than ${s.minDeploymentsProbed} deployments probed, or no probe data at all, in 2 of the last 3 runs. Missing data pages: a probe that does not run must not read healthy.`,
        [
          `the probe's "probe run summary" lines in ${probeLog} (notProbedReason, mode) and its errors.`,
          "Cloud Map: does the service list the deployments (DiscoverInstances)?",
          "EventBridge rule enabled, the Lambda's Errors and Throttles, and the NAT or VPC endpoints to CloudWatch.",
        ], url),
      queries: only(metric("probed", ns, METRIC.DeploymentsProbed, "Minimum")),
      ...perRun, comparisonOperator: "LessThanThreshold", threshold: s.minDeploymentsProbed,
      treatMissingData: "breaching", perContributor: false, notifies: false, inComposite: true,
    },
    {
      kind: "metric", key: "deployments-not-probed", name: name("deployments-not-probed"),
      description: runbook(
        "A2A probe skipped deployments in 2 of the last 3 runs: its time budget ran out, or nothing could reach them. Skipped ones go first in the next run.",
        ["notProbedReason in the probe's summary line.", "hung agents (DEADLINE_EXCEEDED) holding the concurrency: raise probeConcurrency, or lower probeTimeoutMs.", "probeLambdaTimeoutSeconds against the fleet size (docs/probe.md, measured numbers)."], url),
      queries: only(metric("notProbed", ns, METRIC.DeploymentsNotProbed, "Maximum")),
      ...perRun, comparisonOperator: "GreaterThanThreshold", threshold: 0,
      treatMissingData: "breaching", perContributor: false, notifies: false, inComposite: true,
    },
    {
      kind: "metric", key: "discovery-errors", name: name("discovery-errors"),
      description: runbook(
        "A2A probe discovery errors in 2 of the last 3 runs: Cloud Map could not be listed (nothing probed), the list was truncated at 1000, or DescribeTargetHealth failed (tasks not probed directly).",
        [`the probe's error lines in ${probeLog} (they name the call and the hint).`, "the probe role's servicediscovery and elasticloadbalancing grants.", "the probe's network path to the AWS APIs (NAT or VPC endpoints)."], url),
      queries: only(metric("errors", ns, METRIC.DiscoveryErrors, "Maximum")),
      ...perRun, comparisonOperator: "GreaterThanThreshold", threshold: 0,
      treatMissingData: "breaching", perContributor: false, notifies: false, inComposite: true,
    },
    // Lambda's invocation metrics: FILL(…, 0) so a quiet period reads 0 whether or not Lambda
    // sends zeros; a window with no data at all still breaches (the probe is not running).
    ...([
      ["probe-errors", "Errors", "Sum", 0, "GreaterThanThreshold", "A2A probe Lambda errors (threw or timed out) in 2 of the last 3 runs, or no data (not invoked): no probe results for that run.",
        [`the ERROR lines and REPORT lines (timeouts) in ${probeLog}.`, "ProbeTokenError: the token secret; DiscoveryError: Cloud Map and the role.", "a recent change of the probe's code, role or VPC settings."]],
      ["probe-throttled", "Throttles", "Sum", 0, "GreaterThanThreshold", "A2A probe Lambda throttled in 2 of the last 3 runs, or no data: a run overlapped the previous one (reserved concurrency 1) or the account is out of concurrency.",
        ["the probe's Duration against its schedule period.", "the account's unreserved concurrency (Service Quotas).", "whether someone invoked the probe by hand."]],
      ["probe-duration-near-timeout", "Duration", "Maximum", Math.round(DURATION_ALARM_SHARE * s.probeLambdaTimeoutSeconds * 1000), "GreaterThanThreshold",
        `A2A probe Lambda ran past ${DURATION_ALARM_SHARE * 100}% of its ${s.probeLambdaTimeoutSeconds} s timeout in 2 of the last 3 runs, or no data: soon runs are cut off with nothing emitted.`,
        ["hung agents (DEADLINE_EXCEEDED lines) and the fleet size.", "slow AWS calls (Cloud Map, DescribeTargetHealth, PutMetricData) in the probe's log.", "raise probeLambdaTimeoutSeconds (below the schedule period) or probeConcurrency."]],
    ] as const).map(([key, metricName, stat, threshold, op, meaning, checks]): MetricAlarmSpec<T> => ({
      kind: "metric", key, name: name(key),
      description: runbook(meaning, checks, url),
      queries: [metric("m", "AWS/Lambda", metricName, stat, lambda), { id: "filled", expression: "FILL(m, 0)", label: `${metricName} (0 when quiet)`, returnData: true }],
      ...perRun, comparisonOperator: op, threshold,
      treatMissingData: "breaching", perContributor: false, notifies: false, inComposite: true,
    })),
  ];

  const members = alarms.filter((a) => a.inComposite).map((a) => a.name);
  const composite: CompositeAlarmSpec = {
    kind: "composite", key: "platform", name: name("platform"),
    description: runbook(
      "A2A platform or probe failing: one page for whichever of these is in ALARM: endpoint, tasks, NLB targets, share of failing deployments, the probe seeing nothing, discovery, the probe Lambda. The alarm's reason names them.",
      ["which member alarms are in ALARM (the notification lists them) and open the first one's description.", "the dashboard's endpoint, task and probe widgets: one cause usually explains the rest.", "recent deploys of the stack, the router or Envoy."], url),
    rule: members.map((m) => `ALARM("${m}")`).join(" OR "),
    members,
  };
  return [...alarms, composite];
}

/** The alarm names the plan gives a project and stack (for the stack-name checks, infra/config-checks.ts). */
export function alarmNames(project: string, stack: string): { name: string; composite: boolean }[] {
  return alarmPlan({ loadBalancer: "", a2aTargetGroup: "", probeFunctionName: "" }, {
    project, stack, namespace: "N", probeSchedule: "rate(1 minute)", dashboardUrl: "", probeLambdaTimeoutSeconds: 30, unhealthyPercent: 25, minDeploymentsProbed: 1,
  }).map((a) => ({ name: a.name, composite: a.kind === "composite" }));
}

/**
 * The CloudWatch dashboard as a pure function of the stack's identifiers: what the person who
 * was paged looks at first. No widget depends on a per-deployment SEARCH (those stop at 500
 * series); the list of failing deployments is a Logs Insights table over the probe's one line per
 * failing deployment, which returns up to 10,000 rows.
 */
import { DEPLOYMENT_DIMENSION, METRIC, TASK_DIMENSION } from "../lib/probe-metrics";
import { DURATION_ALARM_SHARE } from "./alarm-plan";

export interface DashboardIds {
  readonly region: string;
  readonly namespace: string;
  readonly loadBalancer: string;
  readonly a2aTargetGroup: string;
  readonly restTargetGroup: string;
  /** The REST target group's NLB when REST has its own (internal) NLB; unset: `loadBalancer`. */
  readonly restLoadBalancer?: string;
  readonly clusterName: string;
  readonly serviceName: string;
  readonly probeFunctionName: string;
  readonly probeLogGroup: string;
  readonly routerLogGroup: string;
  readonly probeLambdaTimeoutSeconds: number;
}

type MetricRow = (string | Record<string, unknown>)[];

export interface Widget {
  readonly type: "metric" | "log";
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly properties: Record<string, unknown>;
}

/** The Logs Insights query of the "failing now" table: the newest failure of each deployment. */
export function failingDeploymentsQuery(probeLogGroup: string): string {
  return [
    `SOURCE '${probeLogGroup}'`,
    `filter msg = "deployment failing"`,
    `stats latest(@timestamp) as lastFailed, latest(code) as code, latest(message) as message, latest(task) as task, count(*) as failedRuns by deploymentId`,
    `sort lastFailed desc`,
    `limit 10000`,
  ].join(" | ");
}

/**
 * Router refusals by gRPC code, from the router's "call refused" log lines (router/refusal-log.ts:
 * `code`, `reason`), which are rate-limited per source and code (the suppressed ones are counted in
 * its "refused calls not logged" summary line). It counts the refusals the router logs;
 * the complete count is the router's Prometheus counter pixell_router_calls_total{code} on
 * /metrics, which CloudWatch only has once something scrapes it (docs/probe.md, "Router refusals").
 */
export function routerRefusalsQuery(routerLogGroup: string): string {
  return [
    `SOURCE '${routerLogGroup}'`,
    `filter msg = "call refused"`,
    `stats count(*) as refusals, latest(reason) as example by code`,
    `sort refusals desc`,
  ].join(" | ");
}

export function dashboardBody(ids: DashboardIds): { widgets: Widget[] } {
  const ns = ids.namespace;
  const metric = (title: string, metrics: MetricRow[], extra: Record<string, unknown> = {}, width = 12): Omit<Widget, "x" | "y"> => ({
    type: "metric", width, height: 6,
    properties: { title, region: ids.region, view: "timeSeries", stacked: false, period: 60, metrics, ...extra },
  });
  const log = (title: string, query: string, width = 12): Omit<Widget, "x" | "y"> => ({
    type: "log", width, height: 6, properties: { title, region: ids.region, query, view: "table" },
  });
  const fn = ["FunctionName", ids.probeFunctionName];
  const widgets: Omit<Widget, "x" | "y">[] = [
    metric("Probe: deployments probed, unhealthy, not probed; % healthy (0 when nothing was probed)", [
      [ns, METRIC.DeploymentsProbed, { stat: "Maximum", id: "probed" }],
      [ns, METRIC.DeploymentsUnhealthy, { stat: "Maximum", id: "unhealthy", color: "#d62728" }],
      [ns, METRIC.DeploymentsNotProbed, { stat: "Maximum", id: "notProbed", color: "#ff7f0e" }],
      [ns, METRIC.DiscoveryErrors, { stat: "Maximum", id: "discoveryErrors" }],
      // Nothing probed is 0 %, and no data at all is a gap: never 100 %.
      [{ expression: "IF(probed > 0, 100 * (probed - unhealthy) / probed, 0)", label: "% healthy", id: "healthyPct", yAxis: "right" }],
    ], { yAxis: { right: { min: 0, max: 100 } } }),
    log("Deployments failing, newest first (lastFailed in the latest run = failing now)", failingDeploymentsQuery(ids.probeLogGroup)),
    metric("Tasks: probed and unhealthy; each failing task", [
      [ns, METRIC.TasksProbed, { stat: "Maximum", id: "tasks" }],
      [ns, METRIC.TasksUnhealthy, { stat: "Maximum", id: "tasksUnhealthy", color: "#d62728" }],
      [{ expression: `SELECT MAX(${METRIC.TaskFailing}) FROM SCHEMA("${ns}", ${TASK_DIMENSION}) GROUP BY ${TASK_DIMENSION}`, id: "taskFailing", label: "", period: 60 }],
    ]),
    metric("Endpoint (NLB :50051): reachable (1) and connect time", [
      [ns, METRIC.EndpointReachable, { stat: "Minimum", id: "reachable" }],
      [ns, METRIC.EndpointConnectTime, { stat: "Maximum", id: "connect", yAxis: "right", label: "connect ms (max)" }],
    ], { yAxis: { left: { min: 0, max: 1 } } }),
    metric("Probe: Health latency, all answered calls (ms)", [
      [ns, METRIC.ProbeLatency, { stat: "p50", label: "p50" }],
      [ns, METRIC.ProbeLatency, { stat: "p99", label: "p99" }],
      [ns, METRIC.ProbeLatency, { stat: "Maximum", label: "max" }],
    ]),
    metric("Failing deployments (series exist only while failing; top 100)", [
      [{ expression: `SELECT MAX(${METRIC.DeploymentFailing}) FROM SCHEMA("${ns}", ${DEPLOYMENT_DIMENSION}) GROUP BY ${DEPLOYMENT_DIMENSION} ORDER BY MAX() DESC LIMIT 100`, id: "failing", label: "", period: 60 }],
    ], { yAxis: { left: { min: 0, max: 1 } } }),
    log("Router refusals by gRPC code (router log lines)", routerRefusalsQuery(ids.routerLogGroup)),
    metric("NLB: healthy and unhealthy targets", [
      ["AWS/NetworkELB", "HealthyHostCount", "TargetGroup", ids.a2aTargetGroup, "LoadBalancer", ids.loadBalancer, { stat: "Minimum", label: "A2A healthy" }],
      ["AWS/NetworkELB", "UnHealthyHostCount", "TargetGroup", ids.a2aTargetGroup, "LoadBalancer", ids.loadBalancer, { stat: "Maximum", label: "A2A unhealthy", color: "#d62728" }],
      ["AWS/NetworkELB", "HealthyHostCount", "TargetGroup", ids.restTargetGroup, "LoadBalancer", ids.restLoadBalancer ?? ids.loadBalancer, { stat: "Minimum", label: "REST healthy" }],
      ["AWS/NetworkELB", "UnHealthyHostCount", "TargetGroup", ids.restTargetGroup, "LoadBalancer", ids.restLoadBalancer ?? ids.loadBalancer, { stat: "Maximum", label: "REST unhealthy" }],
    ]),
    metric("NLB: active and new flows", [
      ["AWS/NetworkELB", "ActiveFlowCount", "LoadBalancer", ids.loadBalancer, { stat: "Average" }],
      ["AWS/NetworkELB", "NewFlowCount", "LoadBalancer", ids.loadBalancer, { stat: "Sum" }],
      ["AWS/NetworkELB", "TCP_Target_Reset_Count", "LoadBalancer", ids.loadBalancer, { stat: "Sum" }],
    ]),
    metric("ECS: service CPU and memory (%)", [
      ["AWS/ECS", "CPUUtilization", "ClusterName", ids.clusterName, "ServiceName", ids.serviceName, { stat: "Average" }],
      ["AWS/ECS", "MemoryUtilization", "ClusterName", ids.clusterName, "ServiceName", ids.serviceName, { stat: "Average" }],
      ["AWS/ECS", "CPUUtilization", "ClusterName", ids.clusterName, "ServiceName", ids.serviceName, { stat: "Maximum", label: "CPUUtilization max" }],
    ], { yAxis: { left: { min: 0, max: 100 } } }),
    metric("Probe Lambda: invocations, errors, throttles, duration against its timeout", [
      ["AWS/Lambda", "Invocations", ...fn, { stat: "Sum" }],
      ["AWS/Lambda", "Errors", ...fn, { stat: "Sum", color: "#d62728" }],
      ["AWS/Lambda", "Throttles", ...fn, { stat: "Sum", color: "#ff7f0e" }],
      ["AWS/Lambda", "Duration", ...fn, { stat: "Maximum", yAxis: "right", label: "Duration max (ms)" }],
    ], { annotations: { horizontal: [{ label: `${DURATION_ALARM_SHARE * 100}% of the timeout`, value: DURATION_ALARM_SHARE * ids.probeLambdaTimeoutSeconds * 1000, yAxis: "right" }] } }),
  ];
  // Two columns, rows of height 6.
  return { widgets: widgets.map((w, i) => ({ ...w, x: (i % 2) * 12, y: Math.floor(i / 2) * 6 })) };
}

export function dashboardUrl(region: string, dashboardName: string): string {
  return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${dashboardName}`;
}

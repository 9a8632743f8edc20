import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { probeAlarmPeriods, PROBE_ALARM_RUNS } from "./alarm-periods";
import { parseSchedule } from "./schedule";

/**
 * What wakes someone up and what they look at then: alarms and the dashboard as pure functions
 * of the resource identifiers, and the component that makes them plus the SNS topic they notify.
 */

/** The probe's metrics namespace (probe-lambda's METRICS_NAMESPACE default). */
export const METRICS_NAMESPACE = "Pixell/A2A";

/** The probe's metric names (see probe-lambda/): per deployment and per run. */
export const PROBE_METRICS = {
  success: "ProbeSuccess",
  latency: "ProbeLatency",
  probed: "DeploymentsProbed",
  healthy: "DeploymentsHealthy",
  unhealthy: "DeploymentsUnhealthy",
  discoveryErrors: "DiscoveryErrors",
} as const;

export interface AlarmIds<T> {
  /** NLB ARN suffix (`net/name/id`): the LoadBalancer dimension. */
  readonly loadBalancer: T;
  /** A2A target group ARN suffix (`targetgroup/name/id`): the TargetGroup dimension. */
  readonly a2aTargetGroup: T;
  readonly probeFunctionName: T;
}

export interface AlarmSpec<T> {
  /** Suffix of the resource name. */
  readonly key: string;
  readonly description: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions?: Record<string, T>;
  readonly statistic: "Maximum" | "Sum" | "SampleCount" | "Minimum";
  readonly period: number;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  readonly comparisonOperator: "GreaterThanThreshold" | "LessThanThreshold";
  readonly threshold: number;
  readonly treatMissingData: "breaching" | "notBreaching" | "missing" | "ignore";
}

/**
 * The four alarms. Two bad minutes out of three fire the per-minute alarms, so one lost packet
 * does not page anyone; no probe data for three scheduled runs fires "no data" (missing is breaching).
 */
export function alarmDefinitions<T>(ids: AlarmIds<T>, probeSchedule: string): AlarmSpec<T>[] {
  const parsed = parseSchedule(probeSchedule);
  // parseStackConfig refuses a bad schedule first; this only guards a direct caller.
  if (!parsed.ok) throw new Error(`probe schedule ${JSON.stringify(probeSchedule)} is not valid: ${parsed.reason}`);
  const { run: interval, noData: noDataPeriod } = probeAlarmPeriods(parsed.schedule);
  return [
    {
      key: "deployment-unhealthy",
      description: "A2A: at least one deployment failed its Health probe through the NLB in 2 of the last 3 runs. See the dashboard's per-deployment ProbeSuccess.",
      namespace: METRICS_NAMESPACE,
      metricName: PROBE_METRICS.unhealthy,
      statistic: "Maximum",
      period: interval,
      evaluationPeriods: PROBE_ALARM_RUNS,
      datapointsToAlarm: 2,
      comparisonOperator: "GreaterThanThreshold",
      threshold: 0,
      treatMissingData: "notBreaching", // no data is the next alarm's business
    },
    {
      key: "probe-no-data",
      description: "A2A: the probe published no DeploymentsProbed datapoint for three scheduled runs: the probe is not running, cannot start, or cannot write metrics.",
      namespace: METRICS_NAMESPACE,
      metricName: PROBE_METRICS.probed,
      statistic: "SampleCount",
      period: noDataPeriod,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      comparisonOperator: "LessThanThreshold",
      threshold: 1,
      treatMissingData: "breaching",
    },
    {
      key: "nlb-unhealthy-targets",
      description: "A2A: the NLB's A2A target group has unhealthy targets (Envoy's readiness failing: Envoy or the router is down or not ready) for 2 of the last 3 minutes.",
      namespace: "AWS/NetworkELB",
      metricName: "UnHealthyHostCount",
      dimensions: { LoadBalancer: ids.loadBalancer, TargetGroup: ids.a2aTargetGroup },
      statistic: "Maximum",
      period: 60,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: "GreaterThanThreshold",
      threshold: 0,
      treatMissingData: "notBreaching",
    },
    {
      key: "probe-errors",
      description: "A2A: the probe Lambda failed (threw or timed out) in 2 of the last 3 periods. See its log group.",
      namespace: "AWS/Lambda",
      metricName: "Errors",
      dimensions: { FunctionName: ids.probeFunctionName },
      statistic: "Sum",
      period: interval,
      evaluationPeriods: PROBE_ALARM_RUNS,
      datapointsToAlarm: 2,
      comparisonOperator: "GreaterThanThreshold",
      threshold: 0,
      treatMissingData: "notBreaching",
    },
  ];
}

export interface DashboardIds {
  readonly region: string;
  readonly loadBalancer: string;
  readonly a2aTargetGroup: string;
  readonly restTargetGroup: string;
  /** The REST target group's NLB when REST has its own (internal) NLB; unset: `loadBalancer`. */
  readonly restLoadBalancer?: string;
  readonly clusterName: string;
  readonly serviceName: string;
  readonly probeFunctionName: string;
}

type MetricRow = (string | Record<string, unknown>)[];

interface Widget {
  type: "metric";
  x: number;
  y: number;
  width: number;
  height: number;
  properties: Record<string, unknown>;
}

/** The dashboard body: probe success and latency (overall and per deployment), NLB, ECS, probe Lambda. */
export function dashboardBody(ids: DashboardIds): { widgets: Widget[] } {
  const perDeployment = (metric: string, stat: string): string =>
    `SEARCH('{${METRICS_NAMESPACE},DeploymentId} MetricName="${metric}"', '${stat}', 60)`;
  const widget = (title: string, metrics: MetricRow[], extra: Record<string, unknown> = {}): Omit<Widget, "x" | "y"> => ({
    type: "metric",
    width: 12,
    height: 6,
    properties: { title, region: ids.region, view: "timeSeries", stacked: false, period: 60, metrics, ...extra },
  });
  const nlb = { LoadBalancer: ids.loadBalancer };
  const widgets = [
    widget("Probe: deployments probed, healthy, unhealthy", [
      [METRICS_NAMESPACE, PROBE_METRICS.probed, { stat: "Maximum", id: "probed" }],
      [METRICS_NAMESPACE, PROBE_METRICS.healthy, { stat: "Maximum", id: "healthy" }],
      [METRICS_NAMESPACE, PROBE_METRICS.unhealthy, { stat: "Maximum", id: "unhealthy", color: "#d62728" }],
      [METRICS_NAMESPACE, PROBE_METRICS.discoveryErrors, { stat: "Sum", id: "discoveryErrors" }],
      [{ expression: "IF(probed > 0, 100 * healthy / probed, 100)", label: "success %", id: "successPct", yAxis: "right" }],
    ]),
    widget("Probe: success per deployment (1 = healthy)", [[{ expression: perDeployment(PROBE_METRICS.success, "Minimum"), id: "s", label: "" }]], { yAxis: { left: { min: 0, max: 1 } } }),
    widget("Probe: latency, all deployments (ms)", [
      [{ expression: `AVG(${perDeployment(PROBE_METRICS.latency, "Average")})`, id: "avgLatency", label: "average" }],
      [{ expression: `MAX(${perDeployment(PROBE_METRICS.latency, "Maximum")})`, id: "maxLatency", label: "slowest deployment" }],
    ]),
    widget("Probe: latency per deployment (ms)", [[{ expression: perDeployment(PROBE_METRICS.latency, "Average"), id: "l", label: "" }]]),
    widget("NLB: healthy and unhealthy targets", [
      ["AWS/NetworkELB", "HealthyHostCount", "TargetGroup", ids.a2aTargetGroup, "LoadBalancer", ids.loadBalancer, { stat: "Minimum", label: "A2A healthy" }],
      ["AWS/NetworkELB", "UnHealthyHostCount", "TargetGroup", ids.a2aTargetGroup, "LoadBalancer", ids.loadBalancer, { stat: "Maximum", label: "A2A unhealthy", color: "#d62728" }],
      ["AWS/NetworkELB", "HealthyHostCount", "TargetGroup", ids.restTargetGroup, "LoadBalancer", ids.restLoadBalancer ?? ids.loadBalancer, { stat: "Minimum", label: "REST healthy" }],
      ["AWS/NetworkELB", "UnHealthyHostCount", "TargetGroup", ids.restTargetGroup, "LoadBalancer", ids.restLoadBalancer ?? ids.loadBalancer, { stat: "Maximum", label: "REST unhealthy" }],
    ]),
    widget("NLB: active and new flows", [
      ["AWS/NetworkELB", "ActiveFlowCount", "LoadBalancer", nlb.LoadBalancer, { stat: "Average" }],
      ["AWS/NetworkELB", "NewFlowCount", "LoadBalancer", nlb.LoadBalancer, { stat: "Sum" }],
      ["AWS/NetworkELB", "TCP_Target_Reset_Count", "LoadBalancer", nlb.LoadBalancer, { stat: "Sum" }],
    ]),
    widget("ECS: service CPU and memory (%)", [
      ["AWS/ECS", "CPUUtilization", "ClusterName", ids.clusterName, "ServiceName", ids.serviceName, { stat: "Average" }],
      ["AWS/ECS", "MemoryUtilization", "ClusterName", ids.clusterName, "ServiceName", ids.serviceName, { stat: "Average" }],
      ["AWS/ECS", "CPUUtilization", "ClusterName", ids.clusterName, "ServiceName", ids.serviceName, { stat: "Maximum", label: "CPUUtilization max" }],
    ], { yAxis: { left: { min: 0, max: 100 } } }),
    widget("Probe Lambda: invocations, errors, duration", [
      ["AWS/Lambda", "Invocations", "FunctionName", ids.probeFunctionName, { stat: "Sum" }],
      ["AWS/Lambda", "Errors", "FunctionName", ids.probeFunctionName, { stat: "Sum", color: "#d62728" }],
      ["AWS/Lambda", "Duration", "FunctionName", ids.probeFunctionName, { stat: "Average", yAxis: "right" }],
      ["AWS/Lambda", "Duration", "FunctionName", ids.probeFunctionName, { stat: "Maximum", yAxis: "right", label: "Duration max" }],
    ]),
  ];
  // Two columns, rows of height 6.
  return { widgets: widgets.map((w, i) => ({ ...w, x: (i % 2) * 12, y: Math.floor(i / 2) * 6 })) };
}

export function dashboardUrl(region: string, dashboardName: string): string {
  return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${dashboardName}`;
}

export interface MonitoringArgs {
  readonly region: string;
  readonly probeSchedule: string;
  readonly alarmEmail?: string;
  readonly loadBalancerArnSuffix: pulumi.Input<string>;
  readonly a2aTargetGroupArnSuffix: pulumi.Input<string>;
  readonly restTargetGroupArnSuffix: pulumi.Input<string>;
  readonly restLoadBalancerArnSuffix?: pulumi.Input<string>;
  readonly clusterName: pulumi.Input<string>;
  readonly serviceName: pulumi.Input<string>;
  readonly probeFunctionName: pulumi.Input<string>;
  readonly tags?: Record<string, string>;
}

export class Monitoring extends pulumi.ComponentResource {
  readonly topic: aws.sns.Topic;
  readonly dashboard: aws.cloudwatch.Dashboard;
  readonly dashboardUrl: pulumi.Output<string>;
  readonly alarms: aws.cloudwatch.MetricAlarm[];

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:Monitoring", name, {}, opts);
    const parent = { parent: this };

    this.topic = new aws.sns.Topic(`${name}-alarms`, { tags: args.tags }, parent);
    if (args.alarmEmail !== undefined) {
      // The address must confirm the subscription (AWS sends a link) before it receives alarms.
      new aws.sns.TopicSubscription(`${name}-email`, { topic: this.topic.arn, protocol: "email", endpoint: args.alarmEmail }, parent);
    }

    const ids: AlarmIds<pulumi.Input<string>> = {
      loadBalancer: args.loadBalancerArnSuffix,
      a2aTargetGroup: args.a2aTargetGroupArnSuffix,
      probeFunctionName: args.probeFunctionName,
    };
    this.alarms = alarmDefinitions(ids, args.probeSchedule).map(({ key, description, ...spec }) =>
      new aws.cloudwatch.MetricAlarm(`${name}-${key}`, {
        alarmDescription: description,
        ...spec,
        alarmActions: [this.topic.arn],
        okActions: [this.topic.arn],
        tags: args.tags,
      }, parent));

    const dashboardName = `${pulumi.getProject()}-${pulumi.getStack()}`;
    this.dashboard = new aws.cloudwatch.Dashboard(`${name}-dashboard`, {
      dashboardName,
      dashboardBody: pulumi
        .all([args.loadBalancerArnSuffix, args.a2aTargetGroupArnSuffix, args.restTargetGroupArnSuffix, args.clusterName, args.serviceName, args.probeFunctionName, args.restLoadBalancerArnSuffix ?? args.loadBalancerArnSuffix])
        .apply(([loadBalancer, a2aTargetGroup, restTargetGroup, clusterName, serviceName, probeFunctionName, restLoadBalancer]) =>
          JSON.stringify(dashboardBody({ region: args.region, loadBalancer, a2aTargetGroup, restTargetGroup, clusterName, serviceName, probeFunctionName, restLoadBalancer }))),
    }, parent);
    this.dashboardUrl = pulumi.output(dashboardUrl(args.region, dashboardName));

    this.registerOutputs({ topicArn: this.topic.arn, dashboardUrl: this.dashboardUrl });
  }
}

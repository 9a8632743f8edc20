import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { alarmPlan, type AlarmIds, type AlarmQuery, type MetricAlarmSpec } from "./alarm-plan";
import { dashboardBody, dashboardUrl } from "./dashboard";

/**
 * What wakes someone up and what they look at then: the SNS topic and its subscriptions, the
 * alarms of the alarm plan (infra/alarm-plan.ts) and the dashboard (infra/dashboard.ts).
 */

/** The probe's metrics namespace (probe-lambda's METRICS_NAMESPACE default). */
export const METRICS_NAMESPACE = "Pixell/A2A";

export { alarmPlan, type AlarmIds } from "./alarm-plan";
export { dashboardBody, dashboardUrl, type DashboardIds } from "./dashboard";

export interface MonitoringArgs {
  readonly region: string;
  readonly probeSchedule: string;
  readonly probeLambdaTimeoutSeconds: number;
  /** Share (%) of failing deployments that is one platform page (alarmUnhealthyPercent). */
  readonly unhealthyPercent: number;
  /** Fewest deployments a run must probe (alarmMinDeploymentsProbed). */
  readonly minDeploymentsProbed: number;
  readonly alarmEmail?: string;
  /** A pager's HTTPS webhook (alarmHttpsEndpoint), subscribed beside the email. */
  readonly alarmHttpsEndpoint?: string;
  readonly loadBalancerArnSuffix: pulumi.Input<string>;
  readonly a2aTargetGroupArnSuffix: pulumi.Input<string>;
  readonly restTargetGroupArnSuffix: pulumi.Input<string>;
  readonly restLoadBalancerArnSuffix?: pulumi.Input<string>;
  readonly clusterName: pulumi.Input<string>;
  readonly serviceName: pulumi.Input<string>;
  readonly probeFunctionName: pulumi.Input<string>;
  readonly probeLogGroupName: pulumi.Input<string>;
  readonly routerLogGroupName: pulumi.Input<string>;
  readonly tags?: Record<string, string>;
}

/** An alarm-plan query as MetricAlarm's metricQueries element. */
function metricQuery(q: AlarmQuery<pulumi.Input<string>>): aws.types.input.cloudwatch.MetricAlarmMetricQuery {
  return {
    id: q.id,
    returnData: q.returnData,
    ...(q.expression === undefined ? {} : { expression: q.expression }),
    ...(q.period === undefined ? {} : { period: q.period }),
    ...(q.label === undefined ? {} : { label: q.label }),
    ...(q.metric === undefined ? {} : { metric: { namespace: q.metric.namespace, metricName: q.metric.metricName, stat: q.metric.stat, period: q.metric.period, ...(q.metric.dimensions ? { dimensions: q.metric.dimensions } : {}) } }),
  };
}

export class Monitoring extends pulumi.ComponentResource {
  readonly topic: aws.sns.Topic;
  readonly dashboard: aws.cloudwatch.Dashboard;
  readonly dashboardUrl: pulumi.Output<string>;
  readonly alarms: aws.cloudwatch.MetricAlarm[];
  readonly platformAlarm: aws.cloudwatch.CompositeAlarm;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:Monitoring", name, {}, opts);
    const parent = { parent: this };
    const project = pulumi.getProject();
    const stack = pulumi.getStack();
    const prefix = `${project}-${stack}`;

    // Auto-named as before: renaming the topic would replace it, and every email address would have to confirm again.
    this.topic = new aws.sns.Topic(`${name}-alarms`, { tags: args.tags }, parent);
    if (args.alarmEmail !== undefined) {
      // The address must confirm the subscription (AWS sends a link) before it receives alarms.
      new aws.sns.TopicSubscription(`${name}-email`, { topic: this.topic.arn, protocol: "email", endpoint: args.alarmEmail }, parent);
    }
    if (args.alarmHttpsEndpoint !== undefined) {
      // A pager's webhook (PagerDuty, Opsgenie, ...) confirms SNS's SubscriptionConfirmation by itself;
      // the provider waits for it (docs/infra.md, "Alarms").
      new aws.sns.TopicSubscription(`${name}-https`, {
        topic: this.topic.arn, protocol: "https", endpoint: args.alarmHttpsEndpoint, endpointAutoConfirms: true, confirmationTimeoutInMinutes: 5,
      }, parent);
    }

    const dashboardName = prefix;
    const url = dashboardUrl(args.region, dashboardName);
    const ids: AlarmIds<pulumi.Input<string>> = {
      loadBalancer: args.loadBalancerArnSuffix,
      a2aTargetGroup: args.a2aTargetGroupArnSuffix,
      probeFunctionName: args.probeFunctionName,
    };
    const plan = alarmPlan(ids, {
      project, stack, namespace: METRICS_NAMESPACE, probeSchedule: args.probeSchedule, dashboardUrl: url,
      probeLambdaTimeoutSeconds: args.probeLambdaTimeoutSeconds, unhealthyPercent: args.unhealthyPercent, minDeploymentsProbed: args.minDeploymentsProbed,
    });
    const notify = (a: MetricAlarmSpec<unknown>): { alarmActions: pulumi.Output<string>[]; okActions: pulumi.Output<string>[] } =>
      a.notifies ? { alarmActions: [this.topic.arn], okActions: [this.topic.arn] } : { alarmActions: [], okActions: [] };

    const byName = new Map<string, aws.cloudwatch.MetricAlarm>();
    this.alarms = [];
    for (const a of plan) {
      if (a.kind !== "metric") continue;
      const alarm = new aws.cloudwatch.MetricAlarm(`${name}-${a.key}`, {
        name: a.name,
        alarmDescription: a.description,
        metricQueries: a.queries.map(metricQuery),
        evaluationPeriods: a.evaluationPeriods,
        datapointsToAlarm: a.datapointsToAlarm,
        comparisonOperator: a.comparisonOperator,
        threshold: a.threshold,
        treatMissingData: a.treatMissingData,
        ...notify(a),
        tags: args.tags,
      }, parent);
      byName.set(a.name, alarm);
      this.alarms.push(alarm);
    }
    const composite = plan.find((a) => a.kind === "composite")!;
    this.platformAlarm = new aws.cloudwatch.CompositeAlarm(`${name}-${composite.key}`, {
      alarmName: composite.name,
      alarmDescription: composite.description,
      alarmRule: composite.rule,
      alarmActions: [this.topic.arn],
      okActions: [this.topic.arn],
      tags: args.tags,
      // The rule names its members: they must exist first (PutCompositeAlarm refuses unknown alarms).
    }, { parent: this, dependsOn: composite.members.map((m) => byName.get(m)!) });

    this.dashboard = new aws.cloudwatch.Dashboard(`${name}-dashboard`, {
      dashboardName,
      dashboardBody: pulumi
        .all([args.loadBalancerArnSuffix, args.a2aTargetGroupArnSuffix, args.restTargetGroupArnSuffix, args.clusterName, args.serviceName, args.probeFunctionName, args.restLoadBalancerArnSuffix ?? args.loadBalancerArnSuffix, args.probeLogGroupName, args.routerLogGroupName])
        .apply(([loadBalancer, a2aTargetGroup, restTargetGroup, clusterName, serviceName, probeFunctionName, restLoadBalancer, probeLogGroup, routerLogGroup]) =>
          JSON.stringify(dashboardBody({
            region: args.region, namespace: METRICS_NAMESPACE, loadBalancer, a2aTargetGroup, restTargetGroup, clusterName, serviceName, probeFunctionName, restLoadBalancer,
            probeLogGroup, routerLogGroup, probeLambdaTimeoutSeconds: args.probeLambdaTimeoutSeconds,
          }))),
    }, parent);
    this.dashboardUrl = pulumi.output(url);

    this.registerOutputs({ topicArn: this.topic.arn, dashboardUrl: this.dashboardUrl, platformAlarm: this.platformAlarm.arn });
  }
}

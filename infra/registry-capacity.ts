import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { probeAlarmPeriods } from "./alarm-periods";
import { parseSchedule } from "./schedule";
import { CLOUDMAP_INSTANCES_PER_SERVICE } from "./scaling-config";

/**
 * Alarms on how full the registry is, before PAR's next RegisterInstance fails.
 *
 * The metric: Cloud Map publishes no instance count to CloudWatch. The probe lists every shard on each
 * run anyway (router/registry/cloudmap-listing.ts), so it puts RegisteredInstances per shard
 * (dimension CloudMapService; probe-lambda/metrics.ts): every instance Cloud Map lists, valid id or
 * not, since the quota counts them all. One datapoint per shard per probe run; the period is the
 * probe's longest gap between runs, as for the probe's own alarms.
 *
 * The limits (https://docs.aws.amazon.com/cloud-map/latest/dg/cloud-map-limits.html): 1,000 instances
 * per service, not adjustable (the answer is another shard); the namespace's quota, 2,000 by default and
 * adjustable (the answer is a Service Quotas request, then pixell-a2a:cloudMapNamespaceQuota).
 */

export const REGISTERED_INSTANCES_METRIC = "RegisteredInstances";
export const SHARD_DIMENSION = "CloudMapService";
/** Fire at 90% of a quota: room for about a day of deployments at most teams' rates, so an operator acts in hours, not minutes. */
export const CAPACITY_ALARM_FRACTION = 0.9;

export interface CapacityAlarmSpec {
  /** Suffix of the alarm's logical name. */
  readonly key: string;
  readonly description: string;
  readonly threshold: number;
  readonly period: number;
  /** One metric (a shard) or the sum over shards (the namespace). */
  readonly shards: readonly string[];
}

/**
 * The alarms as data: one per shard at 90% of 1,000, and one on the namespace's total at 90% of its quota
 * when the shards can reach it. Pure.
 */
export function capacityAlarmSpecs(shards: readonly string[], namespace: string, namespaceQuota: number, probeSchedule: string): CapacityAlarmSpec[] {
  const parsed = parseSchedule(probeSchedule);
  // parseStackConfig refuses a bad schedule first; this only guards a direct caller.
  if (!parsed.ok) throw new Error(`probe schedule ${JSON.stringify(probeSchedule)} is not valid: ${parsed.reason}`);
  const period = probeAlarmPeriods(parsed.schedule).run;
  const perShard = Math.floor(CLOUDMAP_INSTANCES_PER_SERVICE * CAPACITY_ALARM_FRACTION);
  const specs: CapacityAlarmSpec[] = shards.map((service) => ({
    key: `registry-full-${service}`,
    description: `A2A: Cloud Map service ${service} holds more than ${perShard} of its 1,000 instances (the quota is not adjustable): new deployments on this shard will fail to register. Add a shard (pixell-a2a:shards) and see docs/infra.md "Scaling".`,
    threshold: perShard,
    period,
    shards: [service],
  }));
  // Only where the shards can fill the namespace past the threshold: with one shard and the default quota they cannot.
  const namespaceThreshold = Math.floor(namespaceQuota * CAPACITY_ALARM_FRACTION);
  if (shards.length * CLOUDMAP_INSTANCES_PER_SERVICE <= namespaceThreshold) return specs;
  specs.push({
    key: "registry-namespace-full",
    description: `A2A: the Cloud Map namespace ${namespace} holds more than ${Math.floor(namespaceQuota * CAPACITY_ALARM_FRACTION)} of its ${namespaceQuota} instances (pixell-a2a:cloudMapNamespaceQuota). Request a higher "Instances per namespace" quota in Service Quotas, then raise cloudMapNamespaceQuota.`,
    threshold: namespaceThreshold,
    period,
    shards,
  });
  return specs;
}

export interface RegistryCapacityArgs {
  readonly shards: readonly string[];
  readonly namespace: string;
  readonly namespaceQuota: number;
  readonly probeSchedule: string;
  readonly metricsNamespace: string;
  readonly alarmTopicArn: pulumi.Input<string>;
  readonly tags?: Record<string, string>;
}

export class RegistryCapacity extends pulumi.ComponentResource {
  readonly alarms: aws.cloudwatch.MetricAlarm[];

  constructor(name: string, args: RegistryCapacityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:RegistryCapacity", name, {}, opts);
    this.alarms = capacityAlarmSpecs(args.shards, args.namespace, args.namespaceQuota, args.probeSchedule).map((spec) => {
      const common = {
        alarmDescription: spec.description,
        comparisonOperator: "GreaterThanThreshold",
        threshold: spec.threshold,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        // No data means no probe run: the probe-no-data alarm says so; this one only judges counts.
        treatMissingData: "notBreaching",
        alarmActions: [args.alarmTopicArn],
        okActions: [args.alarmTopicArn],
        tags: args.tags,
      };
      const only = spec.shards.length === 1 ? spec.shards[0] : undefined;
      return new aws.cloudwatch.MetricAlarm(`${name}-${spec.key}`, only !== undefined
        ? { ...common, namespace: args.metricsNamespace, metricName: REGISTERED_INSTANCES_METRIC, dimensions: { [SHARD_DIMENSION]: only }, statistic: "Maximum", period: spec.period }
        : {
          ...common,
          metricQueries: [
            ...spec.shards.map((service, i) => ({
              id: `m${i}`, returnData: false,
              metric: { namespace: args.metricsNamespace, metricName: REGISTERED_INSTANCES_METRIC, dimensions: { [SHARD_DIMENSION]: service }, stat: "Maximum", period: spec.period },
            })),
            { id: "total", expression: `SUM([${spec.shards.map((_, i) => `m${i}`).join(",")}])`, label: "instances in the namespace", returnData: true },
          ],
        }, { parent: this });
    });
    this.registerOutputs({ alarmNames: this.alarms.map((a) => a.name) });
  }
}

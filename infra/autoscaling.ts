import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { AutoScalingConfig } from "./scaling-config";

/**
 * Application Auto Scaling on one shard's ECS service: a scalable target (minTasks..maxTasks) and
 * target tracking on CPU and, when set, on the routers' calls in flight. Scale-in is off by default
 * (disableScaleIn): a task's deployments stop with it, and PAR does not place them elsewhere.
 *
 * AWS's side, which only a real deploy exercises:
 * - No role is passed: Application Auto Scaling uses its service-linked role
 *   AWSServiceRoleForApplicationAutoScaling_ECSService, which it creates on the first
 *   RegisterScalableTarget if the deployer may call iam:CreateServiceLinkedRole
 *   (https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-service-linked-roles.html).
 * - Target tracking creates and owns its CloudWatch alarms (named TargetTracking-service/...); do not edit them.
 * - The custom metric must scale with capacity: the average of RouterActiveStreams over a shard's tasks
 *   halves when its task count doubles under the same load, which target tracking needs
 *   (https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html).
 */

export const ECS_SCALABLE_DIMENSION = "ecs:service:DesiredCount";

/** RegisterScalableTarget's ResourceId for an ECS service: `service/<cluster name>/<service name>`. */
export function ecsResourceId(clusterName: string, serviceName: string): string {
  return `service/${clusterName}/${serviceName}`;
}

/** The routers' EMF metric a streams policy tracks (router/emf.ts, written per task). */
export interface RouterStreamsMetric {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string>>;
}

export interface TargetTrackingSpec {
  /** Suffix of the policy's logical name. */
  readonly key: "cpu" | "streams";
  readonly targetValue: number;
  readonly disableScaleIn: boolean;
  readonly scaleInCooldown: number;
  readonly scaleOutCooldown: number;
  readonly predefinedMetricSpecification?: { readonly predefinedMetricType: "ECSServiceAverageCPUUtilization" };
  readonly customizedMetricSpecification?: {
    readonly metricName: string;
    readonly namespace: string;
    readonly statistic: "Average";
    readonly unit: "Count";
    readonly dimensions: readonly { readonly name: string; readonly value: string }[];
  };
}

/** The target tracking policies of one shard: CPU always, calls in flight when configured. Pure. */
export function targetTrackingSpecs(config: AutoScalingConfig, streams: RouterStreamsMetric): TargetTrackingSpec[] {
  const common = { disableScaleIn: config.disableScaleIn, scaleInCooldown: config.scaleInCooldownSeconds, scaleOutCooldown: config.scaleOutCooldownSeconds };
  const specs: TargetTrackingSpec[] = [{
    key: "cpu", targetValue: config.cpuPercent, ...common,
    predefinedMetricSpecification: { predefinedMetricType: "ECSServiceAverageCPUUtilization" },
  }];
  if (config.activeStreams !== undefined) {
    specs.push({
      key: "streams", targetValue: config.activeStreams, ...common,
      customizedMetricSpecification: {
        metricName: streams.name, namespace: streams.namespace, statistic: "Average", unit: "Count",
        dimensions: Object.entries(streams.dimensions).map(([name, value]) => ({ name, value })),
      },
    });
  }
  return specs;
}

/**
 * Resource options of an auto-scaled ECS service: `pulumi up` must not set desiredCount back to the
 * configured value over the count auto scaling chose (a scale-in by deploy). The count is still set
 * when the service is created.
 */
export function desiredCountOptions(autoScaled: boolean): pulumi.CustomResourceOptions {
  return autoScaled ? { ignoreChanges: ["desiredCount"] } : {};
}

export interface ServiceAutoScalingArgs {
  readonly clusterName: pulumi.Input<string>;
  readonly serviceName: pulumi.Input<string>;
  readonly config: AutoScalingConfig;
  readonly streamsMetric: RouterStreamsMetric;
  readonly tags?: Record<string, string>;
}

export class ServiceAutoScaling extends pulumi.ComponentResource {
  readonly target: aws.appautoscaling.Target;
  readonly policies: aws.appautoscaling.Policy[];

  constructor(name: string, args: ServiceAutoScalingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:ServiceAutoScaling", name, {}, opts);
    this.target = new aws.appautoscaling.Target(`${name}-target`, {
      serviceNamespace: "ecs",
      scalableDimension: ECS_SCALABLE_DIMENSION,
      resourceId: pulumi.all([args.clusterName, args.serviceName]).apply(([cluster, service]) => ecsResourceId(cluster, service)),
      minCapacity: args.config.minTasks,
      maxCapacity: args.config.maxTasks,
      tags: args.tags,
    }, { parent: this });
    this.policies = targetTrackingSpecs(args.config, args.streamsMetric).map((spec) => {
      const { key, ...configuration } = spec;
      return new aws.appautoscaling.Policy(`${name}-${key}`, {
        policyType: "TargetTrackingScaling",
        serviceNamespace: this.target.serviceNamespace,
        scalableDimension: this.target.scalableDimension,
        resourceId: this.target.resourceId,
        targetTrackingScalingPolicyConfiguration: {
          ...configuration,
          customizedMetricSpecification: configuration.customizedMetricSpecification === undefined ? undefined
            : { ...configuration.customizedMetricSpecification, dimensions: [...configuration.customizedMetricSpecification.dimensions] },
        },
      }, { parent: this });
    });
    this.registerOutputs({ resourceId: this.target.resourceId });
  }
}

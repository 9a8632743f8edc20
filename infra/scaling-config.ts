/**
 * The scaling keys of the stack config: registry shards (docs/decisions/registry-shards.md) and
 * Application Auto Scaling of each shard's ECS service (infra/autoscaling.ts). Pure: raw values
 * in through config.ts's helpers, typed values out, each bad value reported with its key, the value
 * and what is accepted.
 */
import { INSTANCES_PER_SERVICE } from "../registry/cloudmap-listing";

// Cloud Map's instance quotas (https://docs.aws.amazon.com/cloud-map/latest/dg/cloud-map-limits.html):
// per service, not adjustable (the registry's own constant); per namespace, adjustable through Service Quotas.
export const CLOUDMAP_INSTANCES_PER_SERVICE = INSTANCES_PER_SERVICE;
export const CLOUDMAP_DEFAULT_INSTANCES_PER_NAMESPACE = 2000;

export const SCALING_KEYS = [
  "shards", "cloudMapNamespaceQuota",
  "minTasks", "maxTasks", "scaleOnCpuPercent", "scaleOnActiveStreams", "disableScaleIn",
  "scaleOutCooldownSeconds", "scaleInCooldownSeconds",
] as const;

export const MAX_SHARDS = 20;

/** Target tracking on one shard's ECS service; absent: the service keeps `desiredCount` tasks. */
export interface AutoScalingConfig {
  readonly minTasks: number;
  readonly maxTasks: number;
  /** ECSServiceAverageCPUUtilization target, percent. */
  readonly cpuPercent: number;
  /** Average calls in flight per router (the router's RouterActiveStreams metric); undefined: no such policy. */
  readonly activeStreams: number | undefined;
  /**
   * True by default: target tracking never removes a task, because a task's deployments (PAR's agents in
   * it) stop with it and PAR does not place them elsewhere. Set false only where PAR re-places them.
   */
  readonly disableScaleIn: boolean;
  readonly scaleOutCooldownSeconds: number;
  readonly scaleInCooldownSeconds: number;
}

export interface ScalingConfig {
  /** Registry shards: one ECS service and one Cloud Map service each. */
  readonly shards: number;
  /** The account's "Instances per namespace" quota as granted (default 2,000). */
  readonly cloudMapNamespaceQuota: number;
  readonly autoScaling: AutoScalingConfig | undefined;
}

export interface ScalingParseHelpers {
  str(key: string): string | undefined;
  int(key: string, def: number, min: number, max: number): number;
  bool(key: string, def: boolean): boolean;
  bad(key: string, value: string, accepted: string): void;
  problem(text: string): void;
}

const ONLY_WITH_MAX = ["minTasks", "scaleOnCpuPercent", "scaleOnActiveStreams", "disableScaleIn", "scaleOutCooldownSeconds", "scaleInCooldownSeconds"] as const;

/** Reads the scaling keys; `desiredCount` is the (possibly defaulted) desiredCount, `desiredCountSet` whether the user set it. */
export function parseScalingConfig(h: ScalingParseHelpers, desiredCount: number, desiredCountSet: boolean): ScalingConfig {
  const shards = h.int("shards", 1, 1, MAX_SHARDS);
  const cloudMapNamespaceQuota = h.int("cloudMapNamespaceQuota", CLOUDMAP_DEFAULT_INSTANCES_PER_NAMESPACE, 1, 1_000_000);
  if (h.str("maxTasks") === undefined) {
    for (const key of ONLY_WITH_MAX) {
      const v = h.str(key);
      if (v !== undefined) h.problem(`pixell-a2a:${key} = ${JSON.stringify(v)} is only used with auto scaling: set pixell-a2a:maxTasks (the most tasks per shard) too, or remove ${key}`);
    }
    return { shards, cloudMapNamespaceQuota, autoScaling: undefined };
  }
  const maxTasks = h.int("maxTasks", desiredCount, 1, 1000);
  const minTasks = h.int("minTasks", Math.min(desiredCount, maxTasks), 1, 1000);
  if (minTasks > maxTasks) h.bad("minTasks", String(minTasks), `at most pixell-a2a:maxTasks (${maxTasks})`);
  if (desiredCountSet && (desiredCount < minTasks || desiredCount > maxTasks)) {
    h.bad("desiredCount", String(desiredCount), `a task count from pixell-a2a:minTasks to pixell-a2a:maxTasks (${minTasks} to ${maxTasks}): with auto scaling it is only the count a new service starts with`);
  }
  const streams = h.str("scaleOnActiveStreams");
  return {
    shards,
    cloudMapNamespaceQuota,
    autoScaling: {
      minTasks,
      maxTasks,
      cpuPercent: h.int("scaleOnCpuPercent", 60, 10, 95),
      activeStreams: streams === undefined ? undefined : h.int("scaleOnActiveStreams", 1, 1, 1_000_000),
      disableScaleIn: h.bool("disableScaleIn", true),
      scaleOutCooldownSeconds: h.int("scaleOutCooldownSeconds", 60, 0, 3600),
      scaleInCooldownSeconds: h.int("scaleInCooldownSeconds", 300, 0, 3600),
    },
  };
}

/** Valid but risky scaling choices, for `pulumi preview`'s warnings. */
export function scalingWarnings(scaling: ScalingConfig): string[] {
  const warnings: string[] = [];
  const room = scaling.shards * CLOUDMAP_INSTANCES_PER_SERVICE;
  if (room > scaling.cloudMapNamespaceQuota) {
    warnings.push(`pixell-a2a:shards is ${scaling.shards} (room for ${room} deployments) but the Cloud Map namespace holds at most ${scaling.cloudMapNamespaceQuota} instances (pixell-a2a:cloudMapNamespaceQuota): registrations past it fail. Request "Instances per namespace" of at least ${room} in Service Quotas (AWS Cloud Map; adjustable), then set cloudMapNamespaceQuota to the granted value`);
  }
  if (scaling.autoScaling !== undefined && !scaling.autoScaling.disableScaleIn) {
    warnings.push("pixell-a2a:disableScaleIn is false: auto scaling may stop a task, and the deployments PAR placed in it stop with it. Keep this only if PAR re-places deployments from stopped tasks");
  }
  return warnings;
}

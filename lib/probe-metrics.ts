/**
 * The contract between the probe (probe-lambda/) and what watches it (infra/alarm-plan.ts,
 * infra/dashboard.ts, infra/cost.ts): metric names, dimensions and the platform-incident rule's
 * floor. Kept here so both sides read one definition.
 *
 * Fleet counts have no dimension, so their number (and cost) does not grow with the fleet; a
 * deployment or a task gets a series of its own only while it fails (`DeploymentFailing`,
 * `TaskFailing`: 1 while failing, then 0 for a few runs after it recovers so the per-contributor
 * alarm sees it good again). Custom metrics are prorated by the hour and metered only while data
 * is sent (CloudWatch, "Optimizing and reducing costs"), so such a series costs only while it fails.
 */
export const METRIC = {
  DeploymentsProbed: "DeploymentsProbed",
  DeploymentsUnhealthy: "DeploymentsUnhealthy",
  DeploymentsNotProbed: "DeploymentsNotProbed",
  DiscoveryErrors: "DiscoveryErrors",
  /** Every answered Health call's latency in one fleet series (Values/Counts), for percentiles. */
  ProbeLatency: "ProbeLatency",
  TasksProbed: "TasksProbed",
  TasksUnhealthy: "TasksUnhealthy",
  EndpointReachable: "EndpointReachable",
  EndpointConnectTime: "EndpointConnectTime",
  DeploymentFailing: "DeploymentFailing",
  TaskFailing: "TaskFailing",
} as const;

export const DEPLOYMENT_DIMENSION = "DeploymentId";
export const TASK_DIMENSION = "Task";

/** The failure-only series; every other metric is a fleet metric sent every run. */
export const FAILURE_ONLY_METRICS: readonly string[] = [METRIC.DeploymentFailing, METRIC.TaskFailing];

/** Fewest unhealthy deployments in one run that can make a platform incident (small fleets page per deployment). */
export const PLATFORM_MIN_UNHEALTHY = 5;

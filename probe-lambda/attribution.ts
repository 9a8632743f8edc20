/**
 * Who is to blame for what a run saw, as pure functions: a task, the public endpoint, the
 * deployment itself, or the platform as a whole. A broken task is reported as that task, an
 * unreachable endpoint as one endpoint failure, and neither as N failing deployments.
 */
import type { ChannelCheck, DeploymentOutcome, ProbeResult } from "./probe";
import type { ProbeTarget } from "./targets";
import { PLATFORM_MIN_UNHEALTHY } from "../lib/probe-metrics";

export interface TaskVerdict {
  readonly task: string;
  readonly zone?: string;
  readonly reachable: boolean;
  readonly connectMs: number;
  /** Deployments whose first call went through this task. */
  readonly probed: number;
  /** Deployments that failed through this task and answered on another one. */
  readonly failures: number;
  readonly healthy: boolean;
  /** Why it is not healthy, for the log line and the table. */
  readonly reason?: string;
}

/**
 * A task is unhealthy when its channel never became ready, or when a deployment failed through
 * it and then answered through another task (the deployment is fine: the task is not). Codes of
 * those failures are listed so the log says what the task answered.
 */
export function taskVerdicts(targets: readonly ProbeTarget[], checks: ReadonlyMap<string, ChannelCheck>, outcomes: readonly DeploymentOutcome[]): TaskVerdict[] {
  return targets.map((t) => {
    const check = checks.get(t.id) ?? { reachable: false, connectMs: 0, error: "not checked" };
    const zone = t.zone === undefined ? {} : { zone: t.zone };
    if (!check.reachable) {
      return { task: t.id, ...zone, reachable: false, connectMs: check.connectMs, probed: 0, failures: 0, healthy: false, reason: `not reachable: ${check.error ?? "connect failed"}` };
    }
    let probed = 0;
    const blamed: ProbeResult[] = [];
    for (const o of outcomes) {
      const first = o.attempts[0];
      if (first?.via !== t.id) continue;
      probed++;
      if (!first.ok && o.ok && o.via !== t.id) blamed.push(first);
    }
    if (blamed.length === 0) return { task: t.id, ...zone, reachable: true, connectMs: check.connectMs, probed, failures: 0, healthy: true };
    const codes = [...new Set(blamed.map((b) => b.codeName))].sort().join(", ");
    return {
      task: t.id, ...zone, reachable: true, connectMs: check.connectMs, probed, failures: blamed.length, healthy: false,
      reason: `${blamed.length} of ${probed} deployments failed here (${codes}: ${blamed[0]!.message}) and answered on another task`,
    };
  });
}

/**
 * A deployment that failed on two tasks is reported with the attempt through a healthy task:
 * when the second opinion came from the broken task, its answer (e.g. NOT_FOUND from a stale
 * router) says nothing about the deployment.
 */
export function reportedOutcome(o: DeploymentOutcome, unhealthyTasks: ReadonlySet<string>): DeploymentOutcome {
  if (o.ok || o.attempts.length < 2) return o;
  const best = o.attempts.find((a) => !unhealthyTasks.has(a.via)) ?? o.attempts.at(-1)!;
  return { ...best, attempts: o.attempts };
}

export interface EndpointVerdict {
  readonly reachable: boolean;
  readonly connectMs: number;
  /** The deployments sent through the endpoint this run (a sample when tasks carried the rest). */
  readonly sampled: number;
  readonly reason?: string;
}

/**
 * The public endpoint (NLB, TLS, DNS, security groups) end to end. Unreachable: its channel never
 * became ready. With tasks probed directly, a sampled deployment that answered on a task but failed
 * through the endpoint also counts against the endpoint, unless a task is unhealthy this run (the
 * NLB may have sent that call to the broken task, which is reported already).
 */
export function endpointVerdict(check: ChannelCheck, sample: readonly ProbeResult[], direct: ReadonlyMap<string, DeploymentOutcome>, anyTaskUnhealthy: boolean): EndpointVerdict {
  if (!check.reachable) return { reachable: false, connectMs: check.connectMs, sampled: 0, reason: `not reachable: ${check.error ?? "connect failed"}` };
  const broken = anyTaskUnhealthy ? [] : sample.filter((s) => !s.ok && direct.get(s.deploymentId)?.ok === true);
  if (broken.length === 0) return { reachable: true, connectMs: check.connectMs, sampled: sample.length };
  return {
    reachable: false, connectMs: check.connectMs, sampled: sample.length,
    reason: `${broken.length} of ${sample.length} sampled deployments answered on their task but failed through the endpoint (${broken[0]!.codeName}: ${broken[0]!.message})`,
  };
}

export { PLATFORM_MIN_UNHEALTHY };

/**
 * A run in which at least `percent` % of the probed deployments (and at least
 * PLATFORM_MIN_UNHEALTHY of them) fail is a platform incident: the fleet alarm pages once, and
 * the per-deployment series of deployments that were not failing already are withheld, so one
 * outage is not a hundred pages. The fleet alarm (infra/alarm-plan.ts) uses the same rule.
 */
export function isPlatformIncident(probed: number, unhealthy: number, percent: number): boolean {
  return unhealthy >= PLATFORM_MIN_UNHEALTHY && probed > 0 && (100 * unhealthy) / probed >= percent;
}

/**
 * Every timing of a task's shutdown (deploy or scale-in), in one place, and the order they must
 * keep. Pure: the NLB target group, Envoy's connection manager, the Envoy entrypoint's env and
 * the containers' stop timeouts all read `shutdownPlan()`; `shutdownProblems` says what breaks.
 *
 * The sequence (docs/infra.md "Shutdown timeline" has it with seconds):
 * 1. ECS puts the task in DEACTIVATING and deregisters it from the target groups; the NLB stops
 *    opening connections to it ("target group deregistration occurs during this state",
 *    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html).
 * 2. Envoy knows nothing of this, but every downstream connection reaches its
 *    `max_connection_duration` at most that long after it opened, so within
 *    `maxConnectionDuration + propagationAllowance` of the deregistration every connection, idle
 *    or carrying one long stream, has had a GOAWAY and its client has moved new calls to a new
 *    connection, which the NLB sends to a live task. Envoy's drain on SIGTERM (`/healthcheck/fail`)
 *    cannot do this: it only sends GOAWAY when it encodes response headers on a connection
 *    (`ConnectionManagerImpl` checks `drain_close_.drainClose()` in `encodeHeaders`; the same holds
 *    for `/drain_listeners?graceful`, which only makes `drainClose()` true for a while), so an idle
 *    connection would never get one.
 * 3. After `drain_timeout` Envoy sends the final GOAWAY; it closes the connection once its last
 *    stream ends (`onDrainTimeout` -> `checkForDeferredClose`).
 * 4. At the end of the deregistration delay the NLB resets whatever is left
 *    (`deregistration_delay.connection_termination.enabled`: "Indicates whether the load balancer
 *    terminates connections at the end of the deregistration timeout", ELB API TargetGroupAttribute).
 *    ELB ends it early ("If a deregistering target has no in-flight requests and no active
 *    connections, Elastic Load Balancing immediately completes the deregistration process",
 *    ELB target group docs), and ECS waits for that (target UNUSED) before it stops the task
 *    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/load-balancer-connection-draining.html).
 * 5. STOPPING: SIGTERM, in reverse `dependsOn` order ("for container shutdown it is reversed",
 *    ECS ContainerDependency): Envoy first (entrypoint drains `envoyDrainSeconds`), then the router
 *    (`routerDrainMs`), then PAR; each gets SIGKILL `stopTimeout` seconds after its SIGTERM
 *    (Fargate: at most 120 s, ECS ContainerDefinition.stopTimeout).
 */

/** ECS ContainerDefinition.stopTimeout: "For tasks that use the Fargate launch type, the max stop timeout value is 120 seconds". */
export const FARGATE_MAX_STOP_TIMEOUT_SECONDS = 120;
/** ELB TargetGroupAttribute `deregistration_delay.timeout_seconds`: "The range is 0-3600 seconds". */
export const ELB_MAX_DEREGISTRATION_DELAY_SECONDS = 3600;

export const DEFAULT_ROUTER_DRAIN_MS = 20_000;

export interface ShutdownPlan {
  /** NLB `deregistration_delay.timeout_seconds` (A2A and REST target groups). */
  readonly deregistrationDelaySeconds: number;
  /** NLB `deregistration_delay.connection_termination.enabled`: reset what is left at the end of the delay. */
  readonly connectionTermination: boolean;
  /**
   * How long after deregistration starts the NLB may still open a connection to the task ("the
   * target may still receive connections due to configuration propagation delay", NLB docs). Not
   * published by AWS: an allowance, to be checked on a real deploy.
   */
  readonly propagationAllowanceSeconds: number;
  /** Envoy HCM `common_http_protocol_options.max_connection_duration` on the A2A listener. */
  readonly maxConnectionDurationSeconds: number;
  /** Envoy HCM `drain_timeout`: first GOAWAY to final GOAWAY (Envoy's default is 5 s). */
  readonly drainTimeoutSeconds: number;
  /** Calls in flight on a connection when its GOAWAY comes must get at least this long before the NLB resets them. */
  readonly minCallBudgetSeconds: number;
  /** ENVOY_DRAIN_SECONDS: the entrypoint keeps Envoy up this long after SIGTERM, health checks failing. */
  readonly envoyDrainSeconds: number;
  /** Envoy's stopTimeout beyond its drain: the entrypoint's admin call (3 s at most) and Envoy's exit. */
  readonly envoyStopMarginSeconds: number;
  /** ROUTER_DRAIN_MS (`pixell-a2a:routerDrainMs`). */
  readonly routerDrainMs: number;
  /** The router's and PAR's stopTimeout beyond the router's drain. */
  readonly routerStopMarginSeconds: number;
  /** How long the NLB takes to mark a target unhealthy (A2A health check interval × unhealthy threshold). */
  readonly nlbUnhealthyAfterSeconds: number;
}

/** The plan for a router drain time (the one value a stack sets; everything else is fixed here). */
export function shutdownPlan(routerDrainMs: number = DEFAULT_ROUTER_DRAIN_MS): ShutdownPlan {
  return {
    deregistrationDelaySeconds: 120,
    connectionTermination: true,
    propagationAllowanceSeconds: 10,
    // Also rebalances long-lived client connections across tasks after a scale-out.
    maxConnectionDurationSeconds: 60,
    drainTimeoutSeconds: 5,
    minCallBudgetSeconds: 30,
    // At least the NLB's time to take a failing target out, for a task stopped without deregistration.
    envoyDrainSeconds: 20,
    envoyStopMarginSeconds: 5,
    routerDrainMs,
    routerStopMarginSeconds: 5,
    nlbUnhealthyAfterSeconds: 20,
  };
}

/** Seconds from deregistration until every connection has had its first GOAWAY. */
export function allGoAwaySentBySeconds(plan: ShutdownPlan): number {
  return plan.propagationAllowanceSeconds + plan.maxConnectionDurationSeconds;
}

/** Seconds a call started on a connection just before its final GOAWAY has before the NLB resets it. */
export function callBudgetSeconds(plan: ShutdownPlan): number {
  return plan.deregistrationDelaySeconds - allGoAwaySentBySeconds(plan) - plan.drainTimeoutSeconds;
}

export function envoyStopTimeoutSeconds(plan: ShutdownPlan): number {
  return plan.envoyDrainSeconds + plan.envoyStopMarginSeconds;
}

/** Seconds ECS waits after SIGTERM before SIGKILL for the router (and PAR): the router's drain plus a margin. */
export function routerStopTimeoutSeconds(drainMs: number, plan: ShutdownPlan = shutdownPlan(drainMs)): number {
  return Math.ceil(drainMs / 1000) + plan.routerStopMarginSeconds;
}

/** The accepted `routerDrainMs`: at least Envoy's drain, at most what fits in Fargate's stop timeout with the margin. */
export function routerDrainMsRange(plan: ShutdownPlan = shutdownPlan()): { readonly min: number; readonly max: number } {
  return { min: plan.envoyDrainSeconds * 1000, max: (FARGATE_MAX_STOP_TIMEOUT_SECONDS - plan.routerStopMarginSeconds) * 1000 };
}

/** What is out of order in a plan, one readable line per problem (empty when it holds). */
export function shutdownProblems(plan: ShutdownPlan): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, message: string): void => {
    if (!ok) problems.push(message);
  };
  for (const [name, value] of Object.entries(plan)) {
    if (typeof value === "number") need(Number.isInteger(value) && value >= 0, `${name} ${value} must be a whole number of ${name.endsWith("Ms") ? "milliseconds" : "seconds"}, 0 or more`);
  }
  need(plan.connectionTermination, "connectionTermination must be true: without it the NLB may keep a stopped task's connections past the deregistration delay, and Envoy's SIGTERM would then reset them without a GOAWAY");
  need(plan.deregistrationDelaySeconds <= ELB_MAX_DEREGISTRATION_DELAY_SECONDS, `deregistrationDelaySeconds ${plan.deregistrationDelaySeconds} is above ELB's maximum of ${ELB_MAX_DEREGISTRATION_DELAY_SECONDS}`);
  need(plan.maxConnectionDurationSeconds > 0, "maxConnectionDurationSeconds must be above 0: it is what sends idle connections a GOAWAY");
  need(plan.drainTimeoutSeconds < plan.maxConnectionDurationSeconds, `drainTimeoutSeconds ${plan.drainTimeoutSeconds} must be below maxConnectionDurationSeconds ${plan.maxConnectionDurationSeconds}`);
  const budget = callBudgetSeconds(plan);
  need(budget >= plan.minCallBudgetSeconds,
    `deregistrationDelaySeconds ${plan.deregistrationDelaySeconds} leaves calls ${budget} s after the last final GOAWAY (propagation ${plan.propagationAllowanceSeconds} + max connection duration ${plan.maxConnectionDurationSeconds} + drain timeout ${plan.drainTimeoutSeconds}); at least ${plan.minCallBudgetSeconds} s are needed`);
  need(plan.envoyDrainSeconds >= plan.nlbUnhealthyAfterSeconds,
    `envoyDrainSeconds ${plan.envoyDrainSeconds} must be at least the NLB's ${plan.nlbUnhealthyAfterSeconds} s to take a failing target out`);
  need(plan.envoyStopMarginSeconds >= 4, `envoyStopMarginSeconds ${plan.envoyStopMarginSeconds} must cover the entrypoint's admin call (3 s at most) and Envoy's exit: 4 s or more`);
  need(envoyStopTimeoutSeconds(plan) <= FARGATE_MAX_STOP_TIMEOUT_SECONDS,
    `Envoy's stopTimeout ${envoyStopTimeoutSeconds(plan)} s (drain ${plan.envoyDrainSeconds} + margin ${plan.envoyStopMarginSeconds}) is above Fargate's ${FARGATE_MAX_STOP_TIMEOUT_SECONDS} s`);
  const range = routerDrainMsRange(plan);
  need(plan.routerDrainMs >= range.min,
    `routerDrainMs ${plan.routerDrainMs} must be at least Envoy's drain (${range.min} ms): the router must outlast Envoy when both get SIGTERM at once`);
  need(routerStopTimeoutSeconds(plan.routerDrainMs, plan) <= FARGATE_MAX_STOP_TIMEOUT_SECONDS,
    `routerDrainMs ${plan.routerDrainMs} makes the router's stopTimeout ${routerStopTimeoutSeconds(plan.routerDrainMs, plan)} s (drain + ${plan.routerStopMarginSeconds} s), above Fargate's ${FARGATE_MAX_STOP_TIMEOUT_SECONDS} s: at most ${range.max} ms`);
  need(plan.routerStopMarginSeconds >= 1, `routerStopMarginSeconds ${plan.routerStopMarginSeconds} must be at least 1`);
  return problems;
}

/** The plan, or an error listing every problem (so nothing out of order reaches a task definition). */
export function checkedShutdownPlan(routerDrainMs: number = DEFAULT_ROUTER_DRAIN_MS): ShutdownPlan {
  const plan = shutdownPlan(routerDrainMs);
  const problems = shutdownProblems(plan);
  if (problems.length > 0) throw new Error(`shutdown timings out of order:\n  ${problems.join("\n  ")}`);
  return plan;
}

export interface TimelineStep {
  /** Seconds after deregistration starts (worst case). */
  readonly atSeconds: number;
  readonly what: string;
  /** The values that set this step. */
  readonly setBy: string;
}

/** The worst-case timeline from "target deregistering" to "task stopped" (docs/infra.md prints it). */
export function shutdownTimeline(plan: ShutdownPlan): TimelineStep[] {
  const goAway = allGoAwaySentBySeconds(plan);
  const sigterm = plan.deregistrationDelaySeconds;
  const envoyDown = sigterm + envoyStopTimeoutSeconds(plan);
  const routerDown = envoyDown + routerStopTimeoutSeconds(plan.routerDrainMs, plan);
  const parDown = routerDown + routerStopTimeoutSeconds(plan.routerDrainMs, plan);
  return [
    { atSeconds: 0, what: "ECS deregisters the task (DEACTIVATING); the NLB stops opening connections to it", setBy: "ECS" },
    { atSeconds: plan.propagationAllowanceSeconds, what: "last new connection the NLB may still open (propagation)", setBy: "propagationAllowanceSeconds (an allowance)" },
    { atSeconds: goAway, what: "every connection has had its first GOAWAY; clients open new connections to live tasks", setBy: "maxConnectionDurationSeconds (HCM max_connection_duration)" },
    { atSeconds: goAway + plan.drainTimeoutSeconds, what: "every connection has had its final GOAWAY; idle ones are closed, the others close when their calls end", setBy: "drainTimeoutSeconds (HCM drain_timeout)" },
    { atSeconds: sigterm, what: "the NLB resets what is left; ECS sends SIGTERM to Envoy (earlier once no connection is left)", setBy: "deregistrationDelaySeconds, connectionTermination" },
    { atSeconds: envoyDown, what: "Envoy has stopped (drain, then SIGTERM; SIGKILL at the latest)", setBy: "envoyDrainSeconds (ENVOY_DRAIN_SECONDS), Envoy stopTimeout" },
    { atSeconds: routerDown, what: "the router has stopped", setBy: "routerDrainMs (ROUTER_DRAIN_MS), router stopTimeout" },
    { atSeconds: parDown, what: "PAR has stopped: the task is stopped", setBy: "PAR stopTimeout" },
  ];
}

/** The timeline as the Markdown table docs/infra.md carries (a test keeps the two equal). */
export function shutdownTimelineMarkdown(plan: ShutdownPlan): string {
  const rows = shutdownTimeline(plan).map((s) => `| ${s.atSeconds} s | ${s.what} | ${s.setBy} |`);
  return ["| At (worst case) | What happens | Set by |", "|---|---|---|", ...rows].join("\n");
}

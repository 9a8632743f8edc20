/**
 * One probe run: discover the deployments and the tasks, check the endpoint and each task's
 * channel, probe every deployment through the tasks (or through the endpoint when no task is
 * listed), attribute the failures, emit, log. Shared by the Lambda handler, `npm run probe` and
 * the local mode; each brings its own discovery, channels and sink.
 */
import type * as grpc from "@grpc/grpc-js";
import { silentLogger, type Logger } from "../lib/log";
import { alignColumns } from "../lib/table";
import { endpointVerdict, isPlatformIncident, reportedOutcome, taskVerdicts, type EndpointVerdict, type TaskVerdict } from "./attribution";
import { PROBE_DEFAULTS } from "./config";
import { DiscoveryError, type Discovery } from "./discover";
import { EMPTY_MEMORY, planSeries, type ProbeMemory } from "./memory";
import { buildMetricBatches, type MetricBatch } from "./metrics";
import { probeOrder, rotation } from "./order";
import { connectChannel, probeAll, probeThroughTasks, type ChannelCheck, type DeploymentOutcome, type ProbeResult } from "./probe";
import type { ProbeTarget, TargetList } from "./targets";

/** Runs after a recovery during which a failure-only series still gets 0 (the alarms look at three runs). */
export const RECOVERY_TAIL_RUNS = 3;

export interface ProbeSummary {
  readonly probed: number;
  readonly healthy: number;
  readonly unhealthy: number;
  /** Deployments skipped: the run ran out of time, or nothing could reach them. */
  readonly notProbed: number;
  /** True when discovery may have listed only part of the deployments. */
  readonly truncated: boolean;
  readonly durationMs: number;
  /** `tasks`: each deployment through a task, the endpoint sampled; `endpoint`: everything through the endpoint. */
  readonly mode: "tasks" | "endpoint";
  readonly results: DeploymentOutcome[];
  readonly notProbedIds: string[];
  /** Why the notProbed ones were skipped. */
  readonly notProbedReason?: string;
  readonly tasks: TaskVerdict[];
  /** The target list could not be read (the run went through the endpoint alone). */
  readonly targetError?: string;
  readonly endpoint: EndpointVerdict;
  /** At least the fleet alarm's share failed: new per-deployment series were withheld (one page, not many). */
  readonly platformIncident: boolean;
  /** Deployments whose DeploymentFailing series is 1 this run. */
  readonly failingSeries: string[];
}

/** Where metric batches go: PutMetricData in AWS, EMF lines on stdout locally. */
export type MetricSink = (batches: MetricBatch[]) => Promise<void>;

/** Carries ProbeMemory from one run to the next in the same process. */
export interface MemoryCell {
  memory: ProbeMemory;
}

export interface RunProbeOptions {
  readonly discover: () => Promise<Discovery>;
  /** The tasks behind the endpoint; omit to probe everything through `client`. */
  readonly discoverTargets?: () => Promise<TargetList>;
  /** The public endpoint's channel; the caller owns (and closes) it. */
  readonly client: grpc.Client;
  /** Opens a channel to one task (closed by runProbe). */
  readonly taskClient?: (target: ProbeTarget) => grpc.Client;
  readonly timeoutMs: number;
  readonly concurrency: number;
  /** Epoch ms by which every probe must have finished (the Lambda's time limit minus a reserve). */
  readonly deadlineAt?: number;
  readonly metricsNamespace?: string;
  /** Deployments also sent through the endpoint when tasks carry the rest (default 3). */
  readonly endpointSample?: number;
  /** Share of unhealthy deployments (%) that makes a run a platform incident (default 25). */
  readonly platformPercent?: number;
  /** Omit to emit nothing (the local mode's table). */
  readonly sink?: MetricSink;
  readonly logger?: Logger;
  /** State handed from run to run; omit for a run on its own. */
  readonly memory?: MemoryCell;
  readonly random?: () => number;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function closeAll(clients: Iterable<grpc.Client>): Promise<void> {
  for (const c of clients) c.close();
}

/**
 * Runs once. A failure to list the deployments emits DiscoveryErrors = 1 and rethrows (the
 * Lambda's Errors metric must see it); a failure to list the tasks is counted as a discovery
 * error and the run goes on through the endpoint; everything after that becomes data.
 */
export async function runProbe(opts: RunProbeOptions): Promise<ProbeSummary> {
  const logger = opts.logger ?? silentLogger;
  const namespace = opts.metricsNamespace ?? PROBE_DEFAULTS.metricsNamespace;
  const random = opts.random ?? Math.random;
  const memory = opts.memory?.memory ?? EMPTY_MEMORY;
  const started = Date.now();
  const fits = (): boolean => opts.deadlineAt === undefined || Date.now() + opts.timeoutMs <= opts.deadlineAt;

  let discovery: Discovery;
  try {
    discovery = await opts.discover();
  } catch (err) {
    const message = errorText(err);
    logger.error({ err: message, discoveryErrors: 1 }, "probe run failed: cannot list deployments");
    await opts.sink?.(buildMetricBatches({ discoveryFailed: true }, new Date(), namespace));
    throw err instanceof DiscoveryError ? err : new DiscoveryError(message, { cause: err });
  }

  let targets: ProbeTarget[] = [];
  let targetError: string | undefined;
  if (opts.discoverTargets && opts.taskClient) {
    try {
      const list = await opts.discoverTargets();
      targets = [...list.targets].sort((a, b) => a.id.localeCompare(b.id));
      if (list.skipped.length > 0) logger.info({ skipped: list.skipped }, "targets not probed (registering, draining or unused: the NLB sends them no new connections)");
    } catch (err) {
      targetError = errorText(err);
      logger.error({ err: targetError, discoveryErrors: 1 }, "cannot list the tasks: probing through the endpoint only");
    }
  }

  const order = probeOrder(discovery.ids, memory.notProbed, random);
  const taskClients = new Map(targets.map((t) => [t.id, opts.taskClient!(t)]));
  try {
    // Channels first: an unreachable endpoint or task is one failure, not one per deployment.
    const connectTimeout = opts.timeoutMs;
    const [endpointCheck, ...taskChecks] = await Promise.all([
      connectChannel(opts.client, connectTimeout),
      ...targets.map((t) => connectChannel(taskClients.get(t.id)!, connectTimeout)),
    ]) as [ChannelCheck, ...ChannelCheck[]];
    const checks = new Map(targets.map((t, i) => [t.id, taskChecks[i]!]));
    const reachableTasks = targets.filter((t) => checks.get(t.id)!.reachable).map((t) => ({ id: t.id, client: taskClients.get(t.id)! }));

    let outcomes: DeploymentOutcome[];
    let notProbedIds: string[];
    let notProbedReason: string | undefined;
    let sample: ProbeResult[] = [];
    const mode: ProbeSummary["mode"] = reachableTasks.length > 0 ? "tasks" : "endpoint";
    const probeOpts = { timeoutMs: opts.timeoutMs, concurrency: opts.concurrency, ...(opts.deadlineAt === undefined ? {} : { deadlineAt: opts.deadlineAt }) };
    if (mode === "tasks") {
      const sampleIds = endpointCheck.reachable ? order.slice(0, opts.endpointSample ?? 3) : [];
      const [direct, viaEndpoint] = await Promise.all([
        probeThroughTasks(reachableTasks, order, { ...probeOpts, offset: rotation(reachableTasks.length, random) }),
        sampleIds.length > 0 && fits() ? probeAll(opts.client, sampleIds, probeOpts) : Promise.resolve({ results: [], notProbed: [] }),
      ]);
      outcomes = direct.outcomes;
      notProbedIds = direct.notProbed;
      sample = viaEndpoint.results;
    } else if (endpointCheck.reachable) {
      const all = await probeAll(opts.client, order, probeOpts);
      outcomes = all.results.map((r) => ({ ...r, via: "endpoint", attempts: [{ ...r, via: "endpoint" }] }));
      notProbedIds = all.notProbed;
    } else {
      outcomes = [];
      notProbedIds = [...discovery.ids].sort();
      notProbedReason = `nothing reaches the deployments: the endpoint is not reachable (${endpointCheck.error ?? "connect failed"})` +
        (targets.length > 0 ? " and no task is" : targetError !== undefined ? " and the tasks could not be listed" : "");
    }
    if (notProbedIds.length > 0 && notProbedReason === undefined) notProbedReason = "the run's time budget was used up";

    const tasks = taskVerdicts(targets, checks, outcomes);
    const unhealthyTasks = new Set(tasks.filter((t) => !t.healthy).map((t) => t.task));
    // Reported in id order; the probe order is the run's business.
    outcomes = outcomes.map((o) => reportedOutcome(o, unhealthyTasks)).sort((a, b) => a.deploymentId.localeCompare(b.deploymentId));
    const direct = new Map(outcomes.map((o) => [o.deploymentId, o]));
    const endpoint = endpointVerdict(endpointCheck, sample, mode === "tasks" ? direct : new Map(), tasks.some((t) => !t.healthy));
    const failed = outcomes.filter((o) => !o.ok);
    const platformIncident = isPlatformIncident(outcomes.length, failed.length, opts.platformPercent ?? 25);

    // Deployments not judged this run keep their series' place; so do tasks when none could be listed.
    const deploymentSeries = planSeries(memory.deployments, failed.map((o) => o.deploymentId), notProbedIds, RECOVERY_TAIL_RUNS, platformIncident);
    const taskSeries = targetError !== undefined
      ? { failing: [], recovered: [], next: memory.tasks }
      : planSeries(memory.tasks, tasks.filter((t) => !t.healthy).map((t) => t.task), [], RECOVERY_TAIL_RUNS);
    if (opts.memory) opts.memory.memory = { notProbed: notProbedIds, deployments: deploymentSeries.next, tasks: taskSeries.next };

    const summary: ProbeSummary = {
      probed: outcomes.length,
      healthy: outcomes.length - failed.length,
      unhealthy: failed.length,
      notProbed: notProbedIds.length,
      truncated: discovery.truncated,
      durationMs: Date.now() - started,
      mode,
      results: outcomes,
      notProbedIds,
      ...(notProbedReason === undefined ? {} : { notProbedReason }),
      tasks,
      ...(targetError === undefined ? {} : { targetError }),
      endpoint,
      platformIncident,
      failingSeries: deploymentSeries.failing,
    };

    await opts.sink?.(buildMetricBatches({
      discoveryFailed: false,
      discoveryDegraded: discovery.truncated || targetError !== undefined,
      probed: summary.probed,
      unhealthy: summary.unhealthy,
      notProbed: summary.notProbed,
      latenciesMs: outcomes.filter((o) => o.code === 0).map((o) => o.latencyMs),
      failing: deploymentSeries.failing,
      recovered: deploymentSeries.recovered,
      tasks: { probed: tasks.length, unhealthy: tasks.filter((t) => !t.healthy).length, failing: taskSeries.failing, recovered: taskSeries.recovered },
      endpoint: { reachable: endpoint.reachable, connectMs: endpoint.connectMs },
    }, new Date(), namespace));

    logRun(logger, summary);
    return summary;
  } finally {
    await closeAll(taskClients.values());
  }
}

/**
 * One line per failing deployment, task and endpoint (Logs Insights reads each line's fields
 * without `parse`), then the summary. The caller's logger carries the Lambda request id.
 */
function logRun(logger: Logger, s: ProbeSummary): void {
  for (const o of s.results) {
    if (o.ok) continue;
    logger.warn({
      deploymentId: o.deploymentId, code: o.codeName, message: o.message, task: o.via, latencyMs: o.latencyMs,
      ...(o.attempts.length > 1 ? { alsoFailedOn: o.attempts.slice(0, -1).map((a) => a.via) } : {}),
    }, "deployment failing");
  }
  for (const t of s.tasks) if (!t.healthy) logger.warn({ task: t.task, zone: t.zone, reachable: t.reachable, failures: t.failures, probed: t.probed, reason: t.reason }, "task failing");
  if (!s.endpoint.reachable) logger.warn({ reason: s.endpoint.reason, connectMs: s.endpoint.connectMs }, "endpoint failing");
  logger.info({
    mode: s.mode,
    probed: s.probed,
    healthy: s.healthy,
    unhealthy: s.unhealthy,
    notProbed: s.notProbed,
    ...(s.notProbedReason === undefined ? {} : { notProbedReason: s.notProbedReason }),
    truncated: s.truncated,
    tasks: s.tasks.length,
    tasksUnhealthy: s.tasks.filter((t) => !t.healthy).length,
    endpointReachable: s.endpoint.reachable,
    endpointConnectMs: s.endpoint.connectMs,
    platformIncident: s.platformIncident,
    durationMs: s.durationMs,
    ...(s.targetError === undefined ? {} : { targetError: s.targetError }),
  }, "probe run summary");
}

/** The run as tables for a terminal (the local mode and the CLI): deployments, tasks, endpoint. */
export function formatProbeTable(summary: ProbeSummary): string {
  const rows = summary.results.map((r) => [r.deploymentId, r.ok ? "healthy" : "UNHEALTHY", r.codeName, `${r.latencyMs.toFixed(1)} ms`, r.via, r.ok ? "" : r.message]);
  for (const id of summary.notProbedIds) rows.push([id, "NOT PROBED", "-", "-", "-", summary.notProbedReason ?? "run out of time"]);
  const lines = alignColumns([["DEPLOYMENT", "HEALTH", "CODE", "LATENCY", "VIA", "MESSAGE"], ...rows]);
  if (summary.tasks.length > 0) {
    lines.push("", ...alignColumns([
      ["TASK", "HEALTH", "CONNECT", "PROBED", "FAILED", "REASON"],
      ...summary.tasks.map((t) => [t.task, t.healthy ? "healthy" : "UNHEALTHY", t.reachable ? `${t.connectMs.toFixed(1)} ms` : "-", String(t.probed), String(t.failures), t.reason ?? ""]),
    ]));
  }
  const e = summary.endpoint;
  lines.push(`endpoint: ${e.reachable ? `reachable in ${e.connectMs.toFixed(1)} ms` : `FAILING (${e.reason ?? "not reachable"})`}` +
    (summary.mode === "tasks" ? `, ${e.sampled} deployments sampled through it` : ", every deployment through it"));
  if (summary.targetError !== undefined) lines.push(`tasks: not listed (${summary.targetError})`);
  lines.push(`${summary.healthy}/${summary.probed} healthy` +
    (summary.notProbed > 0 ? `, ${summary.notProbed} not probed` : "") +
    (summary.truncated ? ", list truncated" : "") +
    (summary.platformIncident ? ", PLATFORM INCIDENT" : "") +
    ` in ${summary.durationMs} ms`);
  return lines.join("\n");
}

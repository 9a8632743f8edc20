/**
 * One probe run: discover, probe, emit, summarize. Shared by the Lambda handler, the
 * `npm run probe` command and the local mode; each brings its own discovery and sink.
 */
import type * as grpc from "@grpc/grpc-js";
import { silentLogger, type Logger } from "../router/log";
import { PROBE_DEFAULTS } from "./config";
import { DiscoveryError, type Discovery } from "./discover";
import { buildMetricBatches, type MetricBatch } from "./metrics";
import { probeAll, type ProbeResult } from "./probe";
import { alignColumns } from "../client/table";

export interface ProbeSummary {
  readonly probed: number;
  readonly healthy: number;
  readonly unhealthy: number;
  /** Deployments skipped because the run ran out of time. */
  readonly notProbed: number;
  /** True when discovery may have listed only part of the deployments. */
  readonly truncated: boolean;
  readonly durationMs: number;
  readonly results: ProbeResult[];
  readonly notProbedIds: string[];
}

/** Where metric batches go: PutMetricData in AWS, EMF lines on stdout locally. */
export type MetricSink = (batches: MetricBatch[]) => Promise<void>;

export interface RunProbeOptions {
  readonly discover: () => Promise<Discovery>;
  /** The one channel of the run; the caller owns (and closes) it. */
  readonly client: grpc.Client;
  readonly timeoutMs: number;
  readonly concurrency: number;
  /** Epoch ms by which every probe must have finished (the Lambda's time limit minus a reserve). */
  readonly deadlineAt?: number;
  readonly metricsNamespace?: string;
  /** Omit to emit nothing (the local mode's table). */
  readonly sink?: MetricSink;
  readonly logger?: Logger;
}

/** Most failures listed in the summary log line (CloudWatch Logs events are capped at 256 KB). */
const MAX_LOGGED_FAILURES = 200;

/**
 * Runs once. A discovery failure emits DiscoveryErrors = 1 and rethrows (the Lambda's
 * Errors metric must see it); everything after discovery becomes data in the summary.
 */
export async function runProbe(opts: RunProbeOptions): Promise<ProbeSummary> {
  const logger = opts.logger ?? silentLogger;
  const namespace = opts.metricsNamespace ?? PROBE_DEFAULTS.metricsNamespace;
  const started = Date.now();
  let discovery: Discovery;
  try {
    discovery = await opts.discover();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    logger.error({ err: message, discoveryErrors: 1 }, "probe run failed: cannot list deployments");
    await opts.sink?.(buildMetricBatches({ results: [], notProbed: 0, discoveryFailed: true }, new Date(), namespace));
    throw err instanceof DiscoveryError ? err : new DiscoveryError(message, { cause: err });
  }

  const outcome = await probeAll(opts.client, discovery.ids, {
    timeoutMs: opts.timeoutMs,
    concurrency: opts.concurrency,
    ...(opts.deadlineAt === undefined ? {} : { deadlineAt: opts.deadlineAt }),
  });
  const healthy = outcome.results.filter((r) => r.ok).length;
  const summary: ProbeSummary = {
    probed: outcome.results.length,
    healthy,
    unhealthy: outcome.results.length - healthy,
    notProbed: outcome.notProbed.length,
    truncated: discovery.truncated,
    durationMs: Date.now() - started,
    results: outcome.results,
    notProbedIds: outcome.notProbed,
  };
  await opts.sink?.(buildMetricBatches({
    results: outcome.results, notProbed: outcome.notProbed.length, discoveryFailed: false, discoveryTruncated: discovery.truncated,
    ...(discovery.shards ? { shards: discovery.shards } : {}),
  }, new Date(), namespace));

  const failures = outcome.results.filter((r) => !r.ok);
  logger.info({
    probed: summary.probed,
    healthy: summary.healthy,
    unhealthy: summary.unhealthy,
    notProbed: summary.notProbed,
    truncated: summary.truncated,
    durationMs: summary.durationMs,
    ...(discovery.shards ? { registeredInstances: Object.fromEntries(discovery.shards.map((s) => [s.service, s.instances])) } : {}),
    failures: failures.slice(0, MAX_LOGGED_FAILURES).map((r) => ({ deploymentId: r.deploymentId, code: r.codeName, message: r.message, latencyMs: r.latencyMs })),
    ...(failures.length > MAX_LOGGED_FAILURES ? { failuresOmitted: failures.length - MAX_LOGGED_FAILURES } : {}),
    ...(outcome.notProbed.length > 0 ? { notProbedIds: outcome.notProbed.slice(0, MAX_LOGGED_FAILURES) } : {}),
  }, "probe run summary");
  return summary;
}

/** A short fixed-width table of a summary, for the local mode's console. */
export function formatProbeTable(summary: ProbeSummary): string {
  const rows = summary.results.map((r) => [r.deploymentId, r.ok ? "healthy" : "UNHEALTHY", r.codeName, `${r.latencyMs.toFixed(1)} ms`, r.ok ? "" : r.message]);
  for (const id of summary.notProbedIds) rows.push([id, "NOT PROBED", "-", "-", "run out of time"]);
  const header = ["DEPLOYMENT", "HEALTH", "CODE", "LATENCY", "MESSAGE"];
  const footer = `${summary.healthy}/${summary.probed} healthy` +
    (summary.notProbed > 0 ? `, ${summary.notProbed} not probed` : "") +
    (summary.truncated ? ", list truncated" : "") +
    ` in ${summary.durationMs} ms`;
  return [...alignColumns([header, ...rows]), footer].join("\n");
}

/**
 * Step 3 of a run: the summary as CloudWatch metric data. Building the batches (and
 * the EMF lines of `--metrics stdout`) is pure; only `putBatches` talks to CloudWatch,
 * retrying throttling and server errors with backoff, batch by batch.
 */
import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum, type StandardUnit } from "@aws-sdk/client-cloudwatch";
import { silentLogger, type Logger } from "../router/log";
import { deadlineSignal } from "./budget";
import type { ProbeResult } from "./probe";

export const METRIC = {
  ProbeSuccess: "ProbeSuccess",
  ProbeLatency: "ProbeLatency",
  DeploymentsProbed: "DeploymentsProbed",
  DeploymentsHealthy: "DeploymentsHealthy",
  DeploymentsUnhealthy: "DeploymentsUnhealthy",
  DeploymentsNotProbed: "DeploymentsNotProbed",
  DiscoveryErrors: "DiscoveryErrors",
  RegisteredInstances: "RegisteredInstances",
} as const;

export const DEPLOYMENT_DIMENSION = "DeploymentId";
/**
 * RegisteredInstances' dimension: the Cloud Map service (shard). Cloud Map publishes no instance count
 * to CloudWatch, so the probe, which lists every shard each run anyway, is what emits it
 * (infra/registry-capacity.ts alarms on it at 90% of the 1,000-instance quota).
 */
export const SHARD_DIMENSION = "CloudMapService";

/** PutMetricData limits (2023 on): 1000 metric data per request, 1 MB per request. */
export const MAX_DATA_PER_REQUEST = 1000;
/** Kept below 1 MB for the request envelope and the JSON protocol's own framing. */
export const MAX_BYTES_PER_REQUEST = 900_000;

/** What a run measured; `discoveryFailed` runs have no results. */
export interface MetricInput {
  readonly results: readonly ProbeResult[];
  readonly notProbed: number;
  readonly discoveryFailed: boolean;
  /** Discovery listed only part of the deployments: DiscoveryErrors = 1 while the rest is still reported. */
  readonly discoveryTruncated?: boolean;
  /** Instances per Cloud Map service as listed (Cloud Map discovery only). */
  readonly shards?: readonly { readonly service: string; readonly instances: number }[];
}

export interface MetricBatch {
  readonly Namespace: string;
  readonly MetricData: MetricDatum[];
}

function datum(name: string, value: number, unit: StandardUnit, timestamp: Date, deploymentId?: string, dimension = DEPLOYMENT_DIMENSION): MetricDatum {
  return {
    MetricName: name,
    ...(deploymentId === undefined ? {} : { Dimensions: [{ Name: dimension, Value: deploymentId }] }),
    Timestamp: timestamp,
    Value: value,
    Unit: unit,
  };
}

/**
 * Every metric datum of a run. Per deployment: ProbeSuccess (1/0) and, when the call
 * returned (gRPC OK), ProbeLatency; a timeout's latency is just the deadline and would
 * only blur the agent's real latency. Per run, with no dimensions: the counts.
 */
export function buildMetricData(input: MetricInput, timestamp: Date): MetricDatum[] {
  if (input.discoveryFailed) return [datum(METRIC.DiscoveryErrors, 1, "Count", timestamp)];
  const data: MetricDatum[] = [];
  let healthy = 0;
  for (const r of input.results) {
    if (r.ok) healthy++;
    data.push(datum(METRIC.ProbeSuccess, r.ok ? 1 : 0, "None", timestamp, r.deploymentId));
    if (r.code === 0) data.push(datum(METRIC.ProbeLatency, r.latencyMs, "Milliseconds", timestamp, r.deploymentId));
  }
  data.push(
    datum(METRIC.DeploymentsProbed, input.results.length, "Count", timestamp),
    datum(METRIC.DeploymentsHealthy, healthy, "Count", timestamp),
    datum(METRIC.DeploymentsUnhealthy, input.results.length - healthy, "Count", timestamp),
    datum(METRIC.DeploymentsNotProbed, input.notProbed, "Count", timestamp),
    datum(METRIC.DiscoveryErrors, input.discoveryTruncated ? 1 : 0, "Count", timestamp),
  );
  for (const s of input.shards ?? []) data.push(datum(METRIC.RegisteredInstances, s.instances, "Count", timestamp, s.service, SHARD_DIMENSION));
  return data;
}

/** Splits metric data into PutMetricData requests within the count and size limits, order kept. */
export function batchMetricData(namespace: string, data: readonly MetricDatum[], maxData = MAX_DATA_PER_REQUEST, maxBytes = MAX_BYTES_PER_REQUEST): MetricBatch[] {
  const batches: MetricBatch[] = [];
  const envelope = JSON.stringify({ Namespace: namespace, MetricData: [] }).length;
  let current: MetricDatum[] = [];
  let bytes = envelope;
  for (const d of data) {
    const size = JSON.stringify(d).length + 1; // +1: the comma between array items
    if (current.length > 0 && (current.length >= maxData || bytes + size > maxBytes)) {
      batches.push({ Namespace: namespace, MetricData: current });
      current = [];
      bytes = envelope;
    }
    current.push(d);
    bytes += size;
  }
  if (current.length > 0) batches.push({ Namespace: namespace, MetricData: current });
  return batches;
}

/** The lead's entry point: all of a run's PutMetricData requests. */
export function buildMetricBatches(input: MetricInput, now: Date, namespace: string): MetricBatch[] {
  return batchMetricData(namespace, buildMetricData(input, now));
}

/**
 * The same data as CloudWatch Embedded Metric Format documents, one JSON line per
 * dimension set (one per deployment, one for the run), for `--metrics stdout` and logs.
 */
export function buildEmfLines(batches: readonly MetricBatch[]): string[] {
  interface Group { namespace: string; timestamp: number; dims: Record<string, string>; metrics: Map<string, { unit: string; value: number }> }
  const groups = new Map<string, Group>();
  for (const b of batches) {
    for (const d of b.MetricData) {
      const dims = Object.fromEntries((d.Dimensions ?? []).map((x) => [x.Name ?? "", x.Value ?? ""]));
      const key = `${b.Namespace}\u0000${JSON.stringify(dims)}`;
      let g = groups.get(key);
      if (!g) {
        g = { namespace: b.Namespace, timestamp: (d.Timestamp ?? new Date(0)).getTime(), dims, metrics: new Map() };
        groups.set(key, g);
      }
      g.metrics.set(d.MetricName ?? "", { unit: d.Unit ?? "None", value: d.Value ?? 0 });
    }
  }
  return [...groups.values()].map((g) => JSON.stringify({
    _aws: {
      Timestamp: g.timestamp,
      CloudWatchMetrics: [{
        Namespace: g.namespace,
        Dimensions: [Object.keys(g.dims)],
        Metrics: [...g.metrics].map(([name, m]) => ({ Name: name, Unit: m.unit })),
      }],
    },
    ...g.dims,
    ...Object.fromEntries([...g.metrics].map(([name, m]) => [name, m.value])),
  }));
}

export interface RetryPolicy {
  /** Attempts per batch, including the first. */
  readonly maxAttempts: number;
  /** First backoff; doubles per attempt, with full jitter. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Epoch ms: no retry is started whose backoff would end after this, and an attempt still running then is abandoned. */
  readonly deadlineAt?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 2000 };

export interface FailedBatch {
  readonly index: number;
  readonly attempts: number;
  readonly error: string;
  /** The metric data lost with this batch (names and dimensions). */
  readonly lost: { metric: string; deploymentId?: string }[];
}

export interface PutResult {
  readonly batches: number;
  readonly sent: number;
  readonly failed: FailedBatch[];
}

/** SDK error fields read for the retry decision (the SDK's ServiceException shape). */
interface SdkErrorShape {
  name?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const THROTTLING_NAMES = new Set(["Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded"]);

/** Throttling, 5xx, timeouts and network errors are retried; other 4xx (a bad request) would fail again. */
export function isRetryable(err: unknown): boolean {
  const e = (typeof err === "object" && err !== null ? err : {}) as SdkErrorShape;
  if (e.$retryable) return true;
  if (e.name && THROTTLING_NAMES.has(e.name)) return true;
  // The HTTP handler's connect, request and idle timeouts; an idle timeout in the body comes with the 200 it interrupted.
  if (e.name === "TimeoutError") return true;
  const status = e.$metadata?.httpStatusCode;
  if (status === undefined) return true; // no HTTP answer: connection reset, timeout
  return status === 429 || status >= 500;
}

/** Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * cap);
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Sends every batch (concurrently), each retried on its own; a batch that still fails is
 * logged with the data it lost, and the others are sent regardless. Never rejects, and with
 * `retry.deadlineAt` returns by then even when CloudWatch hangs (the attempt is aborted).
 */
export async function putBatches(cw: CloudWatchClient, batches: readonly MetricBatch[], retry: RetryPolicy = DEFAULT_RETRY, logger: Logger = silentLogger): Promise<PutResult> {
  const deadlineAt = retry.deadlineAt;
  const deadline = deadlineAt === undefined ? undefined : deadlineSignal(deadlineAt);
  const sendOptions = deadline ? { abortSignal: deadline.signal } : {};
  const outcomes = await Promise.all(batches.map(async (batch, index): Promise<FailedBatch | undefined> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await cw.send(new PutMetricDataCommand({ Namespace: batch.Namespace, MetricData: batch.MetricData }), sendOptions);
        return undefined;
      } catch (err) {
        const delay = backoffMs(attempt, retry);
        const outOfTime = deadlineAt !== undefined && (deadline?.signal.aborted === true || Date.now() + delay > deadlineAt);
        if (attempt >= retry.maxAttempts || !isRetryable(err) || outOfTime) {
          const lost = batch.MetricData.map((d) => ({
            metric: d.MetricName ?? "",
            ...(d.Dimensions?.[0]?.Value === undefined || d.Dimensions[0].Name !== DEPLOYMENT_DIMENSION ? {} : { deploymentId: d.Dimensions[0].Value }),
          }));
          const failed: FailedBatch = { index, attempts: attempt, error: errorText(err), lost };
          logger.error({ batch: index, attempts: attempt, error: failed.error, lostCount: lost.length, lost }, "PutMetricData failed: this batch's metric data is lost");
          return failed;
        }
        logger.warn({ batch: index, attempt, delayMs: delay, error: errorText(err) }, "PutMetricData failed; retrying");
        await sleep(delay);
      }
    }
  })).finally(() => deadline?.dispose());
  const failed = outcomes.filter((f): f is FailedBatch => f !== undefined);
  return { batches: batches.length, sent: batches.length - failed.length, failed };
}

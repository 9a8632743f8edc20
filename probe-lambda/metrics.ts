/**
 * Step 3 of a run: the summary as CloudWatch metric data. Building the batches (and
 * the EMF lines of `--metrics stdout`) is pure; only `putBatches` talks to CloudWatch,
 * retrying throttling and server errors with backoff, batch by batch.
 */
import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum, type StandardUnit } from "@aws-sdk/client-cloudwatch";
import { silentLogger, type Logger } from "../lib/log";
import { deadlineSignal } from "./budget";
import { DEPLOYMENT_DIMENSION, METRIC, TASK_DIMENSION } from "../lib/probe-metrics";

/** The metric names and dimensions, shared with the alarms (lib/probe-metrics.ts). */
export { METRIC, DEPLOYMENT_DIMENSION, TASK_DIMENSION } from "../lib/probe-metrics";

/** PutMetricData limits (2023 on): 1000 metric data per request, 1 MB per request. */
export const MAX_DATA_PER_REQUEST = 1000;
/** Kept below 1 MB for the request envelope and the JSON protocol's own framing. */
export const MAX_BYTES_PER_REQUEST = 900_000;
/** MetricDatum `Values`/`Counts`: at most 150 distinct values per datum (API_MetricDatum). */
export const MAX_VALUES_PER_DATUM = 150;

/** What a run measured, already attributed (run.ts). `discoveryFailed` runs carry nothing else. */
export interface MetricInput {
  readonly discoveryFailed: boolean;
  /** Discovery listed only part of the deployments, or the task list could not be read: DiscoveryErrors = 1 beside the rest. */
  readonly discoveryDegraded?: boolean;
  readonly probed?: number;
  readonly unhealthy?: number;
  readonly notProbed?: number;
  /** Latencies (ms) of the Health calls that were answered (gRPC OK). */
  readonly latenciesMs?: readonly number[];
  /** Deployments whose DeploymentFailing series gets 1 / 0 this run. */
  readonly failing?: readonly string[];
  readonly recovered?: readonly string[];
  /** Per-task results; absent when no task was listed (the endpoint carried every probe). */
  readonly tasks?: { readonly probed: number; readonly unhealthy: number; readonly failing: readonly string[]; readonly recovered: readonly string[] };
  /** The public endpoint's check; absent when it was not tried. */
  readonly endpoint?: { readonly reachable: boolean; readonly connectMs?: number };
}

export interface MetricBatch {
  readonly Namespace: string;
  readonly MetricData: MetricDatum[];
}

function datum(name: string, value: number, unit: StandardUnit, timestamp: Date, dimension?: { name: string; value: string }): MetricDatum {
  return {
    MetricName: name,
    ...(dimension === undefined ? {} : { Dimensions: [{ Name: dimension.name, Value: dimension.value }] }),
    Timestamp: timestamp,
    Value: value,
    Unit: unit,
  };
}

/** Latencies as Values/Counts data (rounded to 0.1 ms so equal values share a count), 150 values per datum. */
export function latencyData(latenciesMs: readonly number[], timestamp: Date): MetricDatum[] {
  const counts = new Map<number, number>();
  for (const l of latenciesMs) {
    const v = Math.round(l * 10) / 10;
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  const values = [...counts.keys()].sort((a, b) => a - b);
  const data: MetricDatum[] = [];
  for (let i = 0; i < values.length; i += MAX_VALUES_PER_DATUM) {
    const chunk = values.slice(i, i + MAX_VALUES_PER_DATUM);
    data.push({ MetricName: METRIC.ProbeLatency, Timestamp: timestamp, Values: chunk, Counts: chunk.map((v) => counts.get(v)!), Unit: "Milliseconds" });
  }
  return data;
}

/**
 * Every metric datum of a run: the fleet counts (always, so "saw nothing" alarms have data), the
 * latency distribution, the endpoint and task checks, and the failure-only series.
 */
export function buildMetricData(input: MetricInput, timestamp: Date): MetricDatum[] {
  if (input.discoveryFailed) return [datum(METRIC.DiscoveryErrors, 1, "Count", timestamp)];
  const data: MetricDatum[] = [
    datum(METRIC.DeploymentsProbed, input.probed ?? 0, "Count", timestamp),
    datum(METRIC.DeploymentsUnhealthy, input.unhealthy ?? 0, "Count", timestamp),
    datum(METRIC.DeploymentsNotProbed, input.notProbed ?? 0, "Count", timestamp),
    datum(METRIC.DiscoveryErrors, input.discoveryDegraded ? 1 : 0, "Count", timestamp),
    ...latencyData(input.latenciesMs ?? [], timestamp),
  ];
  const tasks = input.tasks ?? { probed: 0, unhealthy: 0, failing: [], recovered: [] };
  data.push(datum(METRIC.TasksProbed, tasks.probed, "Count", timestamp), datum(METRIC.TasksUnhealthy, tasks.unhealthy, "Count", timestamp));
  if (input.endpoint) {
    data.push(datum(METRIC.EndpointReachable, input.endpoint.reachable ? 1 : 0, "None", timestamp));
    if (input.endpoint.connectMs !== undefined && input.endpoint.reachable) data.push(datum(METRIC.EndpointConnectTime, input.endpoint.connectMs, "Milliseconds", timestamp));
  }
  const series = (name: string, dim: string, ids: readonly string[], value: number): void => {
    for (const id of ids) data.push(datum(name, value, "None", timestamp, { name: dim, value: id }));
  };
  series(METRIC.DeploymentFailing, DEPLOYMENT_DIMENSION, input.failing ?? [], 1);
  series(METRIC.DeploymentFailing, DEPLOYMENT_DIMENSION, input.recovered ?? [], 0);
  series(METRIC.TaskFailing, TASK_DIMENSION, tasks.failing, 1);
  series(METRIC.TaskFailing, TASK_DIMENSION, tasks.recovered, 0);
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
 * The same data as CloudWatch Embedded Metric Format documents, one JSON line per dimension set
 * (the run, and each failing deployment or task), for `--metrics stdout` and logs. A Values/Counts
 * datum becomes an array of values (EMF takes at most 100 values per metric and document).
 */
export function buildEmfLines(batches: readonly MetricBatch[]): string[] {
  interface Group { namespace: string; timestamp: number; dims: Record<string, string>; metrics: Map<string, { unit: string; values: number[] }> }
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
      const m = g.metrics.get(d.MetricName ?? "") ?? { unit: d.Unit ?? "None", values: [] };
      if (d.Values) d.Values.forEach((v, i) => { for (let n = 0; n < (d.Counts?.[i] ?? 1); n++) m.values.push(v); });
      else m.values.push(d.Value ?? 0);
      g.metrics.set(d.MetricName ?? "", m);
    }
  }
  const lines: string[] = [];
  for (const g of groups.values()) {
    const longest = Math.max(1, ...[...g.metrics.values()].map((m) => m.values.length));
    for (let i = 0; i < longest; i += EMF_MAX_VALUES) {
      const part = [...g.metrics].filter(([, m]) => m.values.length > i);
      lines.push(JSON.stringify({
        _aws: {
          Timestamp: g.timestamp,
          CloudWatchMetrics: [{ Namespace: g.namespace, Dimensions: [Object.keys(g.dims)], Metrics: part.map(([name, m]) => ({ Name: name, Unit: m.unit })) }],
        },
        ...g.dims,
        ...Object.fromEntries(part.map(([name, m]) => {
          const chunk = m.values.slice(i, i + EMF_MAX_VALUES);
          return [name, chunk.length === 1 ? chunk[0] : chunk];
        })),
      }));
    }
  }
  return lines;
}

/** EMF specification: "a metric value ... can be an array of up to 100 values". */
const EMF_MAX_VALUES = 100;

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
  readonly lost: { metric: string; deploymentId?: string; task?: string }[];
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
            ...(d.Dimensions?.[0]?.Value === undefined ? {} : { [d.Dimensions[0].Name === TASK_DIMENSION ? "task" : "deploymentId"]: d.Dimensions[0].Value }),
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

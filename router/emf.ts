/**
 * The router's calls in flight as a CloudWatch metric, for Application Auto Scaling's target tracking
 * (infra/autoscaling.ts). The router writes one CloudWatch Embedded Metric Format line to stdout per
 * interval; in ECS the awslogs driver sends stdout to the router's log group, and CloudWatch Logs turns
 * the EMF line into the metric (no SDK, no IAM grant beyond the log stream the task already writes;
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
 * The value is the mean of one sample per second over the interval, so a burst between two writes still
 * counts and one task writes one datapoint per interval.
 */

import { ROUTER_METRIC } from "../lib/router-metrics";

export { ROUTER_METRIC };

export interface EmfSettings {
  readonly namespace: string;
  /** Dimension name -> value, e.g. Stack and Shard: the target tracking policy names the same set. */
  readonly dimensions: Readonly<Record<string, string>>;
  readonly intervalMs: number;
}

/** One EMF document (a JSON line) with the given metrics under one dimension set. */
export function emfLine(settings: Pick<EmfSettings, "namespace" | "dimensions">, metrics: readonly { name: string; unit: string; value: number }[], timestampMs: number): string {
  return JSON.stringify({
    _aws: {
      Timestamp: timestampMs,
      CloudWatchMetrics: [{
        Namespace: settings.namespace,
        Dimensions: [Object.keys(settings.dimensions)],
        Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
      }],
    },
    ...settings.dimensions,
    ...Object.fromEntries(metrics.map((m) => [m.name, m.value])),
  });
}

const NAMESPACE = /^[A-Za-z0-9.\-_/#:]{1,255}$/;
const DIMENSION_NAME = /^[\x21-\x7e]{1,255}$/;

/**
 * `Name=Value,Name=Value` -> a dimension map. CloudWatch: names 1-255 ASCII characters not starting
 * with ':', values 1-1024, at most 30 dimensions (EMF's own limit too). Throws an Error saying what is wrong.
 */
export function parseDimensions(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const parts = text.split(",").map((p) => p.trim()).filter((p) => p !== "");
  if (parts.length === 0 || parts.length > 30) throw new Error(`expected 1 to 30 NAME=VALUE pairs, comma-separated, got ${JSON.stringify(text)}`);
  for (const part of parts) {
    const eq = part.indexOf("=");
    const name = eq > 0 ? part.slice(0, eq) : "";
    const value = eq > 0 ? part.slice(eq + 1) : "";
    if (!DIMENSION_NAME.test(name) || name.startsWith(":") || value === "" || value.length > 1024 || name in out) {
      throw new Error(`expected NAME=VALUE pairs (names of 1-255 printable ASCII characters, each once; values of 1-1024 characters), got ${JSON.stringify(part)}`);
    }
    out[name] = value;
  }
  return out;
}

/** CloudWatch namespaces: 1-255 of [A-Za-z0-9.-_/#:], not starting with ':' or `AWS/` (reserved). */
export function namespaceProblem(namespace: string): string | undefined {
  if (!NAMESPACE.test(namespace) || namespace.startsWith(":") || namespace.startsWith("AWS/")) {
    return `expected 1-255 of [A-Za-z0-9.-_/#:], not starting with ':' or 'AWS/', got ${JSON.stringify(namespace)}`;
  }
  return undefined;
}

export interface EmfPublisher {
  /** Writes the interval so far now (used on shutdown, and by tests). */
  flush(): void;
  stop(): void;
}

/** Mean of the samples since the last `take`; with none, `current` stands for the interval. */
export class SampleMean {
  private sum = 0;
  private count = 0;
  add(value: number): void {
    this.sum += value;
    this.count++;
  }
  take(current: number): number {
    const mean = this.count === 0 ? current : this.sum / this.count;
    this.sum = 0;
    this.count = 0;
    return Math.round(mean * 100) / 100;
  }
}

/** Samples `activeStreams` every second and writes its mean every `intervalMs`. Timers are unref'd. */
export function startEmfPublisher(settings: EmfSettings, activeStreams: () => number, write: (line: string) => void, now: () => number = Date.now): EmfPublisher {
  const mean = new SampleMean();
  const sample = (): void => { mean.add(activeStreams()); };
  const flush = (): void => {
    write(emfLine(settings, [{ name: ROUTER_METRIC, unit: "Count", value: mean.take(activeStreams()) }], now()));
  };
  const sampler = setInterval(sample, Math.min(1000, settings.intervalMs));
  const writer = setInterval(flush, settings.intervalMs);
  sampler.unref();
  writer.unref();
  return {
    flush,
    stop() {
      clearInterval(sampler);
      clearInterval(writer);
    },
  };
}

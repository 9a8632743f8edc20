/**
 * The probe over many deployments: one runProbe through the router process, metrics sent
 * with putBatches to a local CloudWatch-compatible endpoint (fixtures/fake-cloudwatch.ts),
 * wall time and PutMetricData request count measured.
 */
import { writeFileSync } from "node:fs";
import { discoverFromFile } from "../probe-lambda/discover";
import { putBatches } from "../probe-lambda/metrics";
import { createProbeClient } from "../probe-lambda/probe";
import { runProbe } from "../probe-lambda/run";
import type { FakeCloudWatch } from "../fixtures/fake-cloudwatch";
import type { BenchDeployment } from "./configs";
import type { ProbeFigures } from "./report";

/**
 * `n` deployments named `${prefix}-00000`..., `hung` of them (spread evenly) on `hungPort`,
 * the others round-robin over `healthyPorts`.
 */
export function probeDeployments(prefix: string, n: number, hung: number, healthyPorts: readonly number[], hungPort: number): BenchDeployment[] {
  const hungIndexes = new Set(Array.from({ length: Math.min(hung, n) }, (_, k) => Math.floor((k * n) / hung)));
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(5, "0")}`,
    port: hungIndexes.has(i) ? hungPort : healthyPorts[i % healthyPorts.length]!,
  }));
}

export interface ProbeScaleRun {
  readonly label: string;
  /** host:port of the router (the NLB's stand-in). */
  readonly endpoint: string;
  /** The deployments of this run (they must also be in the router's registry). */
  readonly deployments: readonly BenchDeployment[];
  readonly hung: number;
  /** Where to write this run's registry file (the probe's discovery reads it). */
  readonly discoveryFile: string;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly cloudwatch: FakeCloudWatch;
}

export async function runProbeScale(run: ProbeScaleRun): Promise<ProbeFigures> {
  writeFileSync(run.discoveryFile, JSON.stringify({ deployments: run.deployments.map((d) => ({ id: d.id, port: d.port })) }));
  const client = createProbeClient(run.endpoint);
  const cw = run.cloudwatch.client(1);
  const before = run.cloudwatch.count("PutMetricData");
  const dataBefore = run.cloudwatch.accepted.reduce((s, b) => s + b.MetricData.length, 0);
  const started = performance.now();
  try {
    const summary = await runProbe({
      discover: () => discoverFromFile(run.discoveryFile),
      client,
      timeoutMs: run.timeoutMs,
      concurrency: run.concurrency,
      sink: async (batches) => {
        const put = await putBatches(cw, batches);
        if (put.failed.length > 0) throw new Error(`${put.failed.length} PutMetricData batches failed against the local CloudWatch endpoint`);
      },
    });
    return {
      label: run.label,
      deployments: run.deployments.length,
      hung: run.hung,
      timeoutMs: run.timeoutMs,
      concurrency: run.concurrency,
      wallMs: Math.round(performance.now() - started),
      healthy: summary.healthy,
      unhealthy: summary.unhealthy,
      putMetricDataRequests: run.cloudwatch.count("PutMetricData") - before,
      metricData: run.cloudwatch.accepted.reduce((s, b) => s + b.MetricData.length, 0) - dataBefore,
    };
  } finally {
    client.close();
    cw.destroy();
  }
}

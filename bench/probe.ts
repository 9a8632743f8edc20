/**
 * `npx tsx bench/probe.ts [deployments=1000] [hung=20] [timeoutMs=3000] [concurrency=64]`:
 * one probe run through a real router on 127.0.0.1 in front of demo agents (4 healthy,
 * 1 hung, ids spread over them), printed as one JSON line. Numbers for docs/probe.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemoAgent } from "../fixtures/demo-agent";
import { discoverFromFile } from "../probe-lambda/discover";
import type { MetricBatch } from "../probe-lambda/metrics";
import { createProbeClient } from "../probe-lambda/probe";
import { runProbe } from "../probe-lambda/run";
import { startRouter } from "../router";
import { silentLogger } from "../lib/log";

async function main(): Promise<void> {
  const [n = 1000, hungCount = 20, timeoutMs = 3000, concurrency = 64] = process.argv.slice(2).map(Number);
  const dir = mkdtempSync(join(tmpdir(), "bench-probe-"));
  const healthy = await Promise.all([0, 1, 2, 3].map((i) => startDemoAgent({ deploymentId: `agent-${i}` })));
  const hung = await startDemoAgent({ deploymentId: "hung", hang: true });
  const every = hungCount > 0 ? Math.floor(n / hungCount) : Infinity;
  const deployments = Array.from({ length: n }, (_, i) => ({
    id: `dep-${String(i).padStart(5, "0")}`,
    port: i % every === Math.floor(every / 2) && i / every < hungCount ? hung.port : healthy[i % 4]!.port,
  }));
  const registry = join(dir, "registry.json");
  writeFileSync(registry, JSON.stringify({ deployments }));
  const router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: `file:${registry}`, logger: silentLogger });
  const client = createProbeClient(`127.0.0.1:${router.port}`);
  try {
    let batches: MetricBatch[] = [];
    const summary = await runProbe({
      discover: () => discoverFromFile(registry), client, timeoutMs, concurrency,
      // The router as the one task, as in the local mode: every deployment through it directly.
      discoverTargets: async () => ({ targets: [{ id: `127.0.0.1:${router.port}`, host: "127.0.0.1", port: router.port, state: "listed" }], skipped: [] }),
      taskClient: (t) => createProbeClient(t.id),
      sink: async (b) => { batches = b; },
    });
    const latencies = summary.results.filter((r) => r.code === 0).map((r) => r.latencyMs).sort((a, b) => a - b);
    const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
    process.stdout.write(JSON.stringify({
      deployments: n, hung: hungCount, timeoutMs, concurrency,
      durationMs: summary.durationMs, healthy: summary.healthy, unhealthy: summary.unhealthy,
      answeredLatencyMs: { p50: pct(50), p99: pct(99), max: latencies.at(-1) },
      putMetricDataRequests: batches.length, metricData: batches.reduce((s, b) => s + b.MetricData.length, 0),
    }) + "\n");
  } finally {
    client.close();
    await router.close();
    await Promise.all([...healthy, hung].map((a) => a.stop(true)));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});

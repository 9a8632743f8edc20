/**
 * `npm run bench:client`: what the A2A client and the a2a tool cost, on loopback.
 * Sequential Ping latency straight to an agent and through the router, Invoke throughput
 * through the router at a fixed concurrency, and `check` over many deployments.
 * Numbers from a shared machine are indicative; compare runs on the same machine only.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import pLimit from "p-limit";
import { A2AClient } from "../client";
import { runCli } from "../client/cli";
import { startDemoAgent, type DemoAgent } from "../fixtures/demo-agent";
import { startRouter } from "../router";
import { silentLogger } from "../lib/log";

const PING_CALLS = Number(process.env.BENCH_PING_CALLS ?? 2000);
const INVOKE_CALLS = Number(process.env.BENCH_INVOKE_CALLS ?? 5000);
const INVOKE_CONCURRENCY = Number(process.env.BENCH_INVOKE_CONCURRENCY ?? 64);
const CHECK_AGENTS = Number(process.env.BENCH_CHECK_AGENTS ?? 50);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function pingLatency(client: A2AClient, id: string): Promise<string> {
  for (let i = 0; i < 100; i++) await client.ping(id); // warm-up: channel, JIT
  const samples: number[] = [];
  for (let i = 0; i < PING_CALLS; i++) {
    const t = performance.now();
    await client.ping(id);
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return `p50 ${percentile(samples, 50).toFixed(3)} ms, p99 ${percentile(samples, 99).toFixed(3)} ms over ${PING_CALLS} calls`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-client-"));
  const agents: DemoAgent[] = [];
  for (let i = 0; i < CHECK_AGENTS; i++) agents.push(await startDemoAgent({ deploymentId: `bench-${i}` }));
  const registry = path.join(dir, "registry.json");
  writeFileSync(registry, JSON.stringify({ deployments: agents.map((a) => ({ id: a.deploymentId, port: a.port })) }));
  const router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: `file:${registry}`, logger: silentLogger });
  const direct = new A2AClient({ endpoint: `127.0.0.1:${agents[0]!.port}` });
  const viaRouter = new A2AClient({ endpoint: `127.0.0.1:${router.port}` });
  const out = (line: string): void => { process.stdout.write(line + "\n"); };
  try {
    out(`ping, direct to the agent:   ${await pingLatency(direct, "bench-0")}`);
    out(`ping, through the router:    ${await pingLatency(viaRouter, "bench-0")}`);

    const limit = pLimit(INVOKE_CONCURRENCY);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: INVOKE_CALLS }, (_, i) =>
      limit(() => viaRouter.invoke(`bench-${i % CHECK_AGENTS}`, { action: "bench", parameters: { i: String(i) } }))));
    const seconds = (performance.now() - t0) / 1000;
    out(`invoke through the router:   ${Math.round(INVOKE_CALLS / seconds)} calls/s (${INVOKE_CALLS} calls, ${INVOKE_CONCURRENCY} in flight, ${CHECK_AGENTS} agents)`);

    let printed = "";
    const t1 = performance.now();
    const code = await runCli(["check", "--registry", `file:${registry}`, "--endpoint", `127.0.0.1:${router.port}`], {
      stdout: (t) => { printed += t; }, stderr: (t) => { printed += t; }, env: {}, logger: silentLogger,
    });
    out(`check over ${CHECK_AGENTS} deployments:   ${(performance.now() - t1).toFixed(0)} ms, exit ${code}, ${printed.trimEnd().split("\n").at(-1)}`);
  } finally {
    direct.close();
    viaRouter.close();
    await router.close();
    await Promise.all(agents.map((a) => a.stop(true)));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

import { strict as assert } from "node:assert";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { startDemoAgent, type DemoAgent } from "../fixtures/demo-agent";
import { DiscoveryError } from "../probe-lambda/discover";
import type { MetricBatch } from "../probe-lambda/metrics";
import { createProbeClient, probeAll } from "../probe-lambda/probe";
import { formatProbeTable, runProbe, type ProbeSummary } from "../probe-lambda/run";

/** A pino logger whose JSON lines land in `lines`. */
function captureLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } });
  return { logger: pino({ level: "info" }, stream), lines };
}

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("probe run against demo agents (no router: every id reaches the one agent)", () => {
  const agents: DemoAgent[] = [];
  const clients: grpc.Client[] = [];
  const start = async (opts: Parameters<typeof startDemoAgent>[0]): Promise<{ agent: DemoAgent; client: grpc.Client }> => {
    const agent = await startDemoAgent(opts);
    agents.push(agent);
    const client = createProbeClient(`127.0.0.1:${agent.port}`);
    clients.push(client);
    return { agent, client };
  };
  afterEach(async () => {
    clients.splice(0).forEach((c) => c.close());
    await Promise.all(agents.splice(0).map((a) => a.stop(true)));
  });

  it("reports healthy and ok:false answers with their messages, in the order given, over one channel", async () => {
    const good = await start({ deploymentId: "good" });
    const sick = await start({ deploymentId: "sick", unhealthy: true });
    const [g, s] = await Promise.all([
      probeAll(good.client, ["g1", "g2", "g3"], { timeoutMs: 2000, concurrency: 2 }),
      probeAll(sick.client, ["s1"], { timeoutMs: 2000, concurrency: 2 }),
    ]);
    assert.deepEqual(g.results.map((r) => [r.deploymentId, r.ok, r.codeName]), [["g1", true, "OK"], ["g2", true, "OK"], ["g3", true, "OK"]]);
    assert.deepEqual(g.notProbed, []);
    assert.equal(good.agent.calls.get("Health"), 3);
    assert.deepEqual(s.results.map((r) => [r.deploymentId, r.ok, r.code, r.message]), [["s1", false, 0, "deployment sick is unhealthy"]]);
  });

  it("keeps at most `concurrency` calls in flight", async () => {
    const hung = await start({ deploymentId: "hung", hang: true });
    const run = probeAll(hung.client, Array.from({ length: 6 }, (_, i) => `h${i}`), { timeoutMs: 1500, concurrency: 3 });
    await waitFor(() => hung.agent.calls.get("Health") === 3);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hung.agent.calls.get("Health"), 3, "no fourth call may start while three are hung");
    const out = await run;
    assert.equal(out.results.length, 6);
    assert.ok(out.results.every((r) => r.codeName === "DEADLINE_EXCEEDED"));
  });

  it("starts no probe that could not finish before the run's deadline and counts it as not probed", async () => {
    const hung = await start({ deploymentId: "hung", hang: true });
    const out = await probeAll(hung.client, ["a", "b", "c", "d"], { timeoutMs: 1000, concurrency: 1, deadlineAt: Date.now() + 1500 });
    assert.deepEqual(out.results.map((r) => [r.deploymentId, r.codeName]), [["a", "DEADLINE_EXCEEDED"]]);
    assert.deepEqual(out.notProbed, ["b", "c", "d"]);
    assert.equal(hung.agent.calls.get("Health"), 1);
  });

  it("runs once: summary, metric batches to the sink, one summary log line", async () => {
    const sick = await start({ deploymentId: "sick", unhealthy: true });
    const { logger, lines } = captureLogger();
    const sent: MetricBatch[][] = [];
    const summary = await runProbe({
      discover: async () => ({ ids: ["x", "y"], truncated: false }),
      client: sick.client, timeoutMs: 2000, concurrency: 4, metricsNamespace: "Test/Probe", logger,
      sink: async (b) => { sent.push(b); },
    });
    assert.deepEqual({ ...summary, durationMs: 0, results: summary.results.map((r) => r.deploymentId) },
      { probed: 2, healthy: 0, unhealthy: 2, notProbed: 0, truncated: false, durationMs: 0, results: ["x", "y"], notProbedIds: [] });
    assert.equal(sent.length, 1);
    assert.equal(sent[0]![0]!.Namespace, "Test/Probe");
    assert.deepEqual(sent[0]!.flatMap((b) => b.MetricData).filter((d) => !d.Dimensions).map((d) => [d.MetricName, d.Value]),
      [["DeploymentsProbed", 2], ["DeploymentsHealthy", 0], ["DeploymentsUnhealthy", 2], ["DeploymentsNotProbed", 0], ["DiscoveryErrors", 0]]);
    const summaries = lines.filter((l) => l.msg === "probe run summary");
    assert.equal(summaries.length, 1);
    assert.deepEqual(summaries[0]!.failures, summary.results.map((r) => ({ deploymentId: r.deploymentId, code: "OK", message: "deployment sick is unhealthy", latencyMs: r.latencyMs })));
  });

  it("emits DiscoveryErrors = 1 and fails the run when discovery fails", async () => {
    const good = await start({ deploymentId: "good" });
    const sent: MetricBatch[][] = [];
    await assert.rejects(runProbe({
      discover: async () => { throw new Error("AccessDeniedException: not authorized to perform servicediscovery:DiscoverInstances"); },
      client: good.client, timeoutMs: 1000, concurrency: 1, sink: async (b) => { sent.push(b); },
    }), (err: Error) => err instanceof DiscoveryError && /AccessDenied/.test(err.message));
    assert.deepEqual(sent.flat().flatMap((b) => b.MetricData).map((d) => [d.MetricName, d.Value]), [["DiscoveryErrors", 1]]);
    assert.equal(good.agent.calls.get("Health"), undefined);
  });
});

describe("formatProbeTable", () => {
  it("lists each deployment with health, code and latency, then a footer", () => {
    const summary: ProbeSummary = {
      probed: 2, healthy: 1, unhealthy: 1, notProbed: 1, truncated: false, durationMs: 42,
      results: [
        { deploymentId: "alpha", ok: true, code: 0, codeName: "OK", message: "deployment alpha is healthy", latencyMs: 1.234 },
        { deploymentId: "ghost", ok: false, code: 5, codeName: "NOT_FOUND", message: "unknown deployment ghost", latencyMs: 0.5 },
      ],
      notProbedIds: ["late"],
    };
    assert.equal(formatProbeTable(summary), [
      "DEPLOYMENT  HEALTH      CODE       LATENCY  MESSAGE",
      "alpha       healthy     OK         1.2 ms",
      "ghost       UNHEALTHY   NOT_FOUND  0.5 ms   unknown deployment ghost",
      "late        NOT PROBED  -          -        run out of time",
      "1/2 healthy, 1 not probed in 42 ms",
    ].join("\n"));
  });
});

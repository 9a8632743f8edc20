import { strict as assert } from "node:assert";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { DiscoveryError } from "../../probe-lambda/discover";
import type { MetricBatch } from "../../probe-lambda/metrics";
import { createProbeClient, probeAll } from "../../probe-lambda/probe";
import { formatProbeTable, runProbe, type ProbeSummary } from "../../probe-lambda/run";

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

  it("runs once through the endpoint: summary, metric batches to the sink, one line per failing deployment and one summary", async () => {
    const sick = await start({ deploymentId: "sick", unhealthy: true });
    const { logger, lines } = captureLogger();
    const sent: MetricBatch[][] = [];
    const summary = await runProbe({
      discover: async () => ({ ids: ["x", "y"], truncated: false }),
      client: sick.client, timeoutMs: 2000, concurrency: 4, metricsNamespace: "Test/Probe", logger,
      sink: async (b) => { sent.push(b); },
    });
    assert.deepEqual([summary.mode, summary.probed, summary.healthy, summary.unhealthy, summary.notProbed, summary.truncated, summary.platformIncident], ["endpoint", 2, 0, 2, 0, false, false]);
    assert.deepEqual(summary.results.map((r) => [r.deploymentId, r.via]), [["x", "endpoint"], ["y", "endpoint"]]);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]![0]!.Namespace, "Test/Probe");
    const data = sent[0]!.flatMap((b) => b.MetricData);
    assert.deepEqual(data.filter((d) => !d.Dimensions && d.Value !== undefined).map((d) => [d.MetricName, d.MetricName === "EndpointConnectTime" ? "ms" : d.Value]), [
      ["DeploymentsProbed", 2], ["DeploymentsUnhealthy", 2], ["DeploymentsNotProbed", 0], ["DiscoveryErrors", 0],
      ["TasksProbed", 0], ["TasksUnhealthy", 0], ["EndpointReachable", 1], ["EndpointConnectTime", "ms"],
    ]);
    assert.deepEqual(data.filter((d) => d.Dimensions).map((d) => [d.MetricName, d.Dimensions![0]!.Value, d.Value]), [["DeploymentFailing", "x", 1], ["DeploymentFailing", "y", 1]]);
    const failing = lines.filter((l) => l.msg === "deployment failing");
    assert.deepEqual(failing.map((l) => [l.deploymentId, l.code, l.message, l.task, l.level]), [["x", "OK", "deployment sick is unhealthy", "endpoint", 40], ["y", "OK", "deployment sick is unhealthy", "endpoint", 40]]);
    const summaries = lines.filter((l) => l.msg === "probe run summary");
    assert.equal(summaries.length, 1);
    assert.deepEqual([summaries[0]!.probed, summaries[0]!.unhealthy, summaries[0]!.failures], [2, 2, undefined], "failures are lines of their own, not nested in the summary");
  });

  it("calls a run where most deployments fail a platform incident and withholds their new series", async () => {
    const sick = await start({ deploymentId: "sick", unhealthy: true });
    const sent: MetricBatch[][] = [];
    const ids = Array.from({ length: 8 }, (_, i) => `d${i}`);
    const summary = await runProbe({
      discover: async () => ({ ids, truncated: false }), client: sick.client, timeoutMs: 2000, concurrency: 8, platformPercent: 25,
      sink: async (b) => { sent.push(b); },
    });
    assert.deepEqual([summary.unhealthy, summary.platformIncident, summary.failingSeries], [8, true, []]);
    const data = sent.flat().flatMap((b) => b.MetricData);
    assert.equal(data.filter((d) => d.MetricName === "DeploymentFailing").length, 0, "one fleet page, not eight");
    assert.equal(data.find((d) => d.MetricName === "DeploymentsUnhealthy")?.Value, 8);
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
  it("lists each deployment with health, code, latency and the task it went through, then the tasks, the endpoint and a footer", () => {
    const alpha = { deploymentId: "alpha", ok: true, code: 0, codeName: "OK", message: "deployment alpha is healthy", latencyMs: 1.234, via: "10.0.1.9:50051" };
    const ghost = { deploymentId: "ghost", ok: false, code: 5, codeName: "NOT_FOUND", message: "unknown deployment ghost", latencyMs: 0.5, via: "10.0.1.9:50051" };
    const summary: ProbeSummary = {
      probed: 2, healthy: 1, unhealthy: 1, notProbed: 1, truncated: false, durationMs: 42, mode: "tasks",
      results: [{ ...alpha, attempts: [alpha] }, { ...ghost, attempts: [ghost] }],
      notProbedIds: ["late"], notProbedReason: "the run's time budget was used up",
      tasks: [
        { task: "10.0.1.9:50051", reachable: true, connectMs: 1.5, probed: 2, failures: 0, healthy: true },
        { task: "10.0.2.7:50051", reachable: false, connectMs: 3000, probed: 0, failures: 0, healthy: false, reason: "not reachable: connect ECONNREFUSED" },
      ],
      endpoint: { reachable: true, connectMs: 2.25, sampled: 2 },
      platformIncident: false, failingSeries: ["ghost"],
    };
    assert.equal(formatProbeTable(summary), [
      "DEPLOYMENT  HEALTH      CODE       LATENCY  VIA             MESSAGE",
      "alpha       healthy     OK         1.2 ms   10.0.1.9:50051",
      "ghost       UNHEALTHY   NOT_FOUND  0.5 ms   10.0.1.9:50051  unknown deployment ghost",
      "late        NOT PROBED  -          -        -               the run's time budget was used up",
      "",
      "TASK            HEALTH     CONNECT  PROBED  FAILED  REASON",
      "10.0.1.9:50051  healthy    1.5 ms   2       0",
      "10.0.2.7:50051  UNHEALTHY  -        0       0       not reachable: connect ECONNREFUSED",
      "endpoint: reachable in 2.3 ms, 2 deployments sampled through it",
      "1/2 healthy, 1 not probed in 42 ms",
    ].join("\n"));
  });
});

/**
 * Every task probed: three routers on 127.0.0.1 stand for three ECS tasks behind the NLB, one of
 * them broken. The Lambda's own invocation path lists them with DescribeTargetHealth (a fake
 * elbv2 endpoint, real SDK), Cloud Map lists the deployments (fake, real SDK), and the metrics
 * arrive at a fake CloudWatch (real SDK). A broken task must be reported as that task, an
 * unreachable endpoint as one endpoint failure, and neither as N failing deployments.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { PROBE_DEFAULTS, type ProbeConfig } from "../../probe-lambda/config";
import { runInvocation } from "../../probe-lambda/invocation";
import { EMPTY_MEMORY } from "../../probe-lambda/memory";
import type { MemoryCell, ProbeSummary } from "../../probe-lambda/run";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger } from "../../lib/log";
import { startFakeCloudMap, type FakeCloudMap } from "../../fixtures/fake-cloudmap";
import { startFakeCloudWatch, type FakeCloudWatch, type WireMetricDatum } from "../../fixtures/fake-cloudwatch";
import { startFakeElbv2, type FakeElbv2, type FakeTarget } from "../../fixtures/fake-elbv2";

function captureLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } });
  return { logger: pino({ level: "info" }, stream).child({ requestId: "req-0001" }), lines };
}

describe("probe: every task probed (three local tasks, one broken)", function () {
  this.timeout(60_000);
  let dir: string;
  let agents: DemoAgent[];
  let sick: DemoAgent;
  let routers: RunningRouter[];
  let broken: RunningRouter;
  let deadPort: number;
  let cloudMap: FakeCloudMap;
  let cloudWatch: FakeCloudWatch;
  let elb: FakeElbv2;
  const ids = Array.from({ length: 10 }, (_, i) => `dep-${i}`);

  const writeRegistry = (path: string, entries: { id: string; port: number }[]): void => {
    writeFileSync(path + ".tmp", JSON.stringify({ deployments: entries }));
    renameSync(path + ".tmp", path);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "probe-tasks-"));
    agents = [await startDemoAgent({ deploymentId: "good-a" }), await startDemoAgent({ deploymentId: "good-b" })];
    sick = await startDemoAgent({ deploymentId: "sick", unhealthy: true });
    const dead = await startDemoAgent({ deploymentId: "dead" });
    deadPort = dead.port;
    await dead.stop(true);
    const registry = join(dir, "registry.json");
    writeRegistry(registry, [...ids.map((id, i) => ({ id, port: agents[i % 2]!.port })), { id: "sick", port: sick.port }]);
    // The broken task: its router's view of the registry is empty (NOT_FOUND for every deployment), as a task whose registry source is stuck would be.
    const emptyRegistry = join(dir, "empty.json");
    writeRegistry(emptyRegistry, []);
    const start = (path: string) => startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: `file:${path}`, logger: silentLogger });
    routers = [await start(registry), await start(registry)];
    broken = await start(emptyRegistry);
    cloudMap = await startFakeCloudMap({ instances: [...ids, "sick"].map((id) => ({ id, ipv4: "127.0.0.1", port: 1 })) });
    cloudWatch = await startFakeCloudWatch();
    elb = await startFakeElbv2();
  });
  after(async () => {
    await Promise.all([...routers, broken].map((r) => r.close()));
    await Promise.all([...agents, sick].map((a) => a.stop(true)));
    await Promise.all([cloudMap.close(), cloudWatch.close(), elb.close()]);
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => { cloudWatch.accepted.length = 0; });

  const task = (r: RunningRouter | number, state: FakeTarget["state"] = "healthy", zone = "us-east-2a"): FakeTarget =>
    ({ id: "127.0.0.1", port: typeof r === "number" ? r : r.port, state, zone });

  async function invoke(endpointPort: number, memory?: MemoryCell, withTargets = true): Promise<{ summary: ProbeSummary; lines: Record<string, unknown>[] }> {
    const config: ProbeConfig = {
      endpoint: `127.0.0.1:${endpointPort}`, tls: false, cloudMapNamespace: cloudMap.namespace, cloudMapServices: [{ service: cloudMap.service }],
      metricsNamespace: "Pixell/A2A", timeoutMs: 1500, concurrency: 8, reserveMs: 2000, authTokenSecret: undefined,
      targetGroupArn: withTargets ? elb.targetGroupArn : undefined, endpointSample: 3, platformPercent: PROBE_DEFAULTS.platformPercent,
    };
    const sd = cloudMap.client();
    const cw = cloudWatch.client();
    const lb = elb.client();
    const { logger, lines } = captureLogger();
    try {
      const summary = await runInvocation({ config, clients: { serviceDiscovery: sd, cloudWatch: cw, elasticLoadBalancing: lb }, remainingMs: 30_000, logger, ...(memory ? { memory } : {}) });
      return { summary, lines };
    } finally {
      sd.destroy();
      cw.destroy();
      lb.destroy();
    }
  }
  const arrived = (): WireMetricDatum[] => cloudWatch.accepted.flatMap((a) => a.MetricData);
  const fleet = (name: string): number | undefined => arrived().find((d) => d.MetricName === name && !d.Dimensions)?.Value;
  const series = (name: string): [string, number | undefined][] =>
    arrived().filter((d) => d.MetricName === name).map((d) => [d.Dimensions![0]!.Value, d.Value] as [string, number | undefined]).sort();

  it("reports the broken task as that task, and only the truly failing deployment as a deployment", async () => {
    elb.setTargets([task(routers[0]!), task(routers[1]!, "healthy", "us-east-2b"), task(broken, "healthy", "us-east-2c")]);
    const { summary, lines } = await invoke(routers[0]!.port);
    assert.equal(summary.mode, "tasks");
    assert.deepEqual(summary.tasks.map((t) => [t.task, t.healthy]), [
      [`127.0.0.1:${routers[0]!.port}`, true], [`127.0.0.1:${routers[1]!.port}`, true], [`127.0.0.1:${broken.port}`, false],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
    const bad = summary.tasks.find((t) => !t.healthy)!;
    assert.ok(bad.failures >= 2, `the broken task carried ${bad.probed} deployments, ${bad.failures} blamed`);
    assert.match(bad.reason!, /failed here \(NOT_FOUND: deployment dep-\d is not registered.*\) and answered on another task$/);
    assert.deepEqual([summary.probed, summary.unhealthy, summary.notProbed], [11, 1, 0]);
    assert.deepEqual(summary.results.filter((r) => !r.ok).map((r) => [r.deploymentId, r.codeName, r.message]), [["sick", "OK", "deployment sick is unhealthy"]]);
    // Every task carried deployments this run.
    assert.ok(summary.tasks.every((t) => t.probed >= 3), JSON.stringify(summary.tasks.map((t) => t.probed)));

    assert.deepEqual(["DeploymentsProbed", "DeploymentsUnhealthy", "TasksProbed", "TasksUnhealthy", "EndpointReachable", "DiscoveryErrors"].map(fleet), [11, 1, 3, 1, 1, 0]);
    assert.deepEqual(series("DeploymentFailing"), [["sick", 1]]);
    assert.deepEqual(series("TaskFailing"), [[`127.0.0.1:${broken.port}`, 1]]);
    assert.ok((fleet("EndpointConnectTime") ?? -1) >= 0);

    const failing = lines.filter((l) => l.msg === "deployment failing");
    assert.deepEqual(failing.map((l) => [l.deploymentId, l.code, l.message, l.requestId]), [["sick", "OK", "deployment sick is unhealthy", "req-0001"]]);
    assert.match(String(failing[0]!.task), /^127\.0\.0\.1:\d+$/);
    const taskLines = lines.filter((l) => l.msg === "task failing");
    assert.deepEqual(taskLines.map((l) => [l.task, l.zone, l.requestId]), [[`127.0.0.1:${broken.port}`, "us-east-2c", "req-0001"]]);
    const summaries = lines.filter((l) => l.msg === "probe run summary");
    assert.deepEqual(summaries.map((l) => [l.probed, l.unhealthy, l.tasksUnhealthy, l.requestId]), [[11, 1, 1, "req-0001"]]);
  });

  it("reports a task that cannot be reached as not reachable, and probes every deployment through the others", async () => {
    elb.setTargets([task(routers[0]!), task(deadPort), task(routers[1]!)]);
    const { summary } = await invoke(routers[0]!.port);
    const down = summary.tasks.find((t) => t.task === `127.0.0.1:${deadPort}`)!;
    assert.deepEqual([down.healthy, down.reachable, down.probed], [false, false, 0]);
    assert.match(down.reason!, /not reachable: .*(ECONNREFUSED|No connection established)/);
    assert.deepEqual([summary.probed, summary.unhealthy], [11, 1]);
    assert.deepEqual(series("TaskFailing"), [[`127.0.0.1:${deadPort}`, 1]]);
  });

  it("skips targets the NLB sends nothing to (registering, draining)", async () => {
    elb.setTargets([task(routers[0]!), task(broken, "initial"), task(routers[1]!, "draining")]);
    const { summary } = await invoke(routers[0]!.port);
    assert.deepEqual(summary.tasks.map((t) => [t.task, t.healthy]), [[`127.0.0.1:${routers[0]!.port}`, true]]);
    assert.deepEqual([summary.probed, summary.unhealthy], [11, 1]);
  });

  it("reports an unreachable endpoint as one endpoint failure while the tasks answer", async () => {
    elb.setTargets([task(routers[0]!), task(routers[1]!)]);
    const { summary, lines } = await invoke(deadPort);
    assert.equal(summary.endpoint.reachable, false);
    assert.match(summary.endpoint.reason!, /not reachable/);
    assert.deepEqual([summary.probed, summary.unhealthy], [11, 1], "the deployments are judged through the tasks, not failed with the endpoint");
    assert.equal(fleet("EndpointReachable"), 0);
    assert.equal(fleet("EndpointConnectTime"), undefined);
    assert.equal(lines.filter((l) => l.msg === "endpoint failing").length, 1);
  });

  it("with no task listed and the endpoint unreachable: one endpoint failure, the deployments not probed, not eleven failures", async () => {
    const { summary, lines } = await invoke(deadPort, undefined, false);
    assert.deepEqual([summary.mode, summary.probed, summary.unhealthy, summary.notProbed], ["endpoint", 0, 0, 11]);
    assert.match(summary.notProbedReason!, /the endpoint is not reachable/);
    assert.equal(lines.filter((l) => l.msg === "deployment failing").length, 0);
    assert.equal(lines.filter((l) => l.msg === "endpoint failing").length, 1);
    assert.deepEqual(series("DeploymentFailing"), []);
    assert.deepEqual(["DeploymentsProbed", "DeploymentsNotProbed", "EndpointReachable"].map(fleet), [0, 11, 0]);
  });

  it("goes on through the endpoint when the task list cannot be read, and counts a discovery error", async () => {
    elb.failNext("AccessDenied", "User is not authorized to perform: elasticloadbalancing:DescribeTargetHealth");
    const { summary, lines } = await invoke(routers[0]!.port);
    assert.deepEqual([summary.mode, summary.probed, summary.unhealthy], ["endpoint", 11, 1]);
    assert.match(summary.targetError!, /DescribeTargetHealth .* failed \(AccessDenied.*elasticloadbalancing:DescribeTargetHealth/);
    assert.equal(fleet("DiscoveryErrors"), 1);
    assert.ok(lines.some((l) => l.msg === "cannot list the tasks: probing through the endpoint only"));
  });

  it("sends the recovering deployment 0 for three runs, then nothing (warm-container memory)", async () => {
    elb.setTargets([task(routers[0]!), task(routers[1]!)]);
    const memory: MemoryCell = { memory: EMPTY_MEMORY };
    await invoke(routers[0]!.port, memory);
    assert.deepEqual(series("DeploymentFailing"), [["sick", 1]]);
    // The memory says sick failed; make it a healthy deployment by removing it from Cloud Map and the registry.
    cloudMap.setInstances(ids.map((id) => ({ id, ipv4: "127.0.0.1", port: 1 })));
    const seen: [string, number | undefined][][] = [];
    for (let i = 0; i < 4; i++) {
      cloudWatch.accepted.length = 0;
      await invoke(routers[0]!.port, memory);
      seen.push(series("DeploymentFailing"));
    }
    cloudMap.setInstances([...ids, "sick"].map((id) => ({ id, ipv4: "127.0.0.1", port: 1 })));
    assert.deepEqual(seen, [[["sick", 0]], [["sick", 0]], [["sick", 0]], []]);
  });
});

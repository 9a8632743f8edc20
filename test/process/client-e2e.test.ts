/**
 * Two routers on loopback stand in for two ECS tasks, each with its own demo agents in a
 * registry file, both also reading one Cloud Map service (the local fake, real SDK client).
 * Calls cross "tasks", loops are cut by the hop count, and the a2a tool works through it all.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { A2AClient, A2AError, CloudMapSource } from "../../client";
import { EXIT } from "../../client/cli-args";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger } from "../../lib/log";
import { cloudMapSourceFactory } from "../../registry/cloudmap";
import { RegistryChain } from "../../registry/chain";
import { FAKE_AWS_CLIENT_CONFIG } from "../../fixtures/fake-aws";
import { startFakeCloudMap, type FakeCloudMap, type FakeInstance } from "../../fixtures/fake-cloudmap";
import { runCliProcess } from "../helpers/run-cli";

const NS = "pixell-runtime.local";
const SVC = "agents";

describe("client-e2e: two routers as two tasks, Cloud Map between them", function () {
  this.timeout(60_000);
  let dir: string;
  let cloudMap: FakeCloudMap;
  let a1: DemoAgent;
  let b1: DemoAgent;
  let b2Sick: DemoAgent;
  let b4: DemoAgent;
  let routerA: RunningRouter;
  let routerB: RunningRouter;
  let client: A2AClient | undefined;
  let baseInstances: FakeInstance[];

  const cloudMapOf = (r: RunningRouter): CloudMapSource => {
    const found = (r.registry as RegistryChain).sources.find((s): s is CloudMapSource => s instanceof CloudMapSource);
    assert.ok(found, "the router has a Cloud Map source");
    return found;
  };
  const refreshBoth = (): Promise<unknown> => Promise.all([cloudMapOf(routerA).refresh(), cloudMapOf(routerB).refresh()]);
  const writeRegistry = (file: string, deployments: Array<{ id: string; port: number }>): string => {
    const p = path.join(dir, file);
    writeFileSync(p, JSON.stringify({ deployments: deployments.map((d) => ({ ...d, host: "127.0.0.1" })) }));
    return p;
  };
  const start = (registryFile: string): Promise<RunningRouter> => startRouter({
    listen: "127.0.0.1:0", admin: "127.0.0.1:0", logger: silentLogger, maxHops: 3,
    registry: `file:${registryFile},cloudmap:${NS}/${SVC}`,
    // A long interval: the tests refresh the sources themselves, so nothing depends on timing.
    sourceFactory: cloudMapSourceFactory({ client: cloudMap.client(), pollIntervalMs: 60_000 }),
  });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "a2a-e2e-"));
    [a1, b1, b2Sick, b4] = await Promise.all([
      startDemoAgent({ deploymentId: "a1" }),
      startDemoAgent({ deploymentId: "b1" }),
      startDemoAgent({ deploymentId: "b2", unhealthy: true }),
      startDemoAgent({ deploymentId: "b4" }),
    ]);
    // PAR's contract: instance id = deployment id, the task's IP and the agent's own port.
    baseInstances = [
      { id: "a1", ipv4: "127.0.0.1", port: a1.port },
      { id: "b1", ipv4: "127.0.0.1", port: b1.port },
      { id: "b2", ipv4: "127.0.0.1", port: b2Sick.port, health: "UNHEALTHY" },
    ];
    cloudMap = await startFakeCloudMap({ namespace: NS, service: SVC, instances: baseInstances });
    routerA = await start(writeRegistry("task-a.json", [{ id: "a1", port: a1.port }]));
    // Task B's file also (wrongly) maps "loop" to router A: with Cloud Map sending "loop" to router B, calls would circle.
    routerB = await start(writeRegistry("task-b.json", [{ id: "b1", port: b1.port }, { id: "b2", port: b2Sick.port }, { id: "b4", port: b4.port }, { id: "loop", port: routerA.port }]));
  });
  afterEach(() => {
    client?.close();
    client = undefined;
  });
  after(async () => {
    await Promise.all([routerA?.close(), routerB?.close()]);
    await Promise.all([a1?.stop(true), b1?.stop(true), b2Sick?.stop(true), b4?.stop(true)]);
    await cloudMap?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a call to router A for an agent of task B reaches it at its Cloud Map address", async () => {
    client = new A2AClient({ endpoint: `127.0.0.1:${routerA.port}`, timeoutMs: 5000 });
    const before = b1.calls.get("Invoke") ?? 0;
    const res = await client.invoke("b1", { action: "translate", parameters: { to: "fr" } });
    assert.equal(res.success, true);
    assert.deepEqual(JSON.parse(res.result), { deploymentId: "b1", action: "translate", parameters: { to: "fr" } });
    assert.equal(b1.calls.get("Invoke"), before + 1);
    assert.equal((await client.ping("a1")).message, "pong from a1", "task A's own agent, from its file");
  });

  it("an instance registered at task B's router address is forwarded router to router and answered", async () => {
    // For a network where only the router port is open between tasks: router A -> router B -> B's file -> agent.
    cloudMap.setInstances([...baseInstances, { id: "b4", ipv4: "127.0.0.1", port: routerB.port }]);
    await refreshBoth();
    try {
      client = new A2AClient({ endpoint: `127.0.0.1:${routerA.port}`, timeoutMs: 5000 });
      assert.equal((await client.ping("b4")).message, "pong from b4");
      assert.equal(b4.calls.get("Ping"), 1);
    } finally {
      cloudMap.setInstances(baseInstances);
      await refreshBoth();
    }
  });

  it("a new instance becomes routable after the revision moves; a removed one answers NOT_FOUND", async () => {
    const b3 = await startDemoAgent({ deploymentId: "b3" });
    try {
      client = new A2AClient({ endpoint: `127.0.0.1:${routerA.port}`, timeoutMs: 5000 });
      const unknown = await client.ping("b3").then(() => undefined, (e: unknown) => e);
      assert.ok(unknown instanceof A2AError);
      assert.equal(unknown.codeName, "NOT_FOUND");

      cloudMap.setInstances([...baseInstances, { id: "b3", ipv4: "127.0.0.1", port: b3.port }]);
      await refreshBoth();
      assert.equal((await client.ping("b3")).message, "pong from b3");

      cloudMap.setInstances(baseInstances);
      await refreshBoth();
      const gone = await client.ping("b3").then(() => undefined, (e: unknown) => e);
      assert.ok(gone instanceof A2AError);
      assert.equal(gone.codeName, "NOT_FOUND");
    } finally {
      await b3.stop(true);
    }
  });

  it("Cloud Map down: routing keeps working from the last snapshot, and /metrics shows its age", async () => {
    cloudMap.failNext({ status: 503, type: "ServiceUnavailable", message: "down for the test" }, 2);
    await refreshBoth();
    assert.match(cloudMapOf(routerA).lastError ?? "", /down for the test/);
    client = new A2AClient({ endpoint: `127.0.0.1:${routerA.port}`, timeoutMs: 5000 });
    assert.equal((await client.ping("b1")).message, "pong from b1");
    const metrics = await (await fetch(`http://127.0.0.1:${routerA.adminPort}/metrics`)).text();
    assert.match(metrics, /^pixell_router_registry_snapshot_age_seconds\{source="cloudmap:pixell-runtime\.local\/agents"\} [0-9.e-]+$/m);
    await refreshBoth();
    assert.equal(cloudMapOf(routerA).lastError, undefined);
  });

  it("the router's live health endpoint reaches a task-B agent through Cloud Map", async () => {
    const res = await fetch(`http://127.0.0.1:${routerA.adminPort}/deployments/b1/health`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual([body.deploymentId, body.healthy, body.address], ["b1", true, `127.0.0.1:${b1.port}`]);
  });

  it("the client's internal path goes straight to the Cloud Map address, unknown ids go through the endpoint", async () => {
    const resolver = new CloudMapSource({ namespace: NS, service: SVC, client: cloudMap.client(), pollIntervalMs: 60_000 });
    await resolver.start();
    try {
      client = new A2AClient({ endpoint: `127.0.0.1:${routerA.port}`, resolver, timeoutMs: 5000 });
      assert.deepEqual(await client.route("b1"), { address: `127.0.0.1:${b1.port}`, path: "internal" });
      assert.equal((await client.ping("b1")).message, "pong from b1");
      const err = await client.ping("nobody").then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof A2AError);
      assert.deepEqual([err.codeName, err.address], ["NOT_FOUND", `127.0.0.1:${routerA.port}`], "the router answered for the unknown id");
    } finally {
      await resolver.close();
    }
  });

  it("the a2a tool works through the router: invoke, and check over Cloud Map with a table", async () => {
    const env = {
      AWS_ENDPOINT_URL_SERVICEDISCOVERY: cloudMap.url,
      AWS_REGION: FAKE_AWS_CLIENT_CONFIG.region,
      AWS_ACCESS_KEY_ID: FAKE_AWS_CLIENT_CONFIG.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_AWS_CLIENT_CONFIG.credentials.secretAccessKey,
    };
    const endpoint = `127.0.0.1:${routerA.port}`;
    const [invoke, check, checkJson] = await Promise.all([
      runCliProcess(["invoke", "b1", "echo", "x=1", "--endpoint", endpoint]),
      runCliProcess(["check", "--endpoint", endpoint, "--registry", `cloudmap:${NS}/${SVC}`], env),
      runCliProcess(["check", "--registry", `cloudmap:${NS}/${SVC}`, "--json"], { ...env, PAR_A2A_ENDPOINT: endpoint }),
    ]);
    assert.equal(invoke.code, EXIT.OK, invoke.stderr);
    assert.deepEqual(JSON.parse(invoke.stdout), { deploymentId: "b1", action: "echo", parameters: { x: "1" } });

    assert.equal(check.code, EXIT.FAILED, "b2 is unhealthy, so the check fails");
    const lines = check.stdout.trimEnd().split("\n");
    assert.match(lines[1]!, /^b2\s+UNHEALTHY\s+OK\s+[0-9.]+ ms\s+deployment b2 is unhealthy$/);
    assert.match(lines[2]!, /^a1\s+healthy\s+OK\s/);
    assert.match(lines[3]!, /^b1\s+healthy\s+OK\s/);
    assert.equal(lines.at(-1), `3 deployments via ${endpoint}: 2 healthy, 1 unhealthy`);

    assert.equal(checkJson.code, EXIT.FAILED);
    const doc = JSON.parse(checkJson.stdout) as { healthy: number; unhealthy: number; results: Array<{ deploymentId: string; ok: boolean }> };
    assert.deepEqual([doc.healthy, doc.unhealthy], [2, 1]);
    assert.deepEqual(doc.results.map((r) => [r.deploymentId, r.ok]), [["a1", true], ["b1", true], ["b2", false]]);
  });

  it("check says which source could not be read when Cloud Map is unreachable", async () => {
    const r = await runCliProcess(["check", "--endpoint", `127.0.0.1:${routerA.port}`, "--registry", `cloudmap:${NS}/nope`], {
      AWS_ENDPOINT_URL_SERVICEDISCOVERY: cloudMap.url, AWS_REGION: "us-east-2", AWS_ACCESS_KEY_ID: "AKIAFAKE", AWS_SECRET_ACCESS_KEY: "fake",
    });
    assert.equal(r.code, EXIT.FAILED);
    assert.match(r.stderr, /a2a: could not read cloudmap:pixell-runtime\.local\/nope: ServiceNotFound/);
  });

  it("a loop between two routers fails fast with a clear error instead of spinning", async () => {
    cloudMap.setInstances([...baseInstances, { id: "loop", ipv4: "127.0.0.1", port: routerB.port }]);
    await refreshBoth();
    client = new A2AClient({ endpoint: `127.0.0.1:${routerA.port}`, timeoutMs: 5000 });
    const err = await client.ping("loop").then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof A2AError);
    assert.equal(err.codeName, "FAILED_PRECONDITION");
    assert.match(err.details, /routing loop: the call for deployment loop already passed 3 routers/);

    const cli = await runCliProcess(["health", "loop", "--endpoint", `127.0.0.1:${routerA.port}`]);
    assert.equal(cli.code, EXIT.FAILED);
    assert.match(cli.stdout, /^loop: UNHEALTHY \(FAILED_PRECONDITION, .*routing loop/m);
  });
});

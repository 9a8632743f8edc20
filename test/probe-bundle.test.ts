import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemoAgent, type DemoAgent } from "../local/demo-agent";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { agentProtoJson, buildProbeBundle, type ProbeBundle } from "../probe-lambda/build";
import { agentServiceDefinition } from "../proto";
import type { ProbeSummary } from "../probe-lambda/run";
import { startRouter, type RunningRouter } from "../router";
import { silentLogger } from "../router/log";
import { startFakeCloudMap, type FakeCloudMap } from "./helpers/fake-cloudmap";
import { startFakeCloudWatch, type FakeCloudWatch } from "./helpers/fake-cloudwatch";
import { startFakeAwsJsonServer } from "./helpers/fake-aws";
import { startRecordingAgent } from "./helpers/recording-agent";

type Handler = (event: unknown, context: { getRemainingTimeInMillis(): number }) => Promise<ProbeSummary>;

describe("probe bundle (dist/probe-lambda/index.js as Lambda runs it)", function () {
  this.timeout(30_000);
  let dir: string;
  let bundle: ProbeBundle;
  let agent: DemoAgent;
  let cloudMap: FakeCloudMap;
  let cloudWatch: FakeCloudWatch;
  let router: RunningRouter;
  const savedEnv = { ...process.env };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "probe-bundle-"));
    bundle = await buildProbeBundle(dir);
    agent = await startDemoAgent({ deploymentId: "bundle-agent" });
    const registry = join(dir, "registry.json");
    writeFileSync(registry, JSON.stringify({ deployments: [{ id: "bundle-agent", port: agent.port }] }));
    router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: `file:${registry}`, logger: silentLogger });
    // Cloud Map also lists an id the router does not know: the probe must report it NOT_FOUND.
    cloudMap = await startFakeCloudMap({ instances: [
      { id: "bundle-agent", ipv4: "127.0.0.1", port: agent.port, health: "UNHEALTHY" },
      { id: "ghost", ipv4: "127.0.0.1", port: 1 },
    ] });
    cloudWatch = await startFakeCloudWatch();
  });
  after(async () => {
    process.env = savedEnv;
    await router.close();
    await Promise.all([agent.stop(true), cloudMap.close(), cloudWatch.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("is one self-contained file: agent.proto is embedded, not read from beside it", () => {
    assert.equal(bundle.file, join(dir, "index.js"));
    assert.deepEqual(readdirSync(dir).filter((f) => f !== "registry.json"), ["index.js"]);
    assert.equal(bundle.bytes, statSync(bundle.file).size);
    assert.ok(!existsSync(join(dir, "agent.proto")));
  });

  it("embeds the same AgentService definition proto-loader builds from the file", () => {
    const options = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };
    const embedded = protoLoader.fromJSON(agentProtoJson(), options)["pixell.agent.AgentService"] as grpc.ServiceDefinition;
    const fromFile = agentServiceDefinition();
    assert.deepEqual(Object.keys(embedded).sort(), Object.keys(fromFile).sort());
    const result = { success: true, result: "r", error: "", requestId: "req-1", durationMs: "42" };
    for (const name of Object.keys(fromFile)) {
      assert.equal(embedded[name]!.path, fromFile[name]!.path);
    }
    const a = embedded.Invoke!.responseSerialize(result);
    assert.deepEqual(a, fromFile.Invoke!.responseSerialize(result));
    assert.deepEqual(fromFile.Invoke!.responseDeserialize(a), result);
  });

  it("runs the handler from the bundle: Cloud Map, probes through the router, PutMetricData", async () => {
    process.env = {
      ...savedEnv,
      PROBE_ENDPOINT: `127.0.0.1:${router.port}`,
      AWS_REGION: "us-east-2",
      AWS_ACCESS_KEY_ID: "AKIAFAKEFAKEFAKEFAKE",
      AWS_SECRET_ACCESS_KEY: "fake-secret",
      AWS_ENDPOINT_URL_SERVICEDISCOVERY: cloudMap.url,
      AWS_ENDPOINT_URL_CLOUDWATCH: cloudWatch.url,
      LOG_LEVEL: "silent",
    };
    // The bundle is plain CommonJS, loaded the way the Lambda runtime loads it.
    const mod = require(bundle.file) as { handler: Handler };
    const summary = await mod.handler({}, { getRemainingTimeInMillis: () => 60_000 });
    assert.deepEqual([summary.probed, summary.healthy, summary.unhealthy], [2, 1, 1]);
    assert.deepEqual(summary.results.map((r) => [r.deploymentId, r.ok, r.codeName]), [["bundle-agent", true, "OK"], ["ghost", false, "NOT_FOUND"]]);
    assert.equal(agent.calls.get("Health"), 1);
    assert.equal(cloudMap.count("DiscoverInstances"), 1);
    assert.deepEqual(cloudWatch.accepted.flatMap((a) => a.MetricData).map((d) => [d.MetricName, d.Dimensions?.[0]?.Value ?? "", d.MetricName === "ProbeLatency" ? "ms" : d.Value]), [
      ["ProbeSuccess", "bundle-agent", 1],
      ["ProbeLatency", "bundle-agent", "ms"],
      ["ProbeSuccess", "ghost", 0],
      ["DeploymentsProbed", "", 2],
      ["DeploymentsHealthy", "", 1],
      ["DeploymentsUnhealthy", "", 1],
      ["DeploymentsNotProbed", "", 0],
      ["DiscoveryErrors", "", 0],
    ]);
    assert.equal(cloudWatch.accepted[0]!.Namespace, "Pixell/A2A");
  });

  it("starts no probe when the Lambda's remaining time is inside the reserve, and says so in the metrics", async () => {
    // The module (and its configuration) is already loaded: the default 5 s reserve and 3 s timeout apply.
    // require returns the cached module, as a warm Lambda container would.
    const mod = require(bundle.file) as { handler: Handler };
    cloudWatch.accepted.length = 0;
    const healthCalls = agent.calls.get("Health");
    const summary = await mod.handler({}, { getRemainingTimeInMillis: () => 6_000 });
    assert.deepEqual([summary.probed, summary.notProbed, summary.notProbedIds], [0, 2, ["bundle-agent", "ghost"]]);
    assert.equal(agent.calls.get("Health"), healthCalls);
    const run = Object.fromEntries(cloudWatch.accepted.flatMap((a) => a.MetricData).map((d) => [d.MetricName, d.Value]));
    assert.deepEqual(run, { DeploymentsProbed: 0, DeploymentsHealthy: 0, DeploymentsUnhealthy: 0, DeploymentsNotProbed: 2, DiscoveryErrors: 0 });
  });

  it("reads the bearer token from Secrets Manager and sends it on every probe", async () => {
    const secrets = await startFakeAwsJsonServer("application/x-amz-json-1.1", (operation, body) =>
      operation === "GetSecretValue" && body.SecretId === "probe-token"
        ? { body: { Name: "probe-token", SecretString: JSON.stringify({ token: "bundle-t0ken" }) } }
        : { error: { status: 400, type: "ResourceNotFoundException", message: "not found" } });
    const recorder = await startRecordingAgent();
    try {
      process.env = {
        ...process.env,
        PROBE_ENDPOINT: `127.0.0.1:${recorder.port}`,
        PROBE_AUTH_TOKEN_SECRET: "probe-token",
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      };
      // A fresh container: the module reads its configuration again.
      delete require.cache[bundle.file];
      const mod = require(bundle.file) as { handler: Handler };
      const summary = await mod.handler({}, { getRemainingTimeInMillis: () => 60_000 });
      assert.deepEqual([summary.probed, summary.healthy], [2, 2]);
      assert.deepEqual(recorder.seen.map((m) => m.get("authorization")), [["Bearer bundle-t0ken"], ["Bearer bundle-t0ken"]]);
      assert.equal(secrets.count("GetSecretValue"), 1);
    } finally {
      recorder.stop();
      await secrets.close();
    }
  });
});

import { strict as assert } from "node:assert";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { probeAssetArchive } from "../../infra/probe-code";
import { PROBE_HANDLER } from "../../infra/probe";
import { agentProtoJson } from "../../build/probe";
import { agentServiceDefinition } from "../../proto";
import type { ProbeSummary } from "../../probe-lambda/run";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger } from "../../lib/log";
import { startFakeCloudMap, type FakeCloudMap } from "../../fixtures/fake-cloudmap";
import { startFakeCloudWatch, type FakeCloudWatch } from "../../fixtures/fake-cloudwatch";
import { startFakeAwsJsonServer } from "../../fixtures/fake-aws";
import { startFakeElbv2, type FakeElbv2 } from "../../fixtures/fake-elbv2";
import { loadHandler, resolveHandlerFile } from "../helpers/lambda-handler";
import { zipAssetArchive } from "../helpers/pulumi-zip";
import { startRecordingAgent } from "../helpers/recording-agent";

type Handler = (event: unknown, context: { getRemainingTimeInMillis(): number }) => Promise<ProbeSummary>;

/**
 * The probe Lambda's code exactly as deployed: the archive infra/probe-code.ts hands Pulumi, zipped
 * as the Pulumi engine zips it (test/helpers/pulumi-zip.ts), unpacked with Info-ZIP `unzip` into a
 * directory outside the repository (the function's root, /var/task in Lambda: no node_modules up
 * the chain), its handler found by the runtime's rules from the function's `handler` setting
 * (test/helpers/lambda-handler.ts) and invoked against local Cloud Map, CloudWatch and Secrets
 * Manager endpoints. Only a real deploy confirms the nodejs22.x runtime itself (this runs on the
 * local Node) and Lambda's own unpacking.
 */
describe("probe bundle (the deployed zip, as Lambda loads it)", function () {
  this.timeout(30_000);
  let buildDir: string;
  let taskRoot: string;
  let entries: string[];
  let handlerFile: string;
  let agent: DemoAgent;
  let cloudMap: FakeCloudMap;
  let cloudWatch: FakeCloudWatch;
  let router: RunningRouter;
  let elb: FakeElbv2;
  const savedEnv = { ...process.env };
  const load = async (): Promise<{ handler: Handler }> => ({ handler: (await loadHandler(taskRoot, PROBE_HANDLER)) as Handler });

  before(async () => {
    buildDir = mkdtempSync(join(tmpdir(), "probe-build-"));
    const zipFile = join(buildDir, "probe.zip");
    entries = await zipAssetArchive(await probeAssetArchive(join(buildDir, "bundle")), zipFile);
    taskRoot = mkdtempSync(join(tmpdir(), "probe-task-"));
    execFileSync("unzip", ["-q", zipFile, "-d", taskRoot], { timeout: 10_000 });
    handlerFile = resolveHandlerFile(taskRoot, PROBE_HANDLER).file;
    agent = await startDemoAgent({ deploymentId: "bundle-agent" });
    const registry = join(buildDir, "registry.json");
    writeFileSync(registry, JSON.stringify({ deployments: [{ id: "bundle-agent", port: agent.port }] }));
    router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: `file:${registry}`, logger: silentLogger });
    // Cloud Map also lists an id the router does not know: the probe must report it NOT_FOUND.
    cloudMap = await startFakeCloudMap({ instances: [
      { id: "bundle-agent", ipv4: "127.0.0.1", port: agent.port, health: "UNHEALTHY" },
      { id: "ghost", ipv4: "127.0.0.1", port: 1 },
    ] });
    cloudWatch = await startFakeCloudWatch();
    // The router is the endpoint and the one task behind it (DescribeTargetHealth lists it).
    elb = await startFakeElbv2([{ id: "127.0.0.1", port: router.port, state: "healthy", zone: "us-east-2a" }]);
  });
  after(async () => {
    process.env = savedEnv;
    await router?.close();
    await Promise.all([agent?.stop(true), cloudMap?.close(), cloudWatch?.close(), elb?.close()]);
    for (const d of [buildDir, taskRoot]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it("is a zip of one self-contained file: agent.proto is embedded, and no node_modules is reachable", () => {
    assert.deepEqual(entries, ["index.js"]);
    assert.deepEqual(readdirSync(taskRoot), ["index.js"]);
    assert.equal(handlerFile, join(taskRoot, "index.js"));
    assert.ok(statSync(handlerFile).size > 0);
    assert.ok(!existsSync(join(taskRoot, "agent.proto")));
    assert.ok(relative(resolve(__dirname, "..", ".."), taskRoot).startsWith(".."), "the function root must be outside the repository");
    for (let d = taskRoot; d !== dirname(d); d = dirname(d)) assert.ok(!existsSync(join(d, "node_modules")), `${d}/node_modules is reachable`);
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

  const bundleEnv = (): NodeJS.ProcessEnv => ({
    ...savedEnv,
    PROBE_ENDPOINT: `127.0.0.1:${router.port}`,
    PROBE_TARGET_GROUP_ARN: elb.targetGroupArn,
    AWS_REGION: "us-east-2",
    AWS_ACCESS_KEY_ID: "AKIAFAKEFAKEFAKEFAKE",
    AWS_SECRET_ACCESS_KEY: "fake-secret",
    AWS_ENDPOINT_URL_SERVICEDISCOVERY: cloudMap.url,
    AWS_ENDPOINT_URL_CLOUDWATCH: cloudWatch.url,
    // The SDK's per-service endpoint setting: AWS_ENDPOINT_URL_ + the service id "Elastic Load Balancing v2".
    AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: elb.url,
    LOG_LEVEL: "silent",
  });

  it("runs the handler from the bundle: Cloud Map, DescribeTargetHealth, probes through the task and the endpoint, PutMetricData", async () => {
    process.env = bundleEnv();
    // The bundle is plain CommonJS, loaded the way the Lambda runtime loads it.
    const mod = await load();
    const summary = await mod.handler({}, { getRemainingTimeInMillis: () => 60_000 });
    assert.deepEqual([summary.mode, summary.probed, summary.healthy, summary.unhealthy], ["tasks", 2, 1, 1]);
    assert.deepEqual(summary.results.map((r) => [r.deploymentId, r.ok, r.codeName, r.via]), [["bundle-agent", true, "OK", `127.0.0.1:${router.port}`], ["ghost", false, "NOT_FOUND", `127.0.0.1:${router.port}`]]);
    // Once through the task, once in the endpoint's sample.
    assert.equal(agent.calls.get("Health"), 2);
    assert.equal(cloudMap.count("DiscoverInstances"), 1);
    assert.deepEqual(elb.requests.map((r) => [r.Action, r.TargetGroupArn]), [["DescribeTargetHealth", elb.targetGroupArn]]);
    assert.deepEqual(cloudWatch.accepted.flatMap((a) => a.MetricData).map((d) => [d.MetricName, d.Dimensions?.[0]?.Value ?? "", ["ProbeLatency", "EndpointConnectTime"].includes(d.MetricName) ? "ms" : d.Value]), [
      ["DeploymentsProbed", "", 2],
      ["DeploymentsUnhealthy", "", 1],
      ["DeploymentsNotProbed", "", 0],
      ["DiscoveryErrors", "", 0],
      ["ProbeLatency", "", "ms"],
      ["TasksProbed", "", 1],
      ["TasksUnhealthy", "", 0],
      ["EndpointReachable", "", 1],
      ["EndpointConnectTime", "", "ms"],
      ["DeploymentFailing", "ghost", 1],
      ["RegisteredInstances", "agents", 2],
    ]);
    assert.equal(cloudWatch.accepted[0]!.Namespace, "Pixell/A2A");
  });

  it("writes one JSON line per failing deployment and a summary, each with the Lambda request id (the bundle in a process of its own)", async () => {
    const script = `require(${JSON.stringify(handlerFile)}).handler({}, { getRemainingTimeInMillis: () => 60000, awsRequestId: "6bc28136-0c6f-4b2a-9c1f-000000000001" }).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });`;
    const child = spawn(process.execPath, ["-e", script], { env: { ...bundleEnv(), LOG_LEVEL: "info" }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => { out += c.toString(); });
    assert.equal(await new Promise<number | null>((resolve) => child.on("exit", resolve)), 0);
    const lines = out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const failing = lines.filter((l) => l.msg === "deployment failing");
    assert.deepEqual(failing.map((l) => [l.deploymentId, l.code, l.task, l.requestId, l.level]), [["ghost", "NOT_FOUND", `127.0.0.1:${router.port}`, "6bc28136-0c6f-4b2a-9c1f-000000000001", "warn"]]);
    assert.match(String(failing[0]!.message), /deployment ghost is not registered/);
    const summaries = lines.filter((l) => l.msg === "probe run summary");
    assert.deepEqual(summaries.map((l) => [l.probed, l.unhealthy, l.requestId]), [[2, 1, "6bc28136-0c6f-4b2a-9c1f-000000000001"]]);
  });

  it("starts no probe when the Lambda's remaining time is inside the reserve, and says so in the metrics", async () => {
    // The module (and its configuration) is already loaded: the default 5 s reserve and 3 s timeout apply.
    // require returns the cached module, as a warm Lambda container would.
    const mod = await load();
    cloudWatch.accepted.length = 0;
    const healthCalls = agent.calls.get("Health");
    const summary = await mod.handler({}, { getRemainingTimeInMillis: () => 6_000 });
    assert.deepEqual([summary.probed, summary.notProbed, summary.notProbedIds], [0, 2, ["bundle-agent", "ghost"]]);
    assert.equal(agent.calls.get("Health"), healthCalls);
    const run = Object.fromEntries(cloudWatch.accepted.flatMap((a) => a.MetricData).filter((d) => !d.MetricName.startsWith("Endpoint")).map((d) => [d.MetricName, d.Value]));
    assert.deepEqual(run, { DeploymentsProbed: 0, DeploymentsUnhealthy: 0, DeploymentsNotProbed: 2, DiscoveryErrors: 0, TasksProbed: 1, TasksUnhealthy: 0, RegisteredInstances: 2 });
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
        LOG_LEVEL: "silent",
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      };
      // A fresh container: the module reads its configuration again.
      delete require.cache[handlerFile];
      const mod = await load();
      // The recorder is the endpoint and the one task: the token goes on the task's channel too.
      elb.setTargets([{ id: "127.0.0.1", port: recorder.port, state: "healthy" }]);
      const summary = await mod.handler({}, { getRemainingTimeInMillis: () => 60_000 });
      assert.deepEqual([summary.probed, summary.healthy], [2, 2]);
      assert.equal(recorder.seen.length, 4, "two deployments through the task, both again in the endpoint's sample");
      assert.ok(recorder.seen.every((m) => m.get("authorization")?.[0] === "Bearer bundle-t0ken"));
      assert.equal(secrets.count("GetSecretValue"), 1);
    } finally {
      recorder.stop();
      await secrets.close();
    }
  });
});

/**
 * The router's calls in flight as a CloudWatch metric (router/emf.ts), the custom metric of the
 * auto scaling policy (infra/autoscaling.ts). The line follows the Embedded Metric Format
 * specification (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
 * a root `_aws` with Timestamp (ms) and CloudWatchMetrics [{Namespace, Dimensions: [[names]], Metrics:
 * [{Name, Unit}]}], every dimension and metric value a root member. CloudWatch Logs extracts it from a
 * log event sent with PutLogEvents, as the awslogs driver sends stdout; the x-amzn-logs-format header is
 * optional (CloudWatch_Embedded_Metric_Format_Generation_PutLogEvents.html).
 */
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { ConfigError, parseRouterConfig } from "../../router/config";
import { emfLine, namespaceProblem, parseDimensions, ROUTER_METRIC, SampleMean } from "../../router/emf";
import { startChildRouter, type ChildRouter } from "../../fixtures/child-router";
import { md, RawClient, startEchoServer, type EchoServer } from "../../fixtures/echo-server";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

describe("router emf: calls in flight as a CloudWatch metric", () => {
  it("writes an EMF document CloudWatch accepts: one dimension set, the metric and its unit, values at the root", () => {
    const doc = JSON.parse(emfLine({ namespace: "Pixell/A2A", dimensions: { Stack: "pixell-a2a-dev", Shard: "agents-1" } }, [{ name: ROUTER_METRIC, unit: "Count", value: 3.5 }], 1_700_000_000_000));
    assert.deepEqual(doc, {
      _aws: { Timestamp: 1_700_000_000_000, CloudWatchMetrics: [{ Namespace: "Pixell/A2A", Dimensions: [["Stack", "Shard"]], Metrics: [{ Name: "RouterActiveStreams", Unit: "Count" }] }] },
      Stack: "pixell-a2a-dev", Shard: "agents-1", RouterActiveStreams: 3.5,
    });
  });

  it("averages the samples of an interval, and falls back to the current value when none was taken", () => {
    const m = new SampleMean();
    for (const v of [0, 4, 8]) m.add(v);
    assert.equal(m.take(100), 4);
    assert.equal(m.take(7), 7, "no sample since the last take");
  });

  it("parses dimensions and namespaces by CloudWatch's rules", () => {
    assert.deepEqual(parseDimensions("Stack=s, Shard=agents"), { Stack: "s", Shard: "agents" });
    for (const bad of ["", "Stack", "=x", "Stack=", "A=1,A=2", ":x=1", Array.from({ length: 31 }, (_, i) => `d${i}=v`).join(",")]) assert.throws(() => parseDimensions(bad), /NAME=VALUE/, bad);
    assert.equal(namespaceProblem("Pixell/A2A"), undefined);
    assert.match(namespaceProblem("AWS/ECS") ?? "", /not starting with ':' or 'AWS\/'/);
  });

  it("is off by default, and refuses half a configuration naming the flag and its variable", () => {
    assert.equal(parseRouterConfig([], { ROUTER_REGISTRY: "file:/r" }).emf, undefined);
    const on = parseRouterConfig(["--emf-namespace", "Pixell/A2A", "--emf-dimensions", "Stack=s,Shard=a"], { ROUTER_REGISTRY: "file:/r" });
    assert.deepEqual(on.emf, { namespace: "Pixell/A2A", dimensions: { Stack: "s", Shard: "a" }, intervalMs: 60_000 });
    const refuses = (argv: string[], pattern: RegExp): void => {
      assert.throws(() => parseRouterConfig(argv, { ROUTER_REGISTRY: "file:/r" }), (e: unknown) => e instanceof ConfigError && pattern.test(e.message), argv.join(" "));
    };
    refuses(["--emf-dimensions", "Stack=s"], /--emf-dimensions \(ROUTER_EMF_DIMENSIONS\) is only used with --emf-namespace \(ROUTER_EMF_NAMESPACE\)/);
    refuses(["--emf-namespace", "Pixell/A2A"], /--emf-dimensions \(ROUTER_EMF_DIMENSIONS\) \(required with .*e\.g\. Stack=pixell-a2a-dev,Shard=agents/);
    refuses(["--emf-namespace", "AWS/X", "--emf-dimensions", "A=1"], /--emf-namespace \(ROUTER_EMF_NAMESPACE\): expected 1-255/);
    refuses(["--emf-namespace", "N", "--emf-dimensions", "A=1", "--emf-interval-ms", "10"], /--emf-interval-ms \(ROUTER_EMF_INTERVAL_MS\) must be a whole number from 1000 to 3600000, got "10"/);
  });
});

describe("router emf: the router process writes the metric while calls are open", function () {
  this.timeout(30_000);
  let agent: EchoServer;
  let router: ChildRouter;
  let client: RawClient;
  let dir: string;
  before(async () => {
    agent = await startEchoServer({ name: "hang" });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "router-emf-"));
    fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "hang", port: agent.port }] }));
    router = await startChildRouter({
      registry: `file:${path.join(dir, "r.json")}`,
      extraArgs: ["--emf-namespace", "Pixell/A2A", "--emf-dimensions", "Stack=test,Shard=agents", "--emf-interval-ms", "1000"],
    });
    client = new RawClient(`127.0.0.1:${router.port}`);
  });
  after(async () => {
    client.close();
    await router.kill();
    await agent.stop(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("reports the open calls as RouterActiveStreams on stdout, in EMF, with the configured dimensions", async () => {
    const calls = Array.from({ length: 3 }, () => client.unary("Hang", "x", md({ "x-deployment-id": "hang" }), { deadline: Date.now() + 6000 }).catch((e: grpc.ServiceError) => e));
    const docs = (): Record<string, unknown>[] => router.log().split("\n").filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const until = Date.now() + 5000;
    while (!docs().some((d) => d.RouterActiveStreams === 3) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    const full = docs().find((d) => d.RouterActiveStreams === 3);
    assert.ok(full, `an interval with the 3 open calls: ${JSON.stringify(docs())}`);
    assert.deepEqual([full.Stack, full.Shard], ["test", "agents"]);
    assert.deepEqual((full._aws as { CloudWatchMetrics: unknown[] }).CloudWatchMetrics, [{ Namespace: "Pixell/A2A", Dimensions: [["Stack", "Shard"]], Metrics: [{ Name: "RouterActiveStreams", Unit: "Count" }] }]);
    client.close();
    await Promise.all(calls);
  });
});

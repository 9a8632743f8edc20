import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { main, parseProbeArgs, parseRegistrySpec } from "../../probe-lambda/cli";
import { startFakeCloudWatch } from "../../fixtures/fake-cloudwatch";

describe("probe CLI: arguments", () => {
  it("parses the documented flags with their defaults", () => {
    assert.deepEqual(parseProbeArgs(["--endpoint", "127.0.0.1:50051", "--registry", "file:/tmp/r.json"]), {
      endpoint: "127.0.0.1:50051", registry: { kind: "file", path: "/tmp/r.json" }, metrics: "none", timeoutMs: 3000, concurrency: 64, namespace: "Pixell/A2A", tls: false, tasks: [],
    });
    assert.deepEqual(parseProbeArgs(["--endpoint", "nlb:50051", "--registry", "cloudmap:pixell-runtime.local/agents", "--metrics", "stdout", "--timeout-ms", "500", "--concurrency", "4", "--tls", "--tasks", "10.0.1.9:50051, 10.0.2.7:50051"]), {
      endpoint: "nlb:50051", registry: { kind: "cloudmap", services: [{ namespace: "pixell-runtime.local", service: "agents" }] }, metrics: "stdout", timeoutMs: 500, concurrency: 4, namespace: "Pixell/A2A", tls: true,
      tasks: ["10.0.1.9:50051", "10.0.2.7:50051"],
    });
  });

  it("rejects what it cannot use, saying what is accepted", () => {
    assert.throws(() => parseRegistrySpec("par:http://x"), /expected file:PATH .* or cloudmap:NAMESPACE\/SERVICE/);
    assert.throws(() => parseRegistrySpec("cloudmap:ns/agents,file:x"), /comma-separated for every shard/);
    assert.deepEqual(parseRegistrySpec("cloudmap:ns/agents,cloudmap:ns/agents-1"), { kind: "cloudmap", services: [{ namespace: "ns", service: "agents" }, { namespace: "ns", service: "agents-1" }] });
    assert.throws(() => parseProbeArgs(["--endpoint", "h:1"]), /--registry is required/);
    assert.throws(() => parseProbeArgs(["--registry", "file:x"]), /--endpoint is not set/);
    assert.throws(() => parseProbeArgs(["--endpoint", "h:1", "--registry", "file:x", "--metrics", "prometheus"]), /--metrics "prometheus" is not accepted: expected none, stdout or cloudwatch/);
    assert.throws(() => parseProbeArgs(["--endpoint", "h:1", "--registry", "file:x", "--bogus"]), /Unknown option '--bogus'/);
    assert.throws(() => parseProbeArgs(["--endpoint", "h:1", "--registry", "file:x", "--tasks", "10.0.1.9"]), /--tasks must be HOST:PORT.*got "10.0.1.9"/);
  });
});

describe("probe CLI: runs (demo agents, no router: every id reaches the one agent)", () => {
  let dir: string;
  let good: DemoAgent;
  let sick: DemoAgent;
  const run = async (argv: string[]): Promise<{ code: number; out: string[]; err: string }> => {
    let out = "";
    let err = "";
    const code = await main(argv, { stdout: (t) => { out += t; }, stderr: (t) => { err += t; } });
    return { code, out: out.trimEnd().split("\n"), err };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "probe-cli-"));
    writeFileSync(join(dir, "registry.json"), JSON.stringify({ deployments: [{ id: "alpha", port: 50054 }, { id: "beta", port: 50055 }] }));
    good = await startDemoAgent({ deploymentId: "good" });
    sick = await startDemoAgent({ deploymentId: "sick", unhealthy: true });
  });
  after(async () => {
    await Promise.all([good.stop(true), sick.stop(true)]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints EMF lines then the JSON summary last, and exits 0 when all are healthy", async () => {
    const r = await run(["--endpoint", `127.0.0.1:${good.port}`, "--registry", `file:${join(dir, "registry.json")}`, "--metrics", "stdout"]);
    assert.equal(r.code, 0);
    assert.equal(r.out.length, 2, "one EMF line for the run (nothing fails: no per-deployment series), then the summary");
    const emf = JSON.parse(r.out[0]!) as Record<string, unknown> & { _aws: { CloudWatchMetrics: { Namespace: string }[] } };
    assert.deepEqual([emf.DeploymentsProbed, emf.DeploymentsUnhealthy, emf.EndpointReachable, emf._aws.CloudWatchMetrics[0]!.Namespace], [2, 0, 1, "Pixell/A2A"]);
    const summary = JSON.parse(r.out[1]!) as { probed: number; healthy: number; results: { deploymentId: string; ok: boolean; code: number }[] };
    assert.deepEqual([summary.probed, summary.healthy, summary.results.map((x) => [x.deploymentId, x.ok, x.code])], [2, 2, [["alpha", true, 0], ["beta", true, 0]]]);
    assert.match(r.err, /^DEPLOYMENT\s+HEALTH/);
    assert.match(r.err, /2\/2 healthy/);
  });

  it("exits 1 when a deployment is unhealthy", async () => {
    const r = await run(["--endpoint", `127.0.0.1:${sick.port}`, "--registry", `file:${join(dir, "registry.json")}`]);
    assert.equal(r.code, 1);
    assert.equal(r.out.length, 1, "no metrics requested: only the summary");
    assert.equal((JSON.parse(r.out[0]!) as { unhealthy: number }).unhealthy, 2);
  });

  it("with --tasks, probes each task directly and reports an unreachable one as that task (exit 1)", async () => {
    const r = await run(["--endpoint", `127.0.0.1:${good.port}`, "--registry", `file:${join(dir, "registry.json")}`, "--tasks", `127.0.0.1:${good.port},127.0.0.1:1`, "--timeout-ms", "500"]);
    assert.equal(r.code, 1);
    const summary = JSON.parse(r.out[0]!) as { healthy: number; tasks: { task: string; healthy: boolean }[] };
    assert.equal(summary.healthy, 2, "both deployments answered through the good task");
    assert.deepEqual(summary.tasks.map((t) => [t.task, t.healthy]), [[`127.0.0.1:${good.port}`, true], ["127.0.0.1:1", false]].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
    assert.match(r.err, /TASK\s+HEALTH\s+CONNECT/);
    assert.match(r.err, /127\.0\.0\.1:1\s+UNHEALTHY\s+-\s+0\s+0\s+not reachable/);
  });

  it("exits 2 on a usage error and on a discovery error (emitting DiscoveryErrors)", async () => {
    const callsBefore = good.calls.get("Health");
    const usage = await run(["--endpoint", "nope"]);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /usage: npm run probe/);
    const missing = await run(["--endpoint", `127.0.0.1:${good.port}`, "--registry", `file:${join(dir, "missing.json")}`, "--metrics", "stdout"]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /probe failed: cannot read registry file/);
    assert.deepEqual(missing.out.map((l) => (JSON.parse(l) as { DiscoveryErrors?: number }).DiscoveryErrors), [1]);
    assert.equal(good.calls.get("Health"), callsBefore, "a failed discovery probes nothing");
  });
});

describe("probe CLI: `npm run probe` as a process", function () {
  this.timeout(30_000);
  let dir: string;
  let agent: DemoAgent;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "probe-cli-proc-"));
    writeFileSync(join(dir, "registry.json"), JSON.stringify({ deployments: [{ id: "alpha", port: 50054 }] }));
    agent = await startDemoAgent({ deploymentId: "alpha" });
  });
  after(async () => {
    await agent.stop(true);
    rmSync(dir, { recursive: true, force: true });
  });

  it("exits by itself with status 0 and the summary as its last stdout line", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", join(__dirname, "..", "..", "probe-lambda", "cli.ts"),
      "--endpoint", `127.0.0.1:${agent.port}`, "--registry", `file:${join(dir, "registry.json")}`, "--metrics", "stdout"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => { out += c.toString(); });
    child.stderr.resume();
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0);
    const lines = out.trimEnd().split("\n");
    assert.deepEqual((JSON.parse(lines.at(-1)!) as { probed: number; healthy: number }).healthy, 1);
    assert.equal(lines.length, 2, "the run's EMF line, then the summary");
  });

  it("with --metrics cloudwatch, puts the metric data to CloudWatch (endpoint from the standard AWS settings)", async () => {
    const cw = await startFakeCloudWatch();
    try {
      const child = spawn(process.execPath, ["--import", "tsx", join(__dirname, "..", "..", "probe-lambda", "cli.ts"),
        "--endpoint", `127.0.0.1:${agent.port}`, "--registry", `file:${join(dir, "registry.json")}`, "--metrics", "cloudwatch", "--namespace", "Test/CLI"], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, AWS_ENDPOINT_URL_CLOUDWATCH: cw.url, AWS_REGION: "us-east-2", AWS_ACCESS_KEY_ID: "AKIAFAKEFAKEFAKEFAKE", AWS_SECRET_ACCESS_KEY: "fake", AWS_PROFILE: "" },
      });
      let out = "";
      child.stdout.on("data", (c: Buffer) => { out += c.toString(); });
      child.stderr.resume();
      const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
      assert.equal(code, 0);
      assert.equal(out.trimEnd().split("\n").length, 1, "stdout holds only the summary");
      assert.deepEqual(cw.accepted.map((a) => a.Namespace), ["Test/CLI"]);
      assert.deepEqual(cw.accepted[0]!.MetricData.map((d) => [d.MetricName, d.Dimensions?.[0]?.Value ?? "", d.MetricName.endsWith("Time") || d.MetricName === "ProbeLatency" ? "ms" : d.Value]), [
        ["DeploymentsProbed", "", 1], ["DeploymentsUnhealthy", "", 0], ["DeploymentsNotProbed", "", 0], ["DiscoveryErrors", "", 0], ["ProbeLatency", "", "ms"],
        ["TasksProbed", "", 0], ["TasksUnhealthy", "", 0], ["EndpointReachable", "", 1], ["EndpointConnectTime", "", "ms"],
      ]);
    } finally {
      await cw.close();
    }
  });
});

import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { runCli } from "../../client/cli";
import { EXIT, formatCheckTable, parseCli } from "../../client/cli-args";
import { silentLogger } from "../../lib/log";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { startRecordingServer } from "../helpers/recording-server";
import { runCliProcess } from "../helpers/run-cli";
import { makeSelfSigned } from "../helpers/self-signed";
import * as grpc from "@grpc/grpc-js";

describe("client-cli: argument parsing", () => {
  it("reads the endpoint from --endpoint, then PAR_A2A_ENDPOINT, then 127.0.0.1:50051", () => {
    assert.deepEqual(parseCli(["health", "dep-a"], {}), { kind: "health", deploymentId: "dep-a", endpoint: "127.0.0.1:50051", timeoutMs: 5000, json: false, tls: false });
    assert.equal((parseCli(["ping", "dep-a"], { PAR_A2A_ENDPOINT: "nlb.example.com:50051" }) as { endpoint: string }).endpoint, "nlb.example.com:50051");
    assert.equal((parseCli(["ping", "dep-a", "--endpoint", "10.0.0.1:50052"], { PAR_A2A_ENDPOINT: "nlb:50051" }) as { endpoint: string }).endpoint, "10.0.0.1:50052");
  });

  it("turns TLS on with --tls or PAR_A2A_TLS, and refuses a PAR_A2A_TLS it cannot read", () => {
    assert.equal((parseCli(["ping", "dep-a", "--tls"], {}) as { tls: boolean }).tls, true);
    assert.equal((parseCli(["ping", "dep-a"], { PAR_A2A_TLS: "1" }) as { tls: boolean }).tls, true);
    assert.equal((parseCli(["ping", "dep-a"], { PAR_A2A_TLS: "false" }) as { tls: boolean }).tls, false);
    const bad = parseCli(["ping", "dep-a"], { PAR_A2A_TLS: "yes" });
    assert.equal(bad.kind, "usage-error");
    assert.match((bad as { message: string }).message, /PAR_A2A_TLS must be true, false, 1 or 0, got "yes"/);
  });

  it("gives invoke a longer default deadline than the quick calls", () => {
    assert.equal((parseCli(["invoke", "dep-a", "act"], {}) as { timeoutMs: number }).timeoutMs, 30_000);
    assert.equal((parseCli(["capabilities", "dep-a"], {}) as { timeoutMs: number }).timeoutMs, 5000);
  });

  it("parses invoke's action and key=value parameters (values may contain '=')", () => {
    assert.deepEqual(parseCli(["invoke", "dep-a", "summarize", "lang=en", "q=a=b", "empty=", "--request-id", "r-9", "--json", "--timeout", "1500"], {}), {
      kind: "invoke", deploymentId: "dep-a", action: "summarize", parameters: { lang: "en", q: "a=b", empty: "" }, requestId: "r-9",
      endpoint: "127.0.0.1:50051", timeoutMs: 1500, json: true, tls: false,
    });
  });

  it("check takes its registry from --registry or ROUTER_REGISTRY", () => {
    assert.deepEqual(parseCli(["check", "--registry", "file:/tmp/r.json", "--concurrency", "4"], {}), {
      kind: "check", registry: "file:/tmp/r.json", concurrency: 4, endpoint: "127.0.0.1:50051", timeoutMs: 5000, json: false, tls: false,
    });
    assert.equal((parseCli(["check"], { ROUTER_REGISTRY: "cloudmap:ns/svc" }) as { registry: string }).registry, "cloudmap:ns/svc");
  });

  const usageErrors: Array<[string[], RegExp]> = [
    [[], /no command/],
    [["frobnicate", "x"], /unknown command "frobnicate"/],
    [["health"], /needs a deployment id/],
    [["health", "a b"], /invalid deployment id/],
    [["health", "a", "b"], /takes one deployment id/],
    [["invoke", "dep-a"], /needs an action/],
    [["invoke", "dep-a", "act", "novalue"], /"novalue" is not key=value/],
    [["invoke", "dep-a", "act", "k=1", "k=2"], /"k" is given twice/],
    [["ping", "dep-a", "--endpoint", "nlb"], /--endpoint: endpoint must be HOST:PORT.*got "nlb"/],
    [["ping", "dep-a", "--timeout", "0"], /--timeout must be a whole number/],
    [["ping", "dep-a", "--timeout", "1s"], /--timeout must be a whole number/],
    [["ping", "dep-a", "--registry", "file:x"], /--registry only applies to check/],
    [["check"], /check needs --registry/],
    [["check", "--registry", "file:x", "--concurrency", "0"], /--concurrency must be/],
    [["ping", "dep-a", "--bogus"], /Unknown option '--bogus'/],
  ];
  for (const [argv, message] of usageErrors) {
    it(`usage error: ${JSON.stringify(argv)}`, () => {
      const r = parseCli(argv, {});
      assert.equal(r.kind, "usage-error");
      assert.match((r as { message: string }).message, message);
    });
  }

  it("formats the check table with unhealthy deployments first and a summary", () => {
    const text = formatCheckTable([
      { deploymentId: "b-ok", ok: true, code: 0, codeName: "OK", message: "fine", latencyMs: 1.25 },
      { deploymentId: "a-down", ok: false, code: 14, codeName: "UNAVAILABLE", message: "connect\nrefused", latencyMs: 3 },
    ], "nlb:50051");
    const lines = text.trimEnd().split("\n");
    assert.match(lines[0]!, /^DEPLOYMENT\s+STATUS\s+CODE\s+LATENCY\s+MESSAGE$/);
    assert.match(lines[1]!, /^a-down\s+UNHEALTHY\s+UNAVAILABLE\s+3\.0 ms\s+connect refused$/);
    assert.match(lines[2]!, /^b-ok\s+healthy\s+OK\s+1\.3 ms\s+fine$/);
    assert.equal(lines.at(-1), "2 deployments via nlb:50051: 1 healthy, 1 unhealthy");
  });
});

describe("client-cli: the spawned command against demo agents", function () {
  this.timeout(60_000);
  let agent: DemoAgent;
  let sick: DemoAgent;

  before(async () => {
    agent = await startDemoAgent({ deploymentId: "dep-a" });
    sick = await startDemoAgent({ deploymentId: "dep-sick", unhealthy: true });
  });
  after(async () => {
    await Promise.all([agent.stop(true), sick.stop(true)]);
  });

  it("health: exit 0 and the JSON report for a healthy agent, endpoint from PAR_A2A_ENDPOINT", async () => {
    const r = await runCliProcess(["health", "dep-a", "--json"], { PAR_A2A_ENDPOINT: `127.0.0.1:${agent.port}` });
    assert.equal(r.code, EXIT.OK, r.stderr);
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual([report.deploymentId, report.ok, report.codeName, report.message], ["dep-a", true, "OK", "deployment dep-a is healthy"]);
  });

  it("health: exit 1 when the agent answers unhealthy", async () => {
    const r = await runCliProcess(["health", "dep-sick", "--endpoint", `127.0.0.1:${sick.port}`]);
    assert.equal(r.code, EXIT.FAILED);
    assert.match(r.stdout, /^dep-sick: UNHEALTHY \(OK, [0-9.]+ ms via 127\.0\.0\.1:\d+\) deployment dep-sick is unhealthy$/m);
  });

  it("invoke: sends the action and parameters and prints the result", async () => {
    const r = await runCliProcess(["invoke", "dep-a", "summarize", "lang=en", "--endpoint", `127.0.0.1:${agent.port}`]);
    assert.equal(r.code, EXIT.OK, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { deploymentId: "dep-a", action: "summarize", parameters: { lang: "en" } });
  });

  it("ping and capabilities: exit 0 with the agent's answers", async () => {
    const [ping, caps] = await Promise.all([
      runCliProcess(["ping", "dep-a", "--endpoint", `127.0.0.1:${agent.port}`]),
      runCliProcess(["capabilities", "dep-a", "--endpoint", `127.0.0.1:${agent.port}`, "--json"]),
    ]);
    assert.equal(ping.code, EXIT.OK, ping.stderr);
    assert.match(ping.stdout, /^pong from dep-a \([0-9.]+ ms\)$/m);
    assert.equal(caps.code, EXIT.OK, caps.stderr);
    assert.deepEqual((JSON.parse(caps.stdout) as { methods: string[] }).methods, ["Health", "DescribeCapabilities", "Invoke", "Ping"]);
  });

  it("sends PAR_A2A_TOKEN as a bearer token and the deployment id as x-deployment-id", async () => {
    const rec = await startRecordingServer();
    try {
      const r = await runCliProcess(["health", "dep-tok", "--endpoint", `127.0.0.1:${rec.port}`], { PAR_A2A_TOKEN: "pac-token-123" });
      assert.equal(r.code, EXIT.OK, r.stderr);
      assert.deepEqual([rec.seen, rec.auth], [["dep-tok"], ["Bearer pac-token-123"]]);
    } finally {
      rec.stop();
    }
  });

  it("--tls: talks TLS to an endpoint whose certificate the system roots trust", async function () {
    const cert = makeSelfSigned();
    if (!cert) this.skip();
    const rec = await startRecordingServer(grpc.ServerCredentials.createSsl(null, [{ private_key: cert!.keyPem, cert_chain: cert!.certPem }]));
    try {
      // grpc-js reads its default roots from this file: the stand-in for the system CAs.
      const roots = { GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: cert!.certPath, PAR_A2A_TOKEN: "tls-token" };
      const [tls, plain] = await Promise.all([
        runCliProcess(["health", "dep-tls", "--tls", "--endpoint", `127.0.0.1:${rec.port}`], roots),
        runCliProcess(["health", "dep-plain", "--endpoint", `127.0.0.1:${rec.port}`, "--timeout", "3000"], roots),
      ]);
      assert.equal(tls.code, EXIT.OK, tls.stderr + tls.stdout);
      assert.equal(plain.code, EXIT.FAILED, "plaintext to a TLS listener fails");
      assert.deepEqual([rec.seen, rec.auth], [["dep-tls"], ["Bearer tls-token"]]);
    } finally {
      rec.stop();
      cert!.remove();
    }
  });

  it("a failed call: exit 1 and the gRPC status on stderr; a usage error: exit 2", async () => {
    const dead = await startDemoAgent({ deploymentId: "dep-dead" });
    await dead.stop(true);
    const [failed, usage] = await Promise.all([
      runCliProcess(["ping", "dep-dead", "--endpoint", `127.0.0.1:${dead.port}`, "--timeout", "2000"]),
      runCliProcess(["invoke", "dep-a"]),
    ]);
    assert.equal(failed.code, EXIT.FAILED);
    assert.match(failed.stderr, /^a2a: UNAVAILABLE: .* \(deployment dep-dead via 127\.0\.0\.1:\d+\)$/m);
    assert.equal(usage.code, EXIT.USAGE);
    assert.match(usage.stderr, /invoke needs an action/);
    assert.match(usage.stderr, /Usage: npm run a2a/);
  });
});

describe("client-cli: check's registry problems (in process)", () => {
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(tmpdir(), "a2a-cli-")); });
  after(() => { rmSync(dir, { recursive: true, force: true }); });

  const run = async (argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = "";
    let stderr = "";
    const code = await runCli(argv, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env: {}, logger: silentLogger });
    return { code, stdout, stderr };
  };

  it("a registry file that cannot be read: exit 1, naming the source", async () => {
    const missing = path.join(dir, "missing.json");
    const r = await run(["check", "--registry", `file:${missing}`, "--endpoint", "127.0.0.1:1"]);
    assert.equal(r.code, EXIT.FAILED);
    assert.ok(r.stderr.includes(`a2a: could not read file:${missing}`), r.stderr);
  });

  it("a registry with no deployments: exit 1, nothing was checked", async () => {
    const empty = path.join(dir, "empty.json");
    writeFileSync(empty, JSON.stringify({ deployments: [] }));
    const r = await run(["check", "--registry", `file:${empty}`, "--endpoint", "127.0.0.1:1"]);
    assert.equal(r.code, EXIT.FAILED);
    assert.match(r.stderr, /lists no deployments: nothing was checked/);
  });

  it("par: and malformed registries are usage errors", async () => {
    const par = await run(["check", "--registry", "par:http://127.0.0.1:8080"]);
    assert.equal(par.code, EXIT.USAGE);
    assert.match(par.stderr, /par: sources cannot list deployments/);
    const bad = await run(["check", "--registry", "zookeeper:x"]);
    assert.equal(bad.code, EXIT.USAGE);
    assert.match(bad.stderr, /--registry: registry entry "zookeeper:x" is not understood/);
  });
});

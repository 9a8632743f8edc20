/**
 * The probe is bounded by its deadline: the real AWS SDK clients (as createProbeAwsClients makes
 * them, @smithy/node-http-handler 4.14) pointed at 127.0.0.1 endpoints that accept and never
 * answer, or answer headers and never finish the body. Why these two: smithy's NodeHttpHandler
 * defaults connectionTimeout/requestTimeout/socketTimeout to 0 = none (its NodeHttpHandlerOptions
 * docs), and `requestTimeout` stops at the response headers, so a stalled body needs the idle
 * timeout or the abort signal. Bounds on elapsed time are generous upper bounds only.
 */
import { strict as assert } from "node:assert";
import { Writable } from "node:stream";
import pino from "pino";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { createProbeAwsClients, type HttpTimeouts, type ProbeAwsClients } from "../../probe-lambda/aws-clients";
import { readProbeConfig, type ProbeConfig } from "../../probe-lambda/config";
import { DiscoveryError } from "../../probe-lambda/discover";
import { ProbeTokenError } from "../../probe-lambda/auth";
import { runInvocation } from "../../probe-lambda/invocation";
import { FAKE_AWS_CLIENT_CONFIG } from "../../fixtures/fake-aws";
import { startFakeCloudMap, type FakeCloudMap } from "../../fixtures/fake-cloudmap";
import { startFakeCloudWatch, type FakeCloudWatch } from "../../fixtures/fake-cloudwatch";
import { startHangingOnEndpoint, startSilentEndpoint, startStalledBodyEndpoint, type HungEndpoint } from "../helpers/hung-aws";

function captureLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } });
  return { logger: pino({ level: "info" }, stream), lines };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`not reached within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

/** Runs `fn` and returns how long it took and how it ended. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = Date.now();
  try {
    const value = await fn();
    return { ms: Date.now() - started, value };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

const SHORT: HttpTimeouts = { connectionTimeoutMs: 500, requestTimeoutMs: 300, socketTimeoutMs: 300 };

describe("probe deadline: hung AWS endpoints", function () {
  this.timeout(20_000);
  let agent: DemoAgent;
  const cleanups: (() => Promise<void> | void)[] = [];
  const later = <T extends { close(): Promise<void> }>(s: T): T => { cleanups.push(() => s.close()); return s; };
  const clientsFor = (endpoints: { serviceDiscovery?: string; cloudWatch?: string; secretsManager?: string }, timeouts?: { aws?: HttpTimeouts; cloudWatch?: HttpTimeouts }): ProbeAwsClients => {
    const c = createProbeAwsClients({ base: FAKE_AWS_CLIENT_CONFIG, endpoints, disableHostPrefix: true, ...(timeouts ? { timeouts } : {}) });
    cleanups.push(() => c.destroy());
    return c;
  };
  const config = (extra: Record<string, string> = {}): ProbeConfig => readProbeConfig({ PROBE_ENDPOINT: `127.0.0.1:${agent.port}`, PROBE_TIMEOUT_MS: "500", ...extra });

  before(async () => { agent = await startDemoAgent({ deploymentId: "deadline-agent" }); });
  after(async () => { await agent.stop(true); });
  afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

  /** A hung discovery: DiscoveryErrors still reaches a working CloudWatch, and the invocation ends before the Lambda's limit. */
  async function hungDiscovery(hung: HungEndpoint, remainingMs: number, reserveMs: number, timeouts?: { aws?: HttpTimeouts }): Promise<{ ms: number; error: unknown; cloudWatch: FakeCloudWatch }> {
    const cloudWatch = later(await startFakeCloudWatch());
    const clients = clientsFor({ serviceDiscovery: hung.url, cloudWatch: cloudWatch.url }, timeouts);
    const before = timers();
    const out = await timed(() => runInvocation({ config: config({ PROBE_RESERVE_MS: String(reserveMs) }), clients, remainingMs }));
    assert.ok(out.ms < remainingMs, `the invocation took ${out.ms} ms, past the Lambda's ${remainingMs} ms`);
    assert.ok(out.error instanceof DiscoveryError, `expected a DiscoveryError, got ${String(out.error)}`);
    assert.match(out.error.message, /^DiscoverInstances on Cloud Map service pixell-runtime\.local\/agents failed \(.+\): Cloud Map did not answer in time/);
    assert.deepEqual(cloudWatch.accepted.flatMap((a) => a.MetricData).map((d) => [d.MetricName, d.Value]), [["DiscoveryErrors", 1]]);
    // Nothing left pending: every hung request's socket is closed by the client, and the timers go too (an SDK
    // retry backoff that was sleeping at the deadline ends on its own, within its delay: hence a wait, not an instant check).
    await waitFor(() => hung.open === 0, "the client closes its hung connections");
    await waitFor(() => timers() <= before, `no timer left behind (before ${before}, now ${timers()})`);
    return { ms: out.ms, error: out.error, cloudWatch };
  }

  it("Cloud Map accepts and never answers (default timeouts): the discovery deadline aborts it, DiscoveryErrors = 1 is sent", async () => {
    const silent = later(await startSilentEndpoint());
    // 4 s left, 1.5 s reserve: discovery is abandoned at 2.5 s; the default 5 s per-attempt cap never fires.
    const { ms } = await hungDiscovery(silent, 4000, 1500);
    assert.ok(ms >= 2000, `discovery was given its time (${ms} ms)`);
    assert.equal(silent.connections, 1, "one attempt, abandoned at the deadline (no retry after an abort)");
  });

  it("Cloud Map accepts and never answers (short per-attempt timeout): the SDK retries timed-out attempts, all inside the deadline", async () => {
    const silent = later(await startSilentEndpoint());
    const { error } = await hungDiscovery(silent, 4000, 1500, { aws: SHORT });
    // ServiceDiscoveryClient's standard retry: 3 attempts; each ends with throwOnRequestTimeout's TimeoutError.
    assert.equal(silent.connections, 3);
    assert.match((error as Error).message, /TimeoutError: .*300 ms requestTimeout/);
  });

  it("Cloud Map answers the headers and never finishes the body: the idle timeout or the deadline ends it", async () => {
    const stalled = later(await startStalledBodyEndpoint("application/x-amz-json-1.1"));
    await hungDiscovery(stalled, 4000, 1500);
    assert.ok(stalled.requests >= 1);
  });

  it("the Lambda handler as wired (handler.ts: default timeouts, endpoints from AWS_ENDPOINT_URL_*): a hung Cloud Map still gives DiscoveryErrors = 1 before the limit", async () => {
    const silent = later(await startSilentEndpoint());
    const cloudWatch = later(await startFakeCloudWatch());
    const saved = process.env;
    process.env = {
      ...saved,
      PROBE_ENDPOINT: `127.0.0.1:${agent.port}`,
      PROBE_RESERVE_MS: "1500",
      AWS_REGION: FAKE_AWS_CLIENT_CONFIG.region,
      AWS_ACCESS_KEY_ID: FAKE_AWS_CLIENT_CONFIG.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_AWS_CLIENT_CONFIG.credentials.secretAccessKey,
      AWS_ENDPOINT_URL_SERVICEDISCOVERY: silent.url,
      AWS_ENDPOINT_URL_CLOUDWATCH: cloudWatch.url,
      LOG_LEVEL: "silent",
    };
    try {
      // A fresh container: the module reads its configuration and makes its clients on load.
      const file = require.resolve("../../probe-lambda/handler");
      delete require.cache[file];
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(file) as typeof import("../../probe-lambda/handler");
      const out = await timed(() => mod.handler({}, { getRemainingTimeInMillis: () => 4000 }));
      assert.ok(out.ms < 4000, `took ${out.ms} ms`);
      assert.ok(out.error instanceof DiscoveryError, `expected a DiscoveryError, got ${String(out.error)}`);
      assert.deepEqual(cloudWatch.accepted.flatMap((a) => a.MetricData).map((d) => [d.MetricName, d.Value]), [["DiscoveryErrors", 1]]);
      await waitFor(() => silent.open === 0, "the client closes its hung connection");
    } finally {
      process.env = saved;
    }
  });

  it("Cloud Map hangs on ListInstances after a full DiscoverInstances page: still a DiscoveryError within the deadline", async () => {
    // DiscoverInstances answers a full page (1000 instances), so the probe goes on to ListInstances, which never answers.
    const page = { Instances: Array.from({ length: 1000 }, (_, i) => ({ InstanceId: `d${i}` })) };
    const cloudMap = later(await startHangingOnEndpoint("application/x-amz-json-1.1", (op) => (op === "DiscoverInstances" ? page : undefined)));
    const cloudWatch = later(await startFakeCloudWatch());
    const clients = clientsFor({ serviceDiscovery: cloudMap.url, cloudWatch: cloudWatch.url });
    const out = await timed(() => runInvocation({ config: config({ PROBE_RESERVE_MS: "1500", CLOUDMAP_SERVICE_ID: "srv-1" }), clients, remainingMs: 4000 }));
    assert.ok(out.ms < 4000, `took ${out.ms} ms`);
    assert.ok(out.error instanceof DiscoveryError);
    assert.match(out.error.message, /^ListInstances on .* \(service id srv-1\) failed .*Cloud Map did not answer in time/);
    assert.deepEqual(cloudWatch.accepted.flatMap((a) => a.MetricData).map((d) => [d.MetricName, d.Value]), [["DiscoveryErrors", 1]]);
    assert.deepEqual([cloudMap.requests, cloudMap.open === 0 || cloudMap.open === 1], [2, true]);
    await waitFor(() => cloudMap.open === 0, "the client closes the hung ListInstances connection");
  });

  describe("CloudWatch hangs after a good run", () => {
    let cloudMap: FakeCloudMap;
    beforeEach(async () => {
      cloudMap = later(await startFakeCloudMap({ instances: [{ id: "a", ipv4: "127.0.0.1", port: 1 }, { id: "b", ipv4: "127.0.0.1", port: 1 }] }));
    });

    for (const kind of ["silent", "stalled"] as const) {
      it(`PutMetricData ${kind === "silent" ? "accepts and never answers" : "answers headers, never the body"}: bounded, logged with the lost data, the handler returns before its limit`, async () => {
        const hung = later(kind === "silent" ? await startSilentEndpoint() : await startStalledBodyEndpoint("application/x-amz-json-1.0"));
        const clients = clientsFor({ serviceDiscovery: cloudMap.url, cloudWatch: hung.url }, { cloudWatch: { connectionTimeoutMs: 500, requestTimeoutMs: 600, socketTimeoutMs: 600 } });
        const { logger, lines } = captureLogger();
        const before = timers();
        // 4 s left, 2.5 s reserve: probes by 1.5 s, PutMetricData abandoned by 3.5 s (500 ms final margin).
        const out = await timed(() => runInvocation({ config: config({ PROBE_RESERVE_MS: "2500" }), clients, remainingMs: 4000, logger }));
        assert.ok(out.ms < 4000, `took ${out.ms} ms`);
        assert.equal(out.error, undefined, "lost metrics do not fail the invocation");
        assert.deepEqual([out.value?.probed, out.value?.healthy], [2, 2]);
        const lost = lines.filter((l) => l.msg === "PutMetricData failed: this batch's metric data is lost");
        assert.equal(lost.length, 1);
        assert.equal(lost[0]!.lostCount, 10, "the nine fleet data of a run where nothing fails (no per-deployment series), and the one shard's RegisteredInstances");
        assert.ok(Number(lost[0]!.attempts) >= 2, "a timed-out attempt is retried while the reserve allows");
        assert.ok(lines.some((l) => l.msg === "probe run summary"), "the summary line is still written");
        await waitFor(() => hung.open === 0, "the client closes its hung connections");
        await waitFor(() => timers() <= before, `no timer left behind (before ${before}, now ${timers()})`);
      });
    }
  });

  it("Secrets Manager never answers: ProbeTokenError within the deadline, naming the secret and the network", async () => {
    const silent = later(await startSilentEndpoint());
    const clients = clientsFor({ serviceDiscovery: "http://127.0.0.1:9", cloudWatch: "http://127.0.0.1:9", secretsManager: silent.url });
    const out = await timed(() => runInvocation({ config: config({ PROBE_RESERVE_MS: "1500", PROBE_AUTH_TOKEN_SECRET: "probe-token" }), clients, remainingMs: 3000 }));
    assert.ok(out.ms < 3000, `took ${out.ms} ms`);
    assert.ok(out.error instanceof ProbeTokenError);
    assert.match(out.error.message, /secret probe-token .*Secrets Manager did not answer in time/);
    await waitFor(() => silent.open === 0, "the client closes its hung connection");
  });
});

import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { startProbeLoop } from "../../probe-lambda/loop";
import type { ProbeSummary } from "../../probe-lambda/run";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger } from "../../lib/log";

describe("probe loop (local mode)", () => {
  let dir: string;
  let agent: DemoAgent;
  let router: RunningRouter;
  let registryPath: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "probe-loop-"));
    agent = await startDemoAgent({ deploymentId: "demo-echo" });
    registryPath = join(dir, "registry.json");
    writeFileSync(registryPath, JSON.stringify({ deployments: [{ id: "demo-echo", port: agent.port }, { id: "demo-gone", port: 1 }] }));
    router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: `file:${registryPath}`, logger: silentLogger });
  });
  after(async () => {
    await router.close();
    await agent.stop(true);
    rmSync(dir, { recursive: true, force: true });
  });

  it("probes through the router repeatedly, prints the deployment, task and endpoint tables each time, and stops cleanly", async () => {
    const texts: string[] = [];
    const summaries: ProbeSummary[] = [];
    const loop = startProbeLoop({ endpoint: `127.0.0.1:${router.port}`, registryPath, intervalMs: 50, timeoutMs: 1000, write: (t) => texts.push(t), onSummary: (s) => summaries.push(s) });
    const until = Date.now() + 10_000;
    while (summaries.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await loop.stop();
    const runs = summaries.length;
    assert.ok(runs >= 2, `expected two runs, got ${runs}`);
    assert.deepEqual(summaries[0]!.results.map((r) => [r.deploymentId, r.ok, r.codeName]), [["demo-echo", true, "OK"], ["demo-gone", false, "UNAVAILABLE"]]);
    assert.match(texts[0]!, /demo-echo\s+healthy\s+OK/);
    assert.match(texts[0]!, /demo-gone\s+UNHEALTHY\s+UNAVAILABLE/);
    // The same per-task and endpoint results as in AWS: the router is the one task behind the endpoint.
    assert.deepEqual(summaries[0]!.tasks.map((t) => [t.task, t.healthy, t.probed]), [[`127.0.0.1:${router.port}`, true, 2]]);
    assert.match(texts[0]!, new RegExp(`TASK\\s+HEALTH\\s+CONNECT\\s+PROBED\\s+FAILED\\s+REASON\\n127\\.0\\.0\\.1:${router.port}\\s+healthy`));
    assert.match(texts[0]!, /endpoint: reachable in [\d.]+ ms, 2 deployments sampled through it/);
    // demo-gone failed in the first run: the series memory carries it to the next.
    assert.deepEqual(summaries[1]!.failingSeries, ["demo-gone"]);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(summaries.length, runs, "no run after stop()");
  });
});

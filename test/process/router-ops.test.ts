import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger } from "../../lib/log";
import { ParSource } from "../../registry/par";
import { md, RawClient, startEchoServer, type EchoServer } from "../../fixtures/echo-server";
import { eventually, startRouterFixture, type RouterFixture } from "../helpers/router-fixture";
import { startFakePar, type FakePar } from "../helpers/fake-par";
import { startAgentBehindChildRouter, type AgentBehindChildRouter } from "../helpers/child-setup";

const call = (id: string): grpc.Metadata => md({ "x-deployment-id": id });
async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try { await p; } catch (err) { return err as grpc.ServiceError; }
  throw new Error("expected the call to fail");
}

describe("router: admin API", () => {
  let f: RouterFixture;
  let demo: DemoAgent;
  let sick: DemoAgent;
  before(async () => {
    demo = await startDemoAgent({ deploymentId: "demo" });
    sick = await startDemoAgent({ deploymentId: "sick", unhealthy: true });
    f = await startRouterFixture(["alpha"], [{ id: "demo", port: demo.port }, { id: "sick", port: sick.port }, { id: "gone", port: 1 }]);
  });
  after(async () => { await f.close(); await demo.stop(true); await sick.stop(true); });

  it("answers /healthz and /readyz once the registry has loaded", async () => {
    assert.equal((await f.admin("/healthz")).status, 200);
    assert.equal((await f.admin("/readyz")).status, 200);
  });

  it("lists the known deployments at /deployments", async () => {
    const body = JSON.parse((await f.admin("/deployments")).body) as { deployments: Array<{ id: string; host: string; port: number }> };
    assert.deepEqual(body.deployments.map((d) => d.id), ["alpha", "demo", "gone", "sick"]);
    assert.equal(body.deployments.find((d) => d.id === "demo")!.port, demo.port);
  });

  it("checks an agent live at /deployments/{id}/health: 200 healthy, 503 unhealthy or unreachable, 404 unknown", async () => {
    const ok = await f.admin("/deployments/demo/health");
    assert.equal(ok.status, 200);
    const okBody = JSON.parse(ok.body) as Record<string, unknown>;
    assert.deepEqual([okBody.deploymentId, okBody.healthy, okBody.code, okBody.address], ["demo", true, "OK", `127.0.0.1:${demo.port}`]);
    assert.equal(typeof okBody.latencyMs, "number");
    const bad = await f.admin("/deployments/sick/health");
    assert.equal(bad.status, 503);
    assert.equal((JSON.parse(bad.body) as { message: string }).message, "deployment sick is unhealthy");
    const gone = await f.admin("/deployments/gone/health");
    assert.equal(gone.status, 503);
    assert.equal((JSON.parse(gone.body) as { code: string }).code, "UNAVAILABLE");
    assert.equal((await f.admin("/deployments/nobody/health")).status, 404);
    assert.equal((await f.admin("/deployments/..%2Fetc/health")).status, 400);
  });

  it("exports Prometheus metrics: calls by deployment and code, latency, streams, upstream connections", async () => {
    await f.client.unary("Unary", "x", call("alpha"));
    await failure(f.client.unary("Unary", "x", call("unknown-one")));
    const text = (await f.admin("/metrics")).body;
    assert.match(text, /^pixell_router_calls_total\{deployment="alpha",code="0"\} [1-9]/m);
    assert.match(text, /^pixell_router_calls_total\{deployment="_unresolved",code="5"\} [1-9]/m);
    assert.match(text, /^pixell_router_call_duration_seconds_count [1-9]/m);
    assert.match(text, /^pixell_router_active_streams 0/m);
    assert.match(text, /^pixell_router_upstream_connections [1-9]/m);
    assert.match(text, /^pixell_router_registry_deployments\{source="file:.*"\} 4/m);
    assert.match(text, /^pixell_router_process_resident_memory_bytes /m);
  });
});

describe("router: protocol edges", () => {
  let f: RouterFixture;
  before(async () => { f = await startRouterFixture(["alpha"]); });
  after(async () => f.close());

  const rawRequest = (headers: http2.OutgoingHttpHeaders): Promise<http2.IncomingHttpHeaders> => new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${f.router.port}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": "/pixell.test.Echo/Unary", "content-type": "application/grpc", te: "trailers", ...headers });
    req.on("response", (h) => { resolve(h); session.close(); });
    req.on("error", reject);
    req.end();
  });

  it("refuses a malformed grpc-timeout with INVALID_ARGUMENT", async () => {
    const h = await rawRequest({ "x-deployment-id": "alpha", "grpc-timeout": "soon" });
    assert.equal(h["grpc-status"], "3");
    assert.match(decodeURIComponent(String(h["grpc-message"])), /malformed grpc-timeout/);
  });

  it("answers HTTP 415 to a request that is not gRPC", async () => {
    const h = await rawRequest({ "x-deployment-id": "alpha", "content-type": "application/json" });
    assert.equal(h[":status"], 415);
  });

  it("refuses a call that has passed too many routers (loop guard)", async () => {
    const h = await rawRequest({ "x-deployment-id": "alpha", "x-pixell-hops": "3" });
    assert.equal(h["grpc-status"], "9");
    assert.match(decodeURIComponent(String(h["grpc-message"])), /routing loop/);
  });
});

describe("router: hops between routers", () => {
  let dir: string;
  let agent: EchoServer;
  let routers: RunningRouter[] = [];
  before(async () => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-hops-")); agent = await startEchoServer({ name: "far" }); });
  after(async () => { await Promise.all(routers.map((r) => r.close())); await agent.stop(true); fs.rmSync(dir, { recursive: true, force: true }); });

  it("forwards through a second router, and stops a loop between two routers with FAILED_PRECONDITION", async () => {
    // Router B knows the agent; router A sends "far" to B. "loop" points A at B and B at A.
    const regA = path.join(dir, "a.json");
    const regB = path.join(dir, "b.json");
    fs.writeFileSync(regB, JSON.stringify({ deployments: [{ id: "far", port: agent.port }] }));
    const b = await startRouter({ listen: "127.0.0.1:0", registry: `file:${regB}`, logger: silentLogger });
    fs.writeFileSync(regA, JSON.stringify({ deployments: [{ id: "far", port: b.port }, { id: "loop", port: b.port }] }));
    const a = await startRouter({ listen: "127.0.0.1:0", registry: `file:${regA}`, logger: silentLogger });
    routers = [a, b];
    fs.writeFileSync(regB, JSON.stringify({ deployments: [{ id: "far", port: agent.port }, { id: "loop", port: a.port }] }));
    await eventually(() => b.registry.list().length === 2, 2000, "router B to load the loop");
    const client = new RawClient(`127.0.0.1:${a.port}`);
    try {
      assert.equal((await client.unary("Unary", "x", call("far"))).body.toString(), "far:x");
      assert.deepEqual(agent.lastMetadata.get("Unary")!.get("x-pixell-hops"), ["2"]);
      const err = await failure(client.unary("Unary", "x", call("loop"), { deadline: Date.now() + 5000 }));
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
      assert.match(err.details, /routing loop/);
    } finally {
      client.close();
    }
  });
});

describe("router: draining", () => {
  let f: RouterFixture;
  beforeEach(async () => { f = await startRouterFixture(["alpha"]); });
  afterEach(async () => f.close());

  it("finishes in-flight calls, refuses new ones with UNAVAILABLE and reports not ready", async () => {
    const slow = Array.from({ length: 50 }, () => f.client.unary("Slow", "400", call("alpha")));
    await eventually(() => f.router.activeCalls() === 50, 3000, "50 calls in flight");
    const drained = f.router.drain();
    assert.equal((await f.admin("/readyz").catch(() => ({ status: 503 }))).status, 503);
    const late = new RawClient(`127.0.0.1:${f.router.port}`);
    const err = await failure(late.unary("Unary", "x", call("alpha"), { deadline: Date.now() + 2000 }));
    late.close();
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    const results = await Promise.all(slow);
    assert.ok(results.every((r) => r.body.toString() === "alpha:slept"));
    assert.deepEqual(await drained, { drained: true });
  });
});

describe("router: the process", () => {
  let setup: AgentBehindChildRouter | undefined;
  afterEach(async () => { await setup?.close(); setup = undefined; });

  it("exits 0 on SIGTERM after its in-flight calls finish", async function () {
    this.timeout(30_000);
    const { router, client } = await startAgentBehindChildRouter({ agent: "alpha", router: { drainMs: 10_000 } }).then((s) => (setup = s));
    const slow = Array.from({ length: 5 }, () => client.unary("Slow", "500", call("alpha")));
    await new Promise((r) => setTimeout(r, 150));
    router.process.kill("SIGTERM");
    const results = await Promise.all(slow);
    assert.equal(results.length, 5);
    assert.equal(await router.exited, 0);
    assert.match(router.log(), /"msg":"drain finished"/);
  });

  it("exits 2 with a message naming the flag when the configuration is bad", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "router/main.ts", "--listen", "nowhere"], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (b: Buffer) => { err += b.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    assert.equal(code, 2);
    assert.match(err, /--registry \(ROUTER_REGISTRY\) is required|--listen \(ROUTER_LISTEN\)/);
  });
});

describe("router: PAR registry source", () => {
  let par: FakePar;
  let agent: EchoServer;
  let router: RunningRouter;
  let client: RawClient;

  beforeEach(async () => {
    agent = await startEchoServer({ name: "par-agent" });
    // Answers slowly, so a burst of calls overlaps one lookup.
    par = await startFakePar({ deployments: { known: agent.port }, delayMs: 30 });
    router = await startRouter({ listen: "127.0.0.1:0", registry: new ParSource({ url: par.url, ttlMs: 60_000, negativeTtlMs: 60_000 }), logger: silentLogger });
    client = new RawClient(`127.0.0.1:${router.port}`);
  });
  afterEach(async () => {
    client.close();
    await router.close();
    await agent.stop(true);
    await par.close();
  });

  it("looks a deployment up once for a burst of 100 calls, then serves from cache", async () => {
    const results = await Promise.all(Array.from({ length: 100 }, () => client.unary("Unary", "b", call("known"))));
    assert.ok(results.every((r) => r.body.toString() === "par-agent:b"));
    await client.unary("Unary", "again", call("known"));
    assert.deepEqual(par.requests, ["/deployments/known/health"]);
  });

  it("answers NOT_FOUND for what PAR does not know, and remembers the miss", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await failure(client.unary("Unary", "x", call("ghost")))).code, grpc.status.NOT_FOUND);
    assert.deepEqual(par.requests, ["/deployments/ghost/health"]);
  });

  it("keeps routing known deployments while PAR is down, and says UNAVAILABLE for ones it cannot resolve", async () => {
    const src = new ParSource({ url: par.url, ttlMs: 1, negativeTtlMs: 1 });
    const r2 = await startRouter({ listen: "127.0.0.1:0", registry: src, logger: silentLogger });
    const c2 = new RawClient(`127.0.0.1:${r2.port}`);
    try {
      assert.equal((await c2.unary("Unary", "x", call("known"))).body.toString(), "par-agent:x");
      par.mode = "down";
      await new Promise((r) => setTimeout(r, 10));
      assert.equal((await c2.unary("Unary", "y", call("known"))).body.toString(), "par-agent:y");
      const err = await failure(c2.unary("Unary", "x", call("never-seen")));
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.match(err.details, /PAR API at http:\/\/127\.0\.0\.1:\d+ could not be asked about never-seen/);
    } finally {
      c2.close();
      await r2.close();
    }
  });
});

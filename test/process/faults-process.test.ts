/**
 * Faults on the router process itself (a child process): SIGTERM with 50 slow calls in flight,
 * and 10,000 calls to a dead agent followed by calls to a live one (no fd or memory growth).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import pLimit from "p-limit";
import { md, RawClient, startEchoServer, type EchoServer } from "../../fixtures/echo-server";
import { eventually } from "../helpers/router-fixture";
import { fdCount, metricValue, rssBytes, startChildRouter, type ChildRouter } from "../../fixtures/child-router";
import { startAgentBehindChildRouter, type AgentBehindChildRouter } from "../helpers/child-setup";

const call = (id: string): grpc.Metadata => md({ "x-deployment-id": id });
const MiB = 1024 * 1024;

/** Whether a connection to 127.0.0.1:port is refused (nothing listens there). */
function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => { s.destroy(); resolve(false); });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

/**
 * A port nothing listens on, taken from below the kernel's ephemeral range (proc(7)
 * /proc/sys/net/ipv4/ip_local_port_range): listen(0) and connect() take their ports from that range, so a
 * port bound and released there can come back as the child router's own listen port, and the "dead" agent is
 * then the router itself (a routing loop: FAILED_PRECONDITION, seen once in CI).
 */
async function deadPort(): Promise<number> {
  const low = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  for (let port = low - 1; port > Math.max(1024, low - 200); port--) {
    if (await refuses(port)) return port;
  }
  throw new Error(`no refused port in the 200 below the ephemeral range (from ${low})`);
}

describe("faults: SIGTERM with 50 slow calls in flight (child process)", function () {
  this.timeout(30_000);
  const DRAIN_MS = 10_000;
  let setup: AgentBehindChildRouter;
  let router: ChildRouter;
  let client: RawClient;
  before(async () => {
    setup = await startAgentBehindChildRouter({ agent: "alpha", router: { drainMs: DRAIN_MS } });
    ({ router, client } = setup);
  });
  after(() => setup.close());

  it("finishes all 50, refuses new calls with UNAVAILABLE, turns /readyz 503 at once, exits 0 before the drain limit", async () => {
    const SLOW_MS = 1500;
    const slow = Array.from({ length: 50 }, () => client.unary("Slow", String(SLOW_MS), call("alpha")).then(
      (r) => r.body.toString(), (e: grpc.ServiceError) => `error ${e.code}: ${e.details}`));
    await eventually(async () => metricValue((await router.admin("/metrics")).body, "pixell_router_active_streams") === 50, 5000, "50 calls in flight");

    const t0 = performance.now();
    router.process.kill("SIGTERM");
    // /readyz flips as soon as the signal is handled; poll briefly for the signal to arrive.
    await eventually(async () => (await router.admin("/readyz")).status === 503, 1000, "/readyz 503");
    const readyzMs = performance.now() - t0;

    // A new call, on a new connection: refused.
    const late = new RawClient(`127.0.0.1:${router.port}`);
    let lateErr: grpc.ServiceError | undefined;
    try {
      await late.unary("Unary", "late", call("alpha"), { deadline: Date.now() + 2000 });
    } catch (err) {
      lateErr = err as grpc.ServiceError;
    } finally {
      late.close();
    }
    assert.ok(lateErr, "a call after SIGTERM must not be served");
    assert.equal(lateErr.code, grpc.status.UNAVAILABLE);

    const results = await Promise.all(slow);
    assert.deepEqual(results, Array(50).fill("alpha:slept"));
    const code = await router.exited;
    const exitMs = performance.now() - t0;
    process.stderr.write(`      /readyz 503 after ${Math.round(readyzMs)} ms; exit ${String(code)} after ${Math.round(exitMs)} ms (drain limit ${DRAIN_MS} ms)\n`);
    assert.equal(code, 0);
    assert.ok(exitMs < DRAIN_MS, `exited after ${Math.round(exitMs)} ms`);
    assert.match(router.log(), /"drained":true/);
  });
});

describe("faults: 10,000 calls to a dead agent, then to a live one (child process)", function () {
  this.timeout(60_000);
  let dir: string;
  let agent: EchoServer;
  let router: ChildRouter;
  let client: RawClient;
  const heapAfterGc = (): Promise<number> => router.heapAfterGc();
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-faults-dead-"));
    agent = await startEchoServer({ name: "live" });
    fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "live", port: agent.port }, { id: "dead", port: await deadPort() }] }));
    router = await startChildRouter({
      registry: `file:${path.join(dir, "r.json")}`,
      gcProbe: true,
    });
    client = new RawClient(`127.0.0.1:${router.port}`);
  });
  after(async () => {
    client.close();
    await router.kill();
    await agent.stop(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Filled by the first test, checked by both. */
  const m = { fds0: 0, fds1: 0, heap0: 0, heap1: 0, rss0: 0, rss1: 0, done: false };

  it("answers every call (UNAVAILABLE for the dead agent, OK for the live one) and its fds return to baseline", async () => {
    const limit = pLimit(50);
    const run = async (id: string, n: number): Promise<Map<string, number>> => {
      const outcomes = new Map<string, number>();
      await Promise.all(Array.from({ length: n }, (_, i) => limit(async () => {
        let key: string;
        try {
          await client.unary("Unary", String(i), call(id), { deadline: Date.now() + 5000 });
          key = "OK";
        } catch (err) {
          key = grpc.status[(err as grpc.ServiceError).code]!;
        }
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      })));
      return outcomes;
    };
    // Warm up both paths, so lazily built things (JIT, pools, metric children) are in the baseline.
    assert.deepEqual([...await run("dead", 1000)], [["UNAVAILABLE", 1000]]);
    assert.deepEqual([...await run("live", 200)], [["OK", 200]]);
    m.fds0 = fdCount(router.pid);
    m.heap0 = await heapAfterGc();
    m.rss0 = rssBytes(router.pid);

    assert.deepEqual([...await run("dead", 10_000)], [["UNAVAILABLE", 10_000]]);
    assert.deepEqual([...await run("live", 1000)], [["OK", 1000]]);
    await eventually(() => fdCount(router.pid) <= m.fds0, 3000, `fds back to ${m.fds0}`);
    m.fds1 = fdCount(router.pid);
    m.heap1 = await heapAfterGc();
    m.rss1 = rssBytes(router.pid);
    m.done = true;
    process.stderr.write(`      fds ${m.fds0} -> ${m.fds1}; heap after GC ${(m.heap0 / MiB).toFixed(1)} -> ${(m.heap1 / MiB).toFixed(1)} MiB; ` +
      `RSS ${(m.rss0 / MiB).toFixed(1)} -> ${(m.rss1 / MiB).toFixed(1)} MiB\n`);
    assert.ok(m.fds1 <= m.fds0);
    const metrics = (await router.admin("/metrics")).body;
    assert.equal(metricValue(metrics, "pixell_router_active_streams"), 0);
    assert.equal(metricValue(metrics, "pixell_router_upstream_connections"), 1, "one session, to the live agent");
    assert.equal(router.exitCode(), undefined);
  });
  it("keeps heap after GC and RSS within bounds after those calls", () => {
    assert.ok(m.done, "the calls ran");
    // A leak of even 200 bytes per failed call would be 2 MB over 10,000 calls.
    assert.ok(m.heap1 - m.heap0 < 2 * MiB, `heap grew ${((m.heap1 - m.heap0) / MiB).toFixed(2)} MiB`);
    // RSS moves with the allocator and GC timing; 32 MiB is far below what a per-call leak of sockets or buffers would add.
    assert.ok(m.rss1 - m.rss0 < 32 * MiB, `RSS grew ${((m.rss1 - m.rss0) / MiB).toFixed(1)} MiB`);
  });
});

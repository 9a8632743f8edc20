/**
 * Bad input: a flood of 10,000 distinct unknown deployment ids, against a file-backed and a
 * PAR-backed router (child processes). Every call gets NOT_FOUND, a well-behaved client keeps
 * being answered, /metrics does not grow a series per id, and the PAR cache stays bounded.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import pLimit from "p-limit";
import { ParSource } from "../../registry/par";
import { md, RawClient, startEchoServer, type EchoServer } from "../../fixtures/echo-server";
import { eventually } from "../helpers/router-fixture";
import { metricSeries, rssBytes, startChildRouter, type ChildRouter } from "../../fixtures/child-router";
import { startFakePar, type FakePar } from "../helpers/fake-par";
import { startSteadyClient } from "../helpers/steady-client";

const MiB = 1024 * 1024;
const FLOOD = 10_000;
/**
 * Heap (after GC) growth allowed: over all floods, room for ParSource's cache at its default 10,000
 * entries plus measurement noise (heap-after-GC of ParSource alone moves by about 3 MiB between
 * identical floods). Over 20,000 ids, a leak of 800 bytes per id would already pass 16 MiB; the second
 * flood, which only replaces cache entries, must add less than 8 MiB.
 */
const TOTAL_HEAP_BOUND = 16 * MiB;
const SECOND_FLOOD_HEAP_BOUND = 8 * MiB;

/** Calls `count` distinct unknown ids; returns how many calls ended with each status. */
async function flood(client: RawClient, prefix: string, count: number): Promise<Map<string, number>> {
  const limit = pLimit(50);
  const outcomes = new Map<string, number>();
  await Promise.all(Array.from({ length: count }, (_, i) => limit(async () => {
    let key = "OK";
    try {
      await client.unary("Unary", "x", md({ "x-deployment-id": `${prefix}-${i}` }), { deadline: Date.now() + 5000 });
    } catch (err) {
      key = grpc.status[(err as grpc.ServiceError).code]!;
    }
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  })));
  return outcomes;
}

/** Runs the flood against a router while a steady client calls `steadyId`; checks the outcome. */
async function floodAndCheck(router: ChildRouter, steadyId: string, label: string, twice: boolean): Promise<void> {
  const client = new RawClient(`127.0.0.1:${router.port}`);
  const steady = startSteadyClient(router.port, steadyId);
  try {
    await eventually(() => steady.ok > 0, 5000, "the steady client's first answer");
    await flood(client, `warmup-${label}`, 500);
    const seriesBefore = metricSeries((await router.admin("/metrics")).body, "pixell_router_calls_total");
    const heap0 = await router.heapAfterGc();
    const rss0 = rssBytes(router.pid);
    const outcomes = await flood(client, `unknown-${label}`, FLOOD);
    const heap1 = await router.heapAfterGc();
    const outcomes2 = twice ? await flood(client, `more-unknown-${label}`, FLOOD) : new Map([["NOT_FOUND", FLOOD]]);
    const rss1 = rssBytes(router.pid);
    const heap2 = await router.heapAfterGc();
    const seriesAfter = metricSeries((await router.admin("/metrics")).body, "pixell_router_calls_total");
    await steady.stop();
    process.stderr.write(`      ${label}: ${JSON.stringify(Object.fromEntries(outcomes))}; heap after GC ${(heap0 / MiB).toFixed(1)} -> ${(heap1 / MiB).toFixed(1)} -> ${(heap2 / MiB).toFixed(1)} MiB; ` +
      `RSS ${(rss0 / MiB).toFixed(1)} -> ${(rss1 / MiB).toFixed(1)} MiB; ` +
      `calls_total series ${seriesBefore.length} -> ${seriesAfter.length}; steady client ${steady.ok} OK, slowest ${Math.round(steady.maxMs)} ms\n`);
    assert.deepEqual([...outcomes], [["NOT_FOUND", FLOOD]]);
    assert.deepEqual([...outcomes2], [["NOT_FOUND", FLOOD]]);
    assert.equal(seriesAfter.length, seriesBefore.length, "no new metric series per unknown id");
    assert.ok(seriesAfter.every((l) => /deployment="(_unresolved|[a-z]+)"/.test(l) && !l.includes("unknown-")), seriesAfter.join("\n"));
    assert.ok(heap2 - heap0 < TOTAL_HEAP_BOUND, `heap after GC grew ${((heap2 - heap0) / MiB).toFixed(2)} MiB over the floods`);
    assert.ok(heap2 - heap1 < SECOND_FLOOD_HEAP_BOUND, `heap after GC grew ${((heap2 - heap1) / MiB).toFixed(2)} MiB over the second flood`);
    assert.deepEqual(steady.failures, []);
    assert.ok(steady.ok > 0);
    assert.equal(router.exitCode(), undefined);
  } finally {
    await steady.stop();
    client.close();
  }
}

describe("bad input: 10,000 distinct unknown ids", function () {
  this.timeout(90_000);
  let dir: string;
  let agent: EchoServer;
  let par: FakePar;
  const routers: ChildRouter[] = [];
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-badinput-ids-"));
    agent = await startEchoServer({ name: "steady" });
    par = await startFakePar({ deployments: { steady: agent.port } });
  });
  after(async () => {
    await Promise.all(routers.map((r) => r.kill()));
    await agent.stop(true);
    await par.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("file-backed router: all NOT_FOUND, metrics and memory bounded, others unaffected", async () => {
    fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "steady", port: agent.port }] }));
    const router = await startChildRouter({ registry: `file:${path.join(dir, "r.json")}`, gcProbe: true });
    routers.push(router);
    // Nothing is cached per id here, so one flood shows it.
    await floodAndCheck(router, "steady", "file", false);
  });

  it("PAR-backed router: all NOT_FOUND (one PAR lookup each), twice over, metrics and memory bounded, others unaffected", async () => {
    const router = await startChildRouter({ registry: `par:${par.url}`, gcProbe: true });
    routers.push(router);
    const before = par.requests.length;
    await floodAndCheck(router, "steady", "par", true);
    assert.ok(par.requests.length - before >= 2 * FLOOD, "each unknown id was asked of PAR");
  });

  it("ParSource keeps at most maxEntries ids, evicting the oldest (which is then asked again)", async () => {
    const asked: string[] = [];
    const fakeFetch = (async (url: string | URL | Request) => {
      asked.push(String(url));
      return new Response(null, { status: 404 });
    }) as typeof fetch;
    const src = new ParSource({ url: "http://par.invalid", maxEntries: 500, ttlMs: 60_000, negativeTtlMs: 60_000, fetch: fakeFetch });
    for (let i = 0; i < FLOOD; i++) assert.equal(await src.lookup(`unknown-${i}`), undefined);
    // The cache is private; its size is the bound this test is about.
    const cache = (src as unknown as { cache: Map<string, unknown> }).cache;
    assert.equal(cache.size, 500);
    const n = asked.length;
    await src.lookup(`unknown-${FLOOD - 1}`); // recent: still cached
    assert.equal(asked.length, n);
    await src.lookup("unknown-0"); // evicted long ago: asked again
    assert.equal(asked.length, n + 1);
    await src.close();
  });
});

/**
 * Faults around the registry: an agent restarted on a new port, and a registry source that
 * goes away (PAR API down or hanging, the registry file deleted or corrupted).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger } from "../../lib/log";
import { ParSource } from "../../registry/par";
import { md, RawClient, startEchoServer, type EchoServer } from "../../fixtures/echo-server";
import { startChildRouter, type ChildRouter } from "../../fixtures/child-router";
import { startFakePar, type FakePar } from "../helpers/fake-par";
import { startAgentBehindChildRouter, type AgentBehindChildRouter } from "../helpers/child-setup";

const call = (id: string): grpc.Metadata => md({ "x-deployment-id": id });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try { await p; } catch (err) { return err as grpc.ServiceError; }
  throw new Error("expected the call to fail");
}

describe("faults: agent restarted on a new port (router in a child process)", function () {
  this.timeout(30_000);
  let dir: string;
  let reg: string;
  let first: EchoServer | undefined;
  let stale: EchoServer | undefined;
  let restarted: EchoServer | undefined;
  let router: ChildRouter | undefined;
  let client: RawClient | undefined;
  const write = (port: number): void => {
    fs.writeFileSync(reg + ".tmp", JSON.stringify({ deployments: [{ id: "mover", port }] }));
    fs.renameSync(reg + ".tmp", reg);
  };
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-faults-move-"));
    reg = path.join(dir, "registry.json");
  });
  after(async () => {
    client?.close();
    await router?.kill();
    await Promise.all([first, stale, restarted].map((s) => s?.stop(true)));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("routes to the new port within a second of the registry change, and never to the old port again", async () => {
    first = await startEchoServer({ name: "first" });
    const oldPort = first.port;
    write(oldPort);
    router = await startChildRouter({ registry: `file:${reg}` });
    client = new RawClient(`127.0.0.1:${router.port}`);
    assert.equal((await client.unary("Unary", "a", call("mover"))).body.toString(), "first:a");

    // The agent dies; something else (a stale instance) answers on the old port, so a call sent there is visible.
    await first.stop(true);
    stale = await startEchoServer({ name: "stale", port: oldPort });
    restarted = await startEchoServer({ name: "restarted" });
    const t0 = performance.now();
    write(restarted.port);
    let servedBy = "";
    while (performance.now() - t0 < 3000) {
      servedBy = (await client.unary("Unary", "b", call("mover"), { deadline: Date.now() + 1000 })).body.toString();
      if (servedBy.startsWith("restarted:")) break;
      await sleep(10);
    }
    const switchMs = performance.now() - t0;
    process.stderr.write(`      registry change to first call on the new port: ${Math.round(switchMs)} ms\n`);
    assert.equal(servedBy, "restarted:b");
    assert.ok(switchMs < 1000, `took ${Math.round(switchMs)} ms`);

    stale.lastMetadata.clear();
    const after = await Promise.all(Array.from({ length: 50 }, (_, i) => client!.unary("Unary", String(i), call("mover"))));
    assert.deepEqual(after.map((r) => r.body.toString().split(":")[0]), Array(50).fill("restarted"));
    // Nothing reached the old port after the switch.
    assert.equal(stale.lastMetadata.size, 0);
  });
});

describe("faults: registry source down", function () {
  this.timeout(20_000);
  let agent: EchoServer;
  let par: FakePar;
  let router: RunningRouter;
  let client: RawClient;

  beforeEach(async () => {
    agent = await startEchoServer({ name: "known" });
    par = await startFakePar({ deployments: { known: agent.port } });
    // A short TTL, so every call below is past it and would ask PAR again.
    router = await startRouter({ listen: "127.0.0.1:0", registry: new ParSource({ url: par.url, ttlMs: 20, negativeTtlMs: 20, requestTimeoutMs: 1500 }), logger: silentLogger });
    client = new RawClient(`127.0.0.1:${router.port}`);
  });
  afterEach(async () => {
    client.close();
    await router.close();
    await agent.stop(true);
    await par.close();
  });

  it("PAR API stopped (connection refused): known deployments keep routing for seconds past the TTL", async () => {
    assert.equal((await client.unary("Unary", "x", call("known"))).body.toString(), "known:x");
    await par.close(); // PAR's port now refuses connections
    const until = Date.now() + 1500;
    let n = 0;
    while (Date.now() < until) {
      assert.equal((await client.unary("Unary", String(n), call("known"), { deadline: Date.now() + 1000 })).body.toString(), `known:${n}`);
      n++;
      await sleep(25);
    }
    assert.ok(n > 10);
    const err = await failure(client.unary("Unary", "x", call("never-seen")));
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /PAR API at http:\/\/127\.0\.0\.1:\d+ could not be asked about never-seen/);
  });

  it("PAR API hanging: known deployments are answered from the stale entry without waiting for PAR", async () => {
    assert.equal((await client.unary("Unary", "x", call("known"))).body.toString(), "known:x");
    par.mode = "hang";
    await sleep(50);
    // Deadline below PAR's request timeout: a call that waited for PAR would fail DEADLINE_EXCEEDED.
    for (let i = 0; i < 10; i++) {
      assert.equal((await client.unary("Unary", String(i), call("known"), { deadline: Date.now() + 1000 })).body.toString(), `known:${i}`);
      await sleep(30);
    }
    assert.ok(par.requests.length >= 2, "the router did try to refresh from PAR");
  });
});

describe("faults: registry file deleted or corrupted", function () {
  this.timeout(20_000);
  let setup: AgentBehindChildRouter;
  let router: ChildRouter;
  let client: RawClient;
  before(async () => {
    setup = await startAgentBehindChildRouter({ agent: "kept" });
    ({ router, client } = setup);
  });
  after(() => setup.close());

  it("keeps the last good table when the file is corrupted, then deleted", async () => {
    assert.equal((await client.unary("Unary", "1", call("kept"))).body.toString(), "kept:1");
    fs.writeFileSync(setup.registryPath, "{ this is not json");
    await sleep(700);
    assert.equal((await client.unary("Unary", "2", call("kept"))).body.toString(), "kept:2");
    fs.rmSync(setup.registryPath);
    await sleep(700);
    assert.equal((await client.unary("Unary", "3", call("kept"))).body.toString(), "kept:3");
    assert.equal((await router.admin("/readyz")).status, 200);
    assert.equal(router.exitCode(), undefined);
  });
});

/**
 * Cross-task routing across a real network boundary: three "tasks" as Linux network namespaces on one
 * bridge (test/helpers/netns.ts), each running a router (router/main.ts) and an agent process
 * (test/helpers/echo-main.ts) on its own address. One registry file says which deployment lives on
 * which task, as Cloud Map does in AWS. A call entering any task's router reaches every agent, the
 * local one and the ones on other tasks, with its metadata, streaming, deadline and cancel intact.
 * A task that dies (processes killed, link cut) answers UNAVAILABLE for its deployments only.
 *
 * Bounded: 3 namespaces, 6 processes, calls with deadlines of at most 5 s; everything is removed in
 * the after hook, also when setup fails half-way. Skips, saying why, where `ip netns add` fails.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { startChildAgent, type ChildAgent } from "../helpers/child-agent";
import { startChildRouter, type ChildRouter } from "../../fixtures/child-router";
import { collect, md, RawClient } from "../../fixtures/echo-server";
import { createNetnsTasks, netnsUnavailable, type NetnsNetwork } from "../helpers/netns-tasks";

interface Task {
  readonly index: number;
  readonly ip: string;
  readonly netns: string;
  agent?: ChildAgent;
  router?: ChildRouter;
  client?: RawClient;
}

const deploymentsOf = (t: Pick<Task, "index">): string[] => [`t${t.index}-a`, `t${t.index}-b`];

describe("netns tasks: routing between tasks across network namespaces", function () {
  this.timeout(90_000);
  let net: NetnsNetwork | undefined;
  let dir: string | undefined;
  const tasks: Task[] = [];

  before(async function () {
    const why = netnsUnavailable();
    if (why !== undefined) {
      process.stderr.write(`netns tasks skipped: ${why}\n`);
      this.skip();
    }
    net = createNetnsTasks(3);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "a2a-netns-"));
    for (const t of net.tasks) tasks.push({ index: t.index, ip: t.ip, netns: t.netns });
    await Promise.all(tasks.map(async (t) => { t.agent = await startChildAgent(`agent-${t.index}`, 0, { netns: t.netns, host: t.ip }); }));
    const registry = path.join(dir, "registry.json");
    fs.writeFileSync(registry, JSON.stringify({
      deployments: tasks.flatMap((t) => deploymentsOf(t).map((id) => ({ id, host: t.ip, port: t.agent!.port }))),
    }));
    await Promise.all(tasks.map(async (t) => {
      t.router = await startChildRouter({ registry: `file:${registry}`, netns: t.netns, host: t.ip, drainMs: 1000 });
      t.client = new RawClient(`${t.ip}:${t.router.port}`);
    }));
  });

  after(async () => {
    for (const t of tasks) t.client?.close();
    await Promise.all(tasks.flatMap((t) => [t.router?.kill(), t.agent?.kill()]));
    net?.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("runs each task in its own network stack: the test reaches the routers only at the tasks' addresses", async () => {
    for (const t of tasks) {
      const ready = await t.router!.admin("/readyz");
      assert.equal(ready.status, 200);
      // The same port on the root namespace's loopback is not this router.
      const local = await fetch(`http://127.0.0.1:${t.router!.adminPort}/readyz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => "refused");
      assert.notEqual(local, 200, "the router is not on the root namespace's loopback");
    }
  });

  it("a call entering any task reaches every agent, its metadata (text and binary) and deadline intact", async () => {
    for (const entry of tasks) {
      for (const target of tasks) {
        for (const id of deploymentsOf(target)) {
          const deadline = Date.now() + 5000;
          const r = await entry.client!.unary("Headers", "", md({ "x-deployment-id": id, "x-trace": `from-${entry.index}`, "x-blob-bin": Buffer.from([0, 255, 7]) }), { deadline });
          const seen = JSON.parse(r.body.toString()) as { name: string; metadata: Record<string, string>; deadline: number | null };
          assert.equal(seen.name, `agent-${target.index}`, `${id} via task ${entry.index}`);
          assert.equal(seen.metadata["x-trace"], `from-${entry.index}`);
          assert.equal(seen.metadata["x-blob-bin"], Buffer.from([0, 255, 7]).toString("base64"));
          assert.equal(seen.metadata["x-deployment-id"], id);
          assert.ok(seen.deadline !== null && Math.abs(seen.deadline - deadline) < 1000, `the agent got the caller's deadline (${seen.deadline} vs ${deadline})`);
          assert.equal(r.headers.get("x-served-by")[0], `agent-${target.index}`, "response headers come back");
        }
      }
    }
  });

  it("streams both ways between tasks, and trailers come back", async () => {
    const entry = tasks[0]!;
    const far = tasks[2]!;
    const server = await collect(entry.client!.serverStream("64,16384", md({ "x-deployment-id": deploymentsOf(far)[0]! }), { deadline: Date.now() + 5000 }));
    assert.equal(server.messages.length, 64);
    assert.ok(server.messages.every((m) => m.length === 16384));
    assert.equal(server.status.code, grpc.status.OK);
    assert.equal(server.status.metadata.get("x-trailer")[0], `done-by-agent-${far.index}`);

    const bidi = entry.client!.bidi(md({ "x-deployment-id": deploymentsOf(tasks[1]!)[1]! }), { deadline: Date.now() + 5000 });
    const got = collect(bidi);
    for (const word of ["one", "two", "three"]) bidi.write(Buffer.from(word));
    bidi.end();
    const echoed = await got;
    assert.deepEqual(echoed.messages.map((m) => m.toString()), ["agent-1:one", "agent-1:two", "agent-1:three"]);
  });

  it("a deadline expires on the far task's agent, and a cancel reaches it", async () => {
    const entry = tasks[1]!;
    const far = tasks[0]!;
    const id = deploymentsOf(far)[0]!;
    const stats = async (): Promise<number> => (JSON.parse((await entry.client!.unary("Stats", "", md({ "x-deployment-id": id }), { deadline: Date.now() + 5000 })).body.toString()) as { cancelled: number }).cancelled;
    const before = await stats();

    const started = Date.now();
    const err = await entry.client!.unary("Slow", "4000", md({ "x-deployment-id": id }), { deadline: Date.now() + 400 }).then(() => undefined, (e: grpc.ServiceError) => e);
    assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 3000, "ended at the deadline, not when the agent answered");

    const stream = entry.client!.serverStream("100000,1024", md({ "x-deployment-id": id }), { deadline: Date.now() + 5000 });
    await new Promise<void>((resolve) => stream.once("data", () => resolve()));
    const ended = new Promise<grpc.StatusObject>((resolve) => stream.on("status", resolve));
    stream.on("error", () => undefined);
    stream.cancel();
    assert.equal((await ended).code, grpc.status.CANCELLED);

    const until = Date.now() + 5000;
    let seen = await stats();
    while (seen < before + 2 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await stats();
    }
    assert.ok(seen >= before + 2, `the far agent saw the expired call and the cancelled stream end (${before} -> ${seen})`);
  });

  it("a task that dies answers UNAVAILABLE for its deployments only; the others keep serving", async () => {
    const dead = tasks[2]!;
    await Promise.all([dead.router!.kill(), dead.agent!.kill()]);
    net!.unplug(net!.tasks[2]!);
    // Its address now drops the SYN, as a stopped Fargate task's does: the router's connect timeout
    // (3 s, router/config.ts) answers UNAVAILABLE well inside the callers' 5 s deadlines.
    const failures = await Promise.all(tasks.slice(0, 2).flatMap((entry) => deploymentsOf(dead).map(async (id) => {
      const err = await entry.client!.unary("Unary", "x", md({ "x-deployment-id": id }), { deadline: Date.now() + 5000 }).then(() => undefined, (e: grpc.ServiceError) => e);
      return { where: `${id} via task ${entry.index}`, err };
    })));
    for (const { where, err } of failures) {
      assert.equal(err?.code, grpc.status.UNAVAILABLE, `${where}: ${err?.details}`);
      assert.match(err!.details, new RegExp(`at ${dead.ip.replace(/\./g, "\\.")}:\\d+ (cannot be reached|failed)`), where);
    }
    for (const entry of tasks.slice(0, 2)) {
      for (const alive of tasks.slice(0, 2)) {
        const r = await entry.client!.unary("Unary", "still", md({ "x-deployment-id": deploymentsOf(alive)[0]! }), { deadline: Date.now() + 5000 });
        assert.equal(r.body.toString(), `agent-${alive.index}:still`);
      }
    }
  });
});

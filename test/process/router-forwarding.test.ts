import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { collect, md, waitForCancels } from "../../fixtures/echo-server";
import { eventually, startRouterFixture, type RouterFixture } from "../helpers/router-fixture";

const call = (id: string, extra: Record<string, string | Buffer> = {}): grpc.Metadata => md({ "x-deployment-id": id, ...extra });
const codeOf = async (p: Promise<unknown>): Promise<grpc.ServiceError> => {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error("expected the call to fail");
};

describe("router: routing", () => {
  let f: RouterFixture;
  before(async () => { f = await startRouterFixture(["alpha", "beta", "gamma"], [{ id: "dead", port: 1 }]); });
  after(async () => f.close());

  it("sends each call to the agent its x-deployment-id names", async () => {
    for (const id of ["alpha", "beta", "gamma"]) {
      const res = await f.client.unary("Unary", "hi", call(id));
      assert.equal(res.body.toString(), `${id}:hi`);
    }
  });

  it("reads deployment-id, then deployment_id, when x-deployment-id is absent", async () => {
    assert.equal((await f.client.unary("Unary", "x", md({ "deployment-id": "beta" }))).body.toString(), "beta:x");
    assert.equal((await f.client.unary("Unary", "x", md({ deployment_id: "gamma" }))).body.toString(), "gamma:x");
    // x-deployment-id wins over the older keys.
    assert.equal((await f.client.unary("Unary", "x", md({ "x-deployment-id": "alpha", "deployment-id": "beta" }))).body.toString(), "alpha:x");
  });

  it("answers INVALID_ARGUMENT naming x-deployment-id when no id is sent", async () => {
    const err = await codeOf(f.client.unary("Unary", "x", new grpc.Metadata()));
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /x-deployment-id/);
  });

  it("answers INVALID_ARGUMENT for ids that are not registry keys (paths, hosts, ports)", async () => {
    for (const bad of ["../etc/passwd", "agent:50054", "-leading-dash", "a".repeat(129), "has space", "http://x"]) {
      const err = await codeOf(f.client.unary("Unary", "x", call(bad)));
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, bad);
      assert.match(err.details, /malformed x-deployment-id/);
    }
  });

  it("answers NOT_FOUND with the id for an unknown deployment", async () => {
    const err = await codeOf(f.client.unary("Unary", "x", call("nobody-here")));
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.match(err.details, /nobody-here/);
  });

  it("answers UNAVAILABLE when the deployment's agent cannot be reached", async () => {
    const err = await codeOf(f.client.unary("Unary", "x", call("dead")));
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /dead at 127\.0\.0\.1:1/);
  });

  it("passes the agent's own error through unchanged: code, message, details and trailers", async () => {
    const err = await codeOf(f.client.unary("Fail", "x", call("alpha")));
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(err.details, "agent alpha refuses: precondition ünmet");
    assert.deepEqual(err.metadata.get("grpc-status-details-bin"), [Buffer.from("rich-error-details")]);
    assert.deepEqual(err.metadata.get("x-trailer"), ["done-by-alpha"]);
  });

  it("forwards request metadata, -bin keys included, and returns response headers and trailers", async () => {
    const bin = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]);
    const res = await f.client.unary("Unary", "m", call("beta", { "x-caller": "pac", "x-trace-bin": bin }));
    const seen = f.agents.get("beta")!.lastMetadata.get("Unary")!;
    assert.deepEqual(seen.get("x-caller"), ["pac"]);
    assert.deepEqual(seen.get("x-trace-bin"), [bin]);
    assert.deepEqual(seen.get("x-deployment-id"), ["beta"]);
    assert.deepEqual(res.headers.get("x-served-by"), ["beta"]);
    assert.deepEqual(res.headers.get("x-reply-bin"), [Buffer.from([0, 1, 2, 255])]);
    assert.deepEqual(res.trailers.get("x-trailer"), ["done-by-beta"]);
    assert.deepEqual(res.trailers.get("x-trailer-bin"), [Buffer.from([9, 8, 7])]);
  });

  it("carries a message over 4 MiB both ways", async () => {
    const size = 6 * 1024 * 1024;
    const res = await f.client.unary("Big", String(size), call("gamma"));
    assert.equal(res.body.length, size);
    const echo = await f.client.unary("Unary", Buffer.alloc(size, 7), call("gamma"));
    assert.equal(echo.body.length, size + "gamma:".length);
  });

  it("routes 500 concurrent calls over several agents, each to the right one", async () => {
    const ids = ["alpha", "beta", "gamma"];
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => {
      const id = ids[i % ids.length]!;
      return f.client.unary("Unary", String(i), call(id)).then((r) => ({ id, i, body: r.body.toString() }));
    }));
    for (const r of results) assert.equal(r.body, `${r.id}:${r.i}`);
    // One pooled session per agent, not one per call.
    const metrics = (await f.admin("/metrics")).body;
    const m = /^pixell_router_upstream_connections (\d+)/m.exec(metrics);
    assert.ok(m && Number(m[1]) <= 4, `upstream connections: ${m?.[1]}`);
  });
});

describe("router: streaming, deadlines and cancellation", () => {
  let f: RouterFixture;
  beforeEach(async () => { f = await startRouterFixture(["alpha", "beta"]); });
  afterEach(async () => f.close());

  it("forwards a server stream with its headers and trailers", async () => {
    const { messages, status } = await collect(f.client.serverStream("50,1000", call("alpha")));
    assert.equal(messages.length, 50);
    assert.ok(messages.every((m) => m.length === 1000));
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(status.metadata.get("x-trailer"), ["done-by-alpha"]);
  });

  it("forwards a client stream", async () => {
    const result = await new Promise<string>((resolve, reject) => {
      const s = f.client.clientStream(call("beta"), (err, res) => (err ? reject(err) : resolve(res!.toString())));
      for (let i = 0; i < 20; i++) s.write(Buffer.alloc(100 * (i + 1)));
      s.end();
    });
    assert.equal(result, `20,${100 * (20 * 21) / 2}`);
  });

  it("forwards a bidirectional stream message by message", async () => {
    const s = f.client.bidi(call("alpha"));
    const replies: string[] = [];
    const done = collect(s);
    for (const word of ["one", "two", "three"]) {
      s.write(Buffer.from(word));
      // Each reply arrives before the next message is sent: really interactive.
      await new Promise<void>((resolve) => s.once("data", (b: Buffer) => { replies.push(b.toString()); resolve(); }));
    }
    s.end();
    const { status } = await done;
    assert.deepEqual(replies, ["alpha:one", "alpha:two", "alpha:three"]);
    assert.equal(status.code, grpc.status.OK);
  });

  it("applies backpressure: a client that stops reading stops the agent, not the router's memory", async () => {
    const agent = f.agents.get("alpha")!;
    const s = f.client.serverStream(`4096,${64 * 1024}`, call("alpha")); // 256 MiB offered
    let received = 0;
    s.on("data", (b: Buffer) => { received += b.length; if (received >= 1 << 20) s.pause(); });
    s.on("error", () => undefined);
    await eventually(() => received >= 1 << 20, 5000, "first MiB");
    await new Promise((r) => setTimeout(r, 400));
    const sentWhilePaused = agent.sent.bytes;
    await new Promise((r) => setTimeout(r, 400));
    // The agent is blocked: nothing more leaves it while the reader is paused, and what it got out is a
    // few flow-control windows (client, router downstream and upstream), not the 256 MiB it wanted to send.
    assert.equal(agent.sent.bytes, sentWhilePaused);
    assert.ok(sentWhilePaused < 16 * 1024 * 1024, `agent wrote ${sentWhilePaused} bytes to a paused reader`);
    s.cancel();
  });

  it("returns DEADLINE_EXCEEDED when the agent outlives the deadline, and the agent's call ends", async () => {
    const err = await codeOf(f.client.unary("Hang", "x", call("beta"), { deadline: Date.now() + 300 }));
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    await waitForCancels(f.agents.get("beta")!, 1);
  });

  it("forwards grpc-timeout so the agent knows the deadline", async () => {
    const start = Date.now();
    const deadline = start + 60_000;
    await f.client.unary("Unary", "x", call("alpha"), { deadline });
    const inFlight = Date.now() - start;
    const seen = Number(f.agents.get("alpha")!.lastDeadline.get("Unary"));
    // grpc-timeout is relative (gRPC over HTTP/2, "Timeout"): the agent's deadline is its receipt
    // time plus the timeout the client computed when it sent, so it lands within the time in flight
    // of the client's, on either side (millisecond units, rounded up). A router that dropped
    // grpc-timeout would leave the agent with none.
    assert.ok(seen <= deadline + inFlight + 5 && seen >= deadline - inFlight - 1000, `agent deadline ${seen - start}ms after the call started, ${inFlight}ms in flight`);
  });

  it("cancels the agent's call when the client cancels", async () => {
    const s = f.client.bidi(call("alpha"));
    s.on("error", () => undefined);
    s.write(Buffer.from("hello"));
    await new Promise((r) => s.once("data", r));
    s.cancel();
    await waitForCancels(f.agents.get("alpha")!, 1);
  });

  it("gives the client an error when the agent dies mid-stream, and keeps serving others", async () => {
    const s = f.client.serverStream(`100000,${16 * 1024}`, call("alpha"));
    const failed = new Promise<grpc.ServiceError>((resolve) => s.on("error", resolve));
    await new Promise((r) => s.once("data", r));
    await f.agents.get("alpha")!.stop(true);
    const err = await failed;
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.equal((await f.client.unary("Unary", "still", call("beta"))).body.toString(), "beta:still");
  });
});

describe("router: registry file", () => {
  let f: RouterFixture;
  beforeEach(async () => { f = await startRouterFixture(["alpha", "beta"]); });
  afterEach(async () => f.close());

  it("picks up an edited registry file within a second, without a restart", async () => {
    const beta = f.agents.get("beta")!;
    f.writeRegistry([{ id: "alpha", port: f.agents.get("alpha")!.port }, { id: "newcomer", port: beta.port }]);
    const t0 = Date.now();
    await eventually(async () => {
      try {
        return (await f.client.unary("Unary", "x", call("newcomer"))).body.toString() === "beta:x";
      } catch {
        return false;
      }
    }, 1000, "newcomer to be routable");
    assert.ok(Date.now() - t0 < 1000);
    const err = await codeOf(f.client.unary("Unary", "x", call("beta")));
    assert.equal(err.code, grpc.status.NOT_FOUND);
  });

  it("keeps the last good table when the file is broken", async () => {
    fs.writeFileSync(f.registryPath, "{ not json");
    await new Promise((r) => setTimeout(r, 600));
    assert.equal((await f.client.unary("Unary", "x", call("alpha"))).body.toString(), "alpha:x");
    const table = JSON.parse((await f.admin("/deployments")).body) as { deployments: Array<{ id: string }> };
    assert.deepEqual(table.deployments.map((d) => d.id), ["alpha", "beta"]);
  });
});

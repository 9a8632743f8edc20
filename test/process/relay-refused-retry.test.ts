/**
 * RFC 9113 section 8.7: a stream an agent refuses with RST_STREAM(REFUSED_STREAM) was not processed, so the frame
 * relay sends the call once more, to the same agent address behind its stream limit, replaying the request HEADERS
 * and the DATA already sent (kept up to REPLAY_LIMIT_BYTES). A second refusal reaches the client as UNAVAILABLE,
 * which it may retry itself. The http2 engine does not retry (Node's client passes the refusal on), so frames only.
 */
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { REPLAY_LIMIT_BYTES } from "../../router/h2/stream";
import { STREAMS_BEFORE_PEER_SETTINGS } from "../../router/h2/limits";
import { md, type RawClient } from "../../fixtures/echo-server";
import { callFailure, routeOne, type OneRoute } from "../helpers/one-route";
import { startLimitedAgent, type LimitedAgent, type LimitedAgentOptions } from "../helpers/limited-h2-agent";

describe("relay: a stream the agent refused (REFUSED_STREAM) is sent once more (frames engine)", () => {
  let route: OneRoute | undefined;
  let agent: LimitedAgent | undefined;

  async function routeTo(opts: LimitedAgentOptions): Promise<RawClient> {
    agent = await startLimitedAgent(opts);
    route = await routeOne("limited", agent.port, "frames");
    return route.client;
  }
  const call = (c: RawClient, name: string, body: string | Buffer): Promise<{ body: Buffer }> =>
    c.unary("Unary", body, md({ "x-deployment-id": "limited", "x-call": name }), { deadline: Date.now() + 10_000 });

  /** pixell_router_upstream_retries_total for a deployment (reason refused_stream), as /metrics reports it. */
  async function retries(deployment: string): Promise<number> {
    const m = await route!.router.metrics.registry.getSingleMetric("pixell_router_upstream_retries_total")!.get();
    return m.values.filter((v) => v.labels.deployment === deployment && v.labels.reason === "refused_stream").reduce((a, v) => a + v.value, 0);
  }

  afterEach(async () => {
    await route?.close();
    await agent?.stop();
    route = agent = undefined;
  });

  it("retries a refused call once, with its request body, and it succeeds", async () => {
    // Refused once the agent read the whole request: the router had sent its DATA, and must send it again.
    const c = await routeTo({ maxStreams: 100, settingsDelayMs: 0, mode: "strict", answerDelayMs: 0, refuse: (name, attempt) => name === "first" && attempt === 1, refuseAt: "end" });
    const body = Buffer.alloc(5000, 7);
    assert.deepEqual((await call(c, "first", body)).body, body);
    assert.equal(agent!.attempts.get("first"), 2);
    assert.equal(agent!.refused, 1);
    // The request the agent processed is the one the client sent: HEADERS and DATA replayed whole.
    assert.deepEqual(agent!.bodies.get("first"), Buffer.concat([Buffer.from([0, 0, 0, 0x13, 0x88]), body]));
    assert.equal(agent!.connections, 1);
    assert.equal(await retries("limited"), 1, "the retry is counted in /metrics");
  });

  it("passes a second refusal of the same call to the client as UNAVAILABLE, without a third attempt", async () => {
    const c = await routeTo({ maxStreams: 100, settingsDelayMs: 0, mode: "strict", answerDelayMs: 0, refuse: (name) => name === "doomed" });
    const err = await callFailure(call(c, "doomed", "x"));
    assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
    assert.match(err.details, /stream reset by the agent \(HTTP\/2 code 7\)/);
    assert.equal(agent!.attempts.get("doomed"), 2);
    assert.equal(await retries("limited"), 1, "one retry, then the refusal went to the client");
    // The connection is still good for other calls.
    assert.equal((await call(c, "other", "y")).body.toString(), "y");
  });

  it(`does not retry a call whose request sent upstream exceeded ${REPLAY_LIMIT_BYTES} bytes (not kept): UNAVAILABLE after one attempt`, async () => {
    // Refused once the agent read the whole request: every byte of it had left the router.
    const c = await routeTo({ maxStreams: 100, settingsDelayMs: 0, mode: "strict", answerDelayMs: 0, refuse: (name) => name === "big", refuseAt: "end" });
    const err = await callFailure(call(c, "big", Buffer.alloc(REPLAY_LIMIT_BYTES + 1)));
    assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
    assert.equal(agent!.attempts.get("big"), 1);
    assert.equal(await retries("limited"), 0, "a call not retried is not counted");
  });

  it("a cold burst of 300 to an agent that refuses streams past its limit of 10 (as nghttp2 does) all succeeds, each call sent at most twice", async function () {
    this.timeout(30_000);
    const c = await routeTo({ maxStreams: 10, settingsDelayMs: 200, mode: "strict", answerDelayMs: 5 });
    const outcomes = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => call(c, `c${i}`, `body-${i}`)));
    const failed = outcomes.filter((o) => o.status === "rejected").length;
    assert.equal(failed, 0, `${failed} of 300 calls failed`);
    outcomes.forEach((o, i) => assert.equal(o.status === "fulfilled" && o.value.body.toString(), `body-${i}`));
    // Of the first 100 streams (opened before the router had the limit) 90 are refused; then nothing more is.
    assert.ok(agent!.refusedOverLimit > 0 && agent!.refusedOverLimit <= STREAMS_BEFORE_PEER_SETTINGS - 10, `refused ${agent!.refusedOverLimit}`);
    assert.ok([...agent!.attempts.values()].every((n) => n <= 2));
    assert.equal(agent!.served, 300);
    const retried = [...agent!.attempts.values()].filter((n) => n === 2).length;
    assert.equal(await retries("limited"), retried, "every call sent twice is counted once");
  });
});

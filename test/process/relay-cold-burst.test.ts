/**
 * A burst of calls to an agent the router has no connection to yet, whose SETTINGS_MAX_CONCURRENT_STREAMS (10)
 * arrives late: RFC 9113 section 5.1.2 leaves the limit unlimited until then, so the router opens at most
 * STREAMS_BEFORE_PEER_SETTINGS (100, the RFC's recommended minimum) and holds the rest until the agent's limit is
 * known. Runs on the engine ROUTER_ENGINE names (`npm run test:http2` runs it again with http2, whose Node client
 * assumes the same 100 before SETTINGS and queues past the limit).
 */
import { strict as assert } from "node:assert";
import { STREAMS_BEFORE_PEER_SETTINGS } from "../../router/h2/limits";
import { md } from "../../fixtures/echo-server";
import { routeOne, type OneRoute } from "../helpers/one-route";
import { startLimitedAgent, type LimitedAgent } from "../helpers/limited-h2-agent";

const CALLS = 300;
const AGENT_LIMIT = 10;

describe(`relay: a burst on a cold agent connection (${process.env.ROUTER_ENGINE ?? "default"} engine)`, () => {
  let route: OneRoute | undefined;
  let agent: LimitedAgent | undefined;

  afterEach(async () => {
    await route?.close();
    await agent?.stop();
    route = agent = undefined;
  });

  it(`opens at most ${STREAMS_BEFORE_PEER_SETTINGS} streams before the agent's SETTINGS and then keeps to its limit of ${AGENT_LIMIT}: all ${CALLS} calls succeed`, async function () {
    this.timeout(30_000);
    // SETTINGS 200 ms after the first HEADERS: the whole burst reaches the router before the agent's limit does.
    agent = await startLimitedAgent({ maxStreams: AGENT_LIMIT, settingsDelayMs: 200, mode: "lenient", answerDelayMs: 5 });
    route = await routeOne("limited", agent.port); // the engine ROUTER_ENGINE names
    const c = route.client;
    const outcomes = await Promise.allSettled(Array.from({ length: CALLS }, (_, i) =>
      c.unary("Unary", `body-${i}`, md({ "x-deployment-id": "limited", "x-call": `c${i}` }), { deadline: Date.now() + 20_000 })));
    const failed = outcomes.flatMap((o) => (o.status === "rejected" ? [String((o.reason as Error).message)] : []));
    assert.deepEqual(failed.slice(0, 3), [], `${failed.length} of ${CALLS} calls failed`);
    outcomes.forEach((o, i) => assert.equal(o.status === "fulfilled" && o.value.body.toString(), `body-${i}`));
    assert.ok(agent.streamsBeforeAck > 0, "the burst started before the agent's SETTINGS");
    assert.ok(agent.streamsBeforeAck <= STREAMS_BEFORE_PEER_SETTINGS, `the router opened ${agent.streamsBeforeAck} streams before it had the agent's SETTINGS`);
    assert.ok(agent.maxOpenAfterAck <= AGENT_LIMIT, `the agent saw ${agent.maxOpenAfterAck} streams open at once after its SETTINGS`);
    assert.equal(agent.refused, 0);
    assert.equal(agent.served, CALLS);
    assert.equal(agent.connections, 1);
  });
});

/**
 * Fault: a large stream to a client that reads slowly. The router (a child process) must apply
 * backpressure rather than buffer: its RSS stays below its starting RSS + 200 MiB while 128 MiB
 * pass through. The 1 GiB run is `npm run stress:big-stream` (too long for every CI run).
 */
import { strict as assert } from "node:assert";
import type { EchoServer, RawClient } from "../../fixtures/echo-server";
import type { ChildRouter } from "../../fixtures/child-router";
import { startAgentBehindChildRouter, type AgentBehindChildRouter } from "../helpers/child-setup";
import { slowStream } from "../helpers/slow-stream";

const MiB = 1024 * 1024;
/** The bound on the router's RSS growth while streaming: larger than the flow-control windows (16 MiB + 1 MiB per stream per side), far below the stream. */
const RSS_GROWTH_BOUND = 200 * MiB;
const TOTAL = 64 * MiB;
/** The agent may run ahead of the reader by the buffers on the way (grpc-js both ends, router windows), not by the stream. */
const LEAD_BOUND = 48 * MiB;

describe("faults: 64 MiB streamed through the router to a slow reader (child process)", function () {
  this.timeout(45_000);
  let setup: AgentBehindChildRouter;
  let agent: EchoServer;
  let router: ChildRouter;
  let client: RawClient;
  before(async () => {
    setup = await startAgentBehindChildRouter({ agent: "big" });
    ({ agent, router, client } = setup);
  });
  after(() => setup.close());

  it(`delivers every byte with OK while the router's RSS grows less than ${RSS_GROWTH_BOUND / MiB} MiB`, async () => {
    const r = await slowStream({ client, routerPid: router.pid, deploymentId: "big", totalBytes: TOTAL, messageBytes: 64 * 1024, pauseMs: 20, pauseEvery: 8,
      agentSentBytes: () => agent.sent.bytes });
    process.stderr.write(`      ${TOTAL / MiB} MiB in ${(r.ms / 1000).toFixed(1)} s; router RSS ${(r.rssBeforeBytes / MiB).toFixed(1)} -> peak ${(r.rssMaxBytes / MiB).toFixed(1)} MiB; ` +
      `agent ahead of the reader by at most ${(r.maxLeadBytes / MiB).toFixed(1)} MiB\n`);
    assert.equal(r.status.code, 0);
    assert.equal(r.receivedBytes, TOTAL);
    assert.ok(r.rssMaxBytes - r.rssBeforeBytes < RSS_GROWTH_BOUND, `RSS grew ${((r.rssMaxBytes - r.rssBeforeBytes) / MiB).toFixed(1)} MiB`);
    // Backpressure reached the agent: it never got far ahead of the slow reader.
    assert.ok(r.maxLeadBytes < LEAD_BOUND, `agent ran ${(r.maxLeadBytes / MiB).toFixed(1)} MiB ahead`);
    assert.equal(router.exitCode(), undefined);
  });
});

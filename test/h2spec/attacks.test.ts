/**
 * The published HTTP/2 attacks of issue 13 with bounded counts, against both engines (`npm run test:h2spec`).
 * Each runs against a fresh child-process router (so one attack's damage cannot leak into the next) with
 * an echo agent behind a frame tap and a steady client on another connection (test/h2spec/scenarios.ts).
 * Assertions are counts and codes, never times: the attacker's connection ends (GOAWAY ENHANCE_YOUR_CALM,
 * RFC 9113 section 5.4.1 / 7, or a close), the agent saw a bounded number of the attacker's frames, and the
 * steady client had no errors. The stress version at the issue's scale is `npm run stress:h2-attacks`.
 */
import { strict as assert } from "node:assert";
import { PREMATURE_RESET_STREAM_COUNT } from "../../router/h2/limits";
import { ErrorCode } from "../../router/h2/frames";
import { ENGINES, errorName, startAttackBed } from "./kit";
import {
  emptyContinuationFlood, emptyDataFlood, hpackBomb, measureAttack, nonReadingPingFlood, nonReadingStreams, rapidReset,
  type AttackResult, type Scenario,
} from "./scenarios";

const CALM = errorName(ErrorCode.ENHANCE_YOUR_CALM);

async function run(engine: (typeof ENGINES)[number], scenario: Scenario): Promise<AttackResult> {
  const bed = await startAttackBed(engine);
  try {
    const r = await measureAttack(bed, scenario, 10_000);
    process.stderr.write(`      ${engine}: ${JSON.stringify({ sent: r.sent, cpuMs: r.cpuMs, rssMiB: r.rssGrowthMiB, agent: r.agent, goaway: r.goaway, closed: r.closed, steady: `${r.steadyOk} ok / ${r.steadyErrors} errors` })}\n`);
    return r;
  } finally {
    await bed.close();
  }
}

/** The attacker was told to calm down (GOAWAY ENHANCE_YOUR_CALM) or its connection was closed; never any other GOAWAY code. */
function assertEnded(r: AttackResult): void {
  const ended = r.goaway === CALM || (r.goaway === "none" && r.closed === "1/1");
  assert.ok(ended, `the attacker's connection should end with GOAWAY ${CALM} or a close; got GOAWAY ${r.goaway}, closed ${r.closed}`);
}
function assertSteady(r: AttackResult): void {
  assert.ok(r.steadyOk > 0, "the steady client completed no call during the attack");
  assert.equal(r.steadyErrors, 0, `the steady client on another connection failed: ${r.steadyFirstError}`);
}

for (const engine of ENGINES) {
  describe(`h2spec attacks, bounded (${engine} engine)`, function () {
    this.timeout(60_000);

    // CVE-2023-44487; RFC 9113 section 10.5 ("Denial-of-Service Considerations"): an endpoint may treat
    // activity that is not useful as a connection error ENHANCE_YOUR_CALM. Envoy stops at 500 premature resets.
    it("10.5 rapid reset: 1,000 streams HEADERS + RST_STREAM end the connection before all reach the agent", async () => {
      const r = await run(engine, rapidReset(1000));
      assertEnded(r);
      // frames: the connection ends at 250 premature resets, and a stream reset in the read that opened it never
      // reaches the agent; http2: Node opens each agent stream as it emits the client's, the guard ends at 500.
      const bound = engine === "frames" ? PREMATURE_RESET_STREAM_COUNT / 2 : 1000;
      assert.ok(r.agent.headers < bound, `${r.agent.headers} reset streams reached the agent (bound ${bound})`);
      assertSteady(r);
    });

    // RFC 9113 section 6.10 and 10.5: CONTINUATION frames without END_HEADERS and without bytes make no progress.
    it("6.10 / 10.5 CONTINUATION flood: 20,000 empty CONTINUATION frames end the connection, nothing reaches the agent", async () => {
      const r = await run(engine, emptyContinuationFlood(20_000));
      assertEnded(r);
      assert.equal(r.agent.headers, 0);
      assertSteady(r);
    });

    // RFC 7541 section 4 (the dynamic table) and RFC 9113 section 6.5.2 (SETTINGS_MAX_HEADER_LIST_SIZE): a
    // header list past the limit is refused while decoding; the seeding request is the only one forwarded.
    it("RFC 7541 4 HPACK bomb: 3 blocks of 64 KB that expand to ~260 MB each never reach the agent", async () => {
      const r = await run(engine, hpackBomb(3));
      assert.ok(r.agent.headers <= 1, `${r.agent.headers} HEADERS reached the agent (only the 4 KB seeding request may)`);
      assertSteady(r);
    });

    // RFC 9113 section 6.7 (every PING needs an ACK) and 10.5: ACKs queued for a peer that does not read are bounded.
    it("6.7 / 10.5 PING flood from a non-reader: 20,000 PINGs end the connection", async () => {
      const r = await run(engine, nonReadingPingFlood(20_000));
      assertEnded(r);
      assertSteady(r);
    });

    // RFC 9113 section 6.1 and 10.5: zero-length DATA without END_STREAM makes no progress.
    it("6.1 / 10.5 empty DATA flood: 50,000 zero-length DATA frames end the connection and are not all relayed", async () => {
      const r = await run(engine, emptyDataFlood(50_000));
      assertEnded(r);
      // At most the request's own end (END_STREAM): an empty DATA frame that ends nothing is never relayed.
      assert.ok(r.agent.data <= 1, `${r.agent.data} DATA frames reached the agent`);
      assertSteady(r);
    });

    // RFC 9113 section 5.2.2: a receiver may hold a stream's window at zero; that must hold only its own stream.
    it("5.2.2 24 non-reading streams to one deployment do not fail a steady caller of that deployment", async () => {
      const r = await run(engine, nonReadingStreams(24, 3000));
      assert.equal(r.agent.streams, 24, "every non-reading call reached the agent");
      assertSteady(r);
    });
  });
}

/**
 * The http2 engine's guard (router/http2/guard.ts): premature-reset accounting in Envoy's spirit
 * (RFC 9113 section 10.5; CVE-2023-44487) ends an abuser's connection and logs it, and leaves alone a
 * client whose cancels are a minority of its streams.
 */
import { strict as assert } from "node:assert";
import { ErrorCode, FrameType } from "../../router/h2/frames";
import { PREMATURE_RESET_LIMIT } from "../../router/http2/guard";
import { eventually } from "../helpers/router-fixture";
import { Attacker, grpcData, headersFrame, requestBlock, startAttackBed, type AttackBed } from "./kit";

const rst = (streamId: number): Buffer => {
  const b = Buffer.alloc(13);
  b.writeUIntBE(4, 0, 3);
  b[3] = FrameType.RST_STREAM;
  b.writeUInt32BE(streamId, 5);
  b.writeUInt32BE(ErrorCode.CANCEL, 9);
  return b;
};

describe("http2 engine guard: premature resets (RFC 9113 section 10.5)", function () {
  this.timeout(60_000);
  let bed: AttackBed;
  beforeEach(async () => { bed = await startAttackBed("http2"); });
  afterEach(async () => { await bed.close(); });

  it(`GOAWAY ENHANCE_YOUR_CALM after ${PREMATURE_RESET_LIMIT.minStreams} streams reset before a response, with one warn line`, async () => {
    const a = await Attacker.connect(bed.router.port);
    const block = requestBlock("atk", "Hang");
    // Node opens each agent stream as nghttp2 emits the client's stream, before the reset in the same read is
    // seen, so what one read carries reaches the agent; the guard ends the connection within a few batches.
    // Batches of 100 with a pause between, as a client that keeps going until the router stops it.
    const n = PREMATURE_RESET_LIMIT.minStreams * 10;
    let sent = 0;
    const deadline = Date.now() + 10_000;
    while (sent < n && !a.closed && a.goaway() === undefined && Date.now() < deadline) {
      const first = sent;
      sent += await a.flood(100, (i) => Buffer.concat([headersFrame(2 * (first + i) + 1, block), rst(2 * (first + i) + 1)]), deadline, 100);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(await a.ended(5000), "the connection did not end");
    const g = a.goaway();
    assert.equal(g?.code, ErrorCode.ENHANCE_YOUR_CALM);
    assert.equal(g?.debug, "too many premature resets");
    const reached = bed.tap.counts("atk").streams;
    assert.ok(reached < n / 2 && reached <= sent, `${reached} of ${sent} streams reached the agent (the client tried ${n})`);
    // The router's log reaches this process through a pipe, so the line may arrive after the GOAWAY: wait for
    // it (at most 2 s), then give a second line time to show if the rate limit failed.
    const warnLines = (): string[] => bed.router.log().split("\n").filter((l) => l.includes('"limit":"premature_resets"'));
    await eventually(() => warnLines().length > 0, 2000, "the premature-resets warn line").catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const warns = warnLines();
    assert.equal(warns.length, 1, "one warn line (rate-limited)");
    assert.match(warns[0]!, /"level":"warn"/);
    a.close();
  });

  it("a client whose resets are a minority of its streams keeps its connection", async () => {
    const a = await Attacker.connect(bed.router.port);
    const answered = 1200;
    const resets = PREMATURE_RESET_LIMIT.minStreams + 50; // past the count, under the ratio (550 of 1750)
    const unary = requestBlock("atk");
    await a.flood(answered, (i) => Buffer.concat([headersFrame(2 * i + 1, unary), grpcData(2 * i + 1, "ok")]), Date.now() + 10_000, 100);
    // Response headers and trailers: two HEADERS per answered call.
    assert.ok(await a.until(() => a.count(FrameType.HEADERS) >= 2 * answered, 15_000), `only ${a.count(FrameType.HEADERS)} HEADERS came back`);
    const hang = requestBlock("atk", "Hang");
    const first = 2 * answered + 1;
    await a.flood(resets, (i) => Buffer.concat([headersFrame(first + 2 * i, hang), rst(first + 2 * i)]), Date.now() + 10_000, 100);
    await a.until(() => a.closed, 1500);
    assert.equal(a.goaway(), undefined, "the router sent GOAWAY");
    assert.equal(a.closed, false);
    a.close();
  });
});

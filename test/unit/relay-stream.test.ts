/**
 * One direction of a relayed call (router/h2/stream.ts) against recording connections: stream
 * credit only as bytes leave (RFC 9113 6.9: WINDOW_UPDATE is how a receiver lets the sender send
 * more), connection credit as soon as bytes are queued while the isolation budget lasts, and every
 * byte credited exactly once whether it was sent, dropped or padding.
 */
import { strict as assert } from "node:assert";
import type { H2Conn } from "../../router/h2/conn";
import { BufferBudget, RelayStream, REPLAY_LIMIT_BYTES, type StreamOwner } from "../../router/h2/stream";
import type { StreamConn } from "../../router/h2/stream-conn";

const WINDOW = 1000;

/** The sender's side: what it was credited, at connection level and per stream (WINDOW_UPDATE frames). */
class Sender {
  connectionCredit = 0;
  streamCredit = 0;
  creditConnection(bytes: number): void { this.connectionCredit += bytes; }
  writeWindowUpdate(streamId: number, increment: number): void {
    assert.ok(streamId > 0, "stream-level credit names its stream");
    this.streamCredit += increment;
  }
}

/** The receiver's side: its windows, and the DATA written to it. */
class Receiver {
  peerInitialWindow = 0;
  sendWindow = 1 << 20;
  peerMaxFrameSize = 16384;
  congested = false;
  readonly blocked = new Set<RelayStream>();
  readonly data: Array<{ bytes: number; end: boolean }> = [];
  trailers = 0;
  writeData(_id: number, payload: Buffer, end: boolean): void { this.data.push({ bytes: payload.length, end }); this.sendWindow -= payload.length; }
  writeHeaderBlock(): void { this.trailers++; }
}

function setup(budgetBytes = 1 << 20): { s: RelayStream; from: Sender; to: Receiver; budget: BufferBudget; ended: RelayStream[] } {
  const ended: RelayStream[] = [];
  const owner: StreamOwner = { streamEnded: (x) => ended.push(x) };
  const budget = new BufferBudget(budgetBytes);
  const s = new RelayStream(owner, WINDOW, budget);
  const from = new Sender();
  const to = new Receiver();
  s.receiveFrom(from as unknown as H2Conn, 1);
  s.sendTo(to as unknown as StreamConn<unknown>, 3);
  return { s, from, to, budget, ended };
}
const sent = (to: Receiver): number => to.data.reduce((n, d) => n + d.bytes, 0);

describe("relay stream: one direction's windows and credit", () => {
  it("credits the sender's connection when bytes are queued, its stream only when they leave", () => {
    const { s, from, to, budget } = setup();
    assert.ok(s.received(Buffer.alloc(600), 0, false));
    s.pushData(Buffer.alloc(600), false);
    assert.equal(from.connectionCredit, 600, "connection credit at once: the receiver has no window yet");
    assert.equal(from.streamCredit, 0);
    assert.equal(sent(to), 0);
    assert.equal(budget.held, 600);
    to.sendWindow = 1 << 20;
    s.sendWindow = 400; // the receiver's WINDOW_UPDATE for the stream
    s.pump();
    assert.equal(sent(to), 400);
    assert.equal(from.streamCredit, 400, "a quarter window or more goes back in one WINDOW_UPDATE");
    assert.equal(from.connectionCredit, 600, "no second connection credit for the same bytes");
    assert.equal(budget.held, 200);
  });

  it("bounds what a stream holds by the stream window: more is refused for the sender to be reset", () => {
    const { s } = setup();
    assert.ok(s.received(Buffer.alloc(WINDOW), 0, false));
    assert.equal(s.received(Buffer.alloc(1), 0, false), false);
  });

  it("past the budget, connection credit waits for the bytes to leave, then is paid once", () => {
    const { s, from, to, budget } = setup(500);
    s.received(Buffer.alloc(800), 0, false);
    s.pushData(Buffer.alloc(300), false);
    s.pushData(Buffer.alloc(500), false); // over the 500-byte budget with the first 300
    assert.equal(from.connectionCredit, 300);
    assert.equal(budget.held, 300);
    s.sendWindow = 800;
    s.pump();
    assert.equal(sent(to), 800);
    assert.equal(from.connectionCredit, 800, "the owed 500 were paid when they left");
    assert.equal(budget.held, 0);
  });

  it("tells the budget's owner when it is full, at most once a minute", () => {
    const warnings: number[] = [];
    const budget = new BufferBudget(100, (held) => warnings.push(held));
    assert.ok(budget.take(100));
    assert.equal(budget.take(1), false);
    assert.equal(budget.take(1), false);
    assert.deepEqual(warnings, [100]);
  });

  it("a dropped call gives back its owed connection credit and its budget", () => {
    const { s, from, budget } = setup(500);
    s.received(Buffer.alloc(900), 0, false);
    s.pushData(Buffer.alloc(400), false);
    s.pushData(Buffer.alloc(500), false);
    s.drop();
    assert.equal(from.connectionCredit, 900);
    assert.equal(budget.held, 0);
    assert.equal(from.streamCredit, 0, "a finished stream gets no stream credit");
  });

  it("credits padding at once at both levels, and DATA the call will not forward at connection level", () => {
    const { s, from } = setup();
    assert.ok(s.received(Buffer.alloc(10), 300, false));
    assert.equal(from.connectionCredit, 300);
    assert.equal(from.streamCredit, 300);
    s.discard(10);
    assert.equal(from.connectionCredit, 310);
  });

  it("sends trailers after the DATA still waiting, then tells the owner the direction ended", () => {
    const { s, to, ended } = setup();
    s.received(Buffer.alloc(100), 0, false);
    s.pushData(Buffer.alloc(100), false);
    s.pushTrailers(Buffer.from([0x88]));
    assert.equal(to.trailers, 0, "trailers wait behind DATA the receiver has no window for");
    s.sendWindow = 100;
    s.pump();
    assert.equal(sent(to), 100);
    assert.equal(to.trailers, 1);
    assert.deepEqual(ended, [s]);
    assert.equal(s.localEnded, true);
  });

  it("waits on the receiver's connection window, joining its blocked set, and resumes from there", () => {
    const { s, to } = setup();
    to.sendWindow = 0;
    s.sendWindow = 1000;
    s.received(Buffer.alloc(50), 0, false);
    s.pushData(Buffer.alloc(50), false);
    assert.ok(to.blocked.has(s));
    to.sendWindow = 1000;
    s.pump();
    assert.equal(sent(to), 50);
  });

  // RFC 9113 section 8.7: a stream refused with REFUSED_STREAM was not processed; the call sends what it sent again (call.ts retryRefused).
  it("replays what it sent after rewind(), on the next stream, crediting the sender only once for it", () => {
    const { s, from, to, budget, ended } = setup();
    s.sendWindow = 1000;
    s.keepSent();
    s.received(Buffer.alloc(300), 0, true);
    s.pushData(Buffer.alloc(300, 1), true);
    assert.equal(sent(to), 300);
    assert.equal(s.localEnded, true);
    const credited = { connection: from.connectionCredit, stream: from.streamCredit };
    assert.ok(s.rewind(), "everything sent was kept");
    assert.equal(s.localEnded, false);
    const next = new Receiver();
    s.sendTo(next as unknown as StreamConn<unknown>, 5);
    next.sendWindow = 1 << 20;
    s.sendWindow = 1000;
    s.pump();
    assert.deepEqual(next.data, [{ bytes: 300, end: true }], "the same DATA, END_STREAM included");
    assert.deepEqual({ connection: from.connectionCredit, stream: from.streamCredit }, credited, "no second credit for the replayed bytes");
    assert.equal(budget.held, 0);
    assert.deepEqual(ended, [s, s]);
    assert.equal(s.rewind(), false, "one replay: the second sending is not kept");
  });

  it(`keeps nothing for a replay once more than ${REPLAY_LIMIT_BYTES} bytes went out, nor after forgetSent()`, () => {
    const big = setup();
    big.s.sendWindow = 1000;
    big.s.keepSent();
    big.s.received(Buffer.alloc(1000), 0, false);
    big.s.pushData(Buffer.alloc(1000), false);
    assert.equal(sent(big.to), 1000);
    assert.ok(big.s.rewind());
    const over = setup();
    over.s.recvWindow = 1 << 20;
    over.s.sendWindow = 1 << 20;
    over.s.keepSent();
    over.s.received(Buffer.alloc(REPLAY_LIMIT_BYTES + 1), 0, false);
    over.s.pushData(Buffer.alloc(REPLAY_LIMIT_BYTES + 1), false);
    assert.equal(sent(over.to), REPLAY_LIMIT_BYTES + 1);
    assert.equal(over.s.rewind(), false);
    const answered = setup();
    answered.s.keepSent();
    answered.s.received(Buffer.alloc(10), 0, false);
    answered.s.pushData(Buffer.alloc(10), false);
    answered.s.forgetSent();
    assert.equal(answered.s.rewind(), false);
  });

  it("a dropped call with replayed bytes still queued gives back only what was not credited before", () => {
    const { s, from, to, budget } = setup();
    s.sendWindow = 1000;
    s.keepSent();
    s.received(Buffer.alloc(200), 0, false);
    s.pushData(Buffer.alloc(200), false);
    assert.equal(sent(to), 200);
    const credit = from.connectionCredit;
    assert.ok(s.rewind());
    s.received(Buffer.alloc(100), 0, false);
    s.pushData(Buffer.alloc(100), false); // no receiver yet: queued behind the 200 replayed
    s.drop();
    assert.equal(from.connectionCredit, credit + 100);
    assert.equal(budget.held, 0);
  });
});

/**
 * The relay's per-tick output batch (router/h2/out-batch.ts): frames keep their order (RFC 9113 section 5.1:
 * frames of a stream are processed in the order sent), small pieces are copied into one chunk, large
 * payloads go out as the caller's own view, and bytes already given to the socket are never overwritten.
 */
import { strict as assert } from "node:assert";
import { OutBatch, COPY_MAX_BYTES } from "../../router/h2/out-batch";
import { FrameType } from "../../router/h2/frames";

class FakeSocket {
  corks = 0;
  cork(): void { this.corks++; }
  uncork(): void { this.corks--; }
  destroyed = false;
  readonly chunks: Buffer[] = [];
  write(chunk: Uint8Array | string): boolean {
    assert.ok(Buffer.isBuffer(chunk));
    this.chunks.push(chunk);
    return true;
  }
}

describe("relay: output batch", () => {
  it("copies a tick's small frames into one chunk, in order", () => {
    const sock = new FakeSocket();
    const b = new OutBatch(sock);
    b.frameHeader(3, FrameType.DATA, 0, 1);
    b.bytes(Buffer.from("abc"));
    b.frameHeader(4, FrameType.WINDOW_UPDATE, 0, 0);
    b.u32(65535);
    assert.equal(sock.chunks.length, 0, "nothing reaches the socket before the flush");
    assert.equal(b.pending, 9 + 3 + 9 + 4);
    b.endTick();
    assert.equal(sock.corks, 0, "a tick of small frames is one plain write, never corked");
    assert.equal(sock.chunks.length, 1);
    assert.equal(sock.chunks[0]!.toString("hex"), "000003000000000001" + "616263" + "000004080000000000" + "0000ffff");
    assert.equal(b.pending, 0);
  });

  it("passes a payload over COPY_MAX_BYTES as the caller's view, after the bytes batched before it", () => {
    const sock = new FakeSocket();
    const b = new OutBatch(sock);
    const big = Buffer.alloc(COPY_MAX_BYTES + 1, 7);
    b.frameHeader(big.length, FrameType.DATA, 0, 3);
    b.bytes(big);
    b.frameHeader(0, FrameType.DATA, 1, 3);
    assert.equal(sock.corks, 1, "a tick with a large payload corks the socket: header, payload and the rest leave in one writev");
    b.endTick();
    assert.equal(sock.corks, 0, "and uncorks it at the end of the tick");
    assert.equal(sock.chunks.length, 3);
    assert.equal(sock.chunks[0]!.length, 9);
    assert.equal(sock.chunks[1], big, "not copied");
    assert.equal(sock.chunks[2]!.length, 9);
  });

  it("never overwrites bytes already given to the socket (writes complete later), across buffers", () => {
    const sock = new FakeSocket();
    const b = new OutBatch(sock);
    const expected: string[] = [];
    for (let tick = 0; tick < 50; tick++) {
      let text = "";
      for (let i = 0; i < 10; i++) {
        const piece = Buffer.from(`t${tick}p${i}-`.padEnd(100 + i, "x"));
        b.bytes(piece);
        text += piece.toString("latin1");
      }
      b.flush();
      expected.push(text);
    }
    // Every chunk still holds what it held when written (a later tick reused only the free tail or a new buffer).
    assert.equal(sock.chunks.map((c) => c.toString("latin1")).join(""), expected.join(""));
  });

  it("drops what is batched when the connection is torn down, and writes nothing to a destroyed socket", () => {
    const sock = new FakeSocket();
    const b = new OutBatch(sock);
    b.bytes(Buffer.from("lost"));
    b.drop();
    b.flush();
    b.bytes(Buffer.from("late"));
    sock.destroyed = true;
    b.flush();
    assert.equal(sock.chunks.length, 0);
  });
});

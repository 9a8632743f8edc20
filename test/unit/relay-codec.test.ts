import { strict as assert } from "node:assert";
import fc from "fast-check";
import { buildFrame, buildGoaway, buildSettings, Flag, FrameReader, FrameType, parseSettings } from "../../router/h2/frames";
import { valueRule } from "../../router/h2/field-rules";
import { encodeHeaderList, encodeLiteral, HpackDecoder, HpackError, huffmanDecode, readInt } from "../../router/h2/hpack";
import { STATIC_TABLE } from "../../router/h2/hpack-data";

// hpack.js ships an HPACK encoder with Huffman and dynamic-table indexing: an independent peer for the decoder.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hpackjs = require("hpack.js") as { compressor: { create(o: { table: { size: number } }): HpackJsCompressor } };
interface HpackJsCompressor {
  write(h: Array<{ name: string; value: string; huffman?: boolean; neverIndex?: boolean }>): void;
  read(): Buffer | null;
}
function compress(c: HpackJsCompressor, headers: Array<[string, string]>, huffman: boolean, neverIndex = false): Buffer {
  c.write(headers.map(([name, value]) => ({ name, value, huffman, neverIndex })));
  const out: Buffer[] = [];
  for (let b = c.read(); b !== null; b = c.read()) out.push(b);
  return Buffer.concat(out);
}
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const pairs = (list: readonly string[]): Array<[string, string]> => {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
};

type Frame = { type: number; flags: number; streamId: number; payload: Buffer };
function readAll(chunks: Buffer[], max = 16384): Frame[] {
  const frames: Frame[] = [];
  const r = new FrameReader(max, (type, flags, streamId, payload) => frames.push({ type, flags, streamId, payload: Buffer.from(payload) }), () => frames.push({ type: -1, flags: 0, streamId: 0, payload: Buffer.alloc(0) }));
  for (const c of chunks) r.push(c);
  return frames;
}

describe("relay: frame codec", () => {
  it("builds a frame header: 24-bit length, type, flags, 31-bit stream id (reserved bit cleared)", () => {
    const f = buildFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 0xffffffff, Buffer.from("abc"));
    assert.deepEqual([...f.subarray(0, 9)], [0, 0, 3, 1, 5, 0x7f, 0xff, 0xff, 0xff]);
    assert.equal(f.subarray(9).toString(), "abc");
  });

  it("reads many frames from one chunk, and the same frames fed one byte at a time", () => {
    const frames = [
      buildSettings([[1, 0], [4, 1 << 20]]),
      buildFrame(FrameType.DATA, Flag.END_STREAM, 3, Buffer.alloc(1000, 7)),
      buildFrame(FrameType.PING, 0, 0, Buffer.from("12345678")),
      buildGoaway(5, 0, "bye"),
    ];
    const whole = Buffer.concat(frames);
    const oneChunk = readAll([whole]);
    const bytewise = readAll([...whole].map((b) => Buffer.from([b])));
    for (const got of [oneChunk, bytewise]) {
      assert.deepEqual(got.map((f) => [f.type, f.flags, f.streamId, f.payload.length]), [[4, 0, 0, 12], [0, 1, 3, 1000], [6, 0, 0, 8], [7, 0, 0, 11]]);
      assert.deepEqual(parseSettings(got[0]!.payload), [[1, 0], [4, 1 << 20]]);
      assert.ok(got[1]!.payload.every((b) => b === 7));
    }
  });

  it("passes a contiguous frame's payload as a view of the chunk, without copying", () => {
    const chunk = Buffer.concat([buildFrame(FrameType.DATA, 0, 1, Buffer.from("hello")), buildFrame(FrameType.DATA, 0, 1, Buffer.from("world"))]);
    const views: Buffer[] = [];
    new FrameReader(16384, (_t, _f, _s, p) => views.push(p), () => assert.fail("not oversize")).push(chunk);
    assert.equal(views.length, 2);
    for (const v of views) assert.equal(v.buffer, chunk.buffer);
    assert.deepEqual(views.map(String), ["hello", "world"]);
  });

  it("copies only the frame that spans two chunks: the frames after it are views of the second chunk", () => {
    // Over 4 KiB each, so no two of these buffers are slices of Node's shared allocation pool.
    const a = buildFrame(FrameType.DATA, 0, 1, Buffer.alloc(5000, 1));
    const b = buildFrame(FrameType.DATA, 0, 3, Buffer.alloc(50, 2));
    const c = buildFrame(FrameType.DATA, 0, 5, Buffer.alloc(70, 3));
    const first = a.subarray(0, 40);
    const second = Buffer.concat([a.subarray(40), b, c, Buffer.alloc(5000)]).subarray(0, a.length - 40 + b.length + c.length);
    const views: Buffer[] = [];
    const reader = new FrameReader(16384, (_t, _f, _s, p) => views.push(p), () => assert.fail("not oversize"));
    reader.push(first);
    assert.equal(views.length, 0);
    reader.push(second);
    assert.deepEqual(views.map((v) => v.length), [5000, 50, 70]);
    assert.notEqual(views[0]!.buffer, second.buffer, "the spanning frame is copied together");
    assert.equal(views[1]!.buffer, second.buffer, "the next frames are not copied");
    assert.equal(views[2]!.buffer, second.buffer);
  });

  it("reports a frame longer than the maximum frame size when its header arrives split", () => {
    const head = Buffer.from([0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 1]); // 65536 bytes announced
    const got = readAll([head.subarray(0, 4), head.subarray(4), Buffer.alloc(100)], 16384);
    assert.deepEqual(got.map((f) => f.type), [-1]);
  });

  it("reassembles frames split at every possible point", () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(2000), { maxLength: 8 }), (payloads, cuts) => {
      const whole = Buffer.concat(payloads.map((p, i) => buildFrame(FrameType.DATA, 0, 2 * i + 1, Buffer.from(p))));
      const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let last = 0;
      for (const p of points) { chunks.push(whole.subarray(last, p)); last = p; }
      chunks.push(whole.subarray(last));
      const got = readAll(chunks.filter((c) => c.length > 0));
      assert.deepEqual(got.map((f) => [f.streamId, [...f.payload]]), payloads.map((p, i) => [2 * i + 1, [...p]]));
    }), { numRuns: 200 });
  });

  it("reports a frame longer than the maximum frame size instead of buffering it", () => {
    const head = Buffer.from([0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 1]); // 65536 bytes announced
    const got = readAll([head], 16384);
    assert.deepEqual(got.map((f) => f.type), [-1]);
  });
});

describe("relay: HPACK", () => {
  it("decodes RFC 7541 C.3 (requests without Huffman) with dynamic-table reuse", () => {
    const d = new HpackDecoder();
    const r1 = d.decode(hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"));
    assert.deepEqual(pairs(r1.headers), [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]]);
    assert.equal(r1.usedDynamic, false);
    assert.equal(d.dynamicSize, 57);
    const r2 = d.decode(hex("8286 84be 5808 6e6f 2d63 6163 6865"));
    assert.deepEqual(pairs(r2.headers), [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"], ["cache-control", "no-cache"]]);
    assert.equal(r2.usedDynamic, true);
    assert.equal(d.dynamicSize, 110);
    const r3 = d.decode(hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"));
    assert.deepEqual(pairs(r3.headers), [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]]);
    assert.equal(d.dynamicSize, 164);
  });

  it("decodes RFC 7541 C.4 (requests with Huffman)", () => {
    const d = new HpackDecoder();
    assert.deepEqual(pairs(d.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")).headers), [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]]);
    assert.deepEqual(pairs(d.decode(hex("8286 84be 5886 a8eb 1064 9cbf")).headers).at(-1), ["cache-control", "no-cache"]);
    assert.deepEqual(pairs(d.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")).headers).at(-1), ["custom-key", "custom-value"]);
  });

  it("decodes every byte value through Huffman, and refuses bad padding and EOS", () => {
    const c = hpackjs.compressor.create({ table: { size: 0 } });
    const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    const block = compress(c, [["x-all", all]], true);
    assert.deepEqual(new HpackDecoder().decode(block).headers, ["x-all", all]);
    // "a" is 00011 (5 bits): padding of zeros instead of ones is invalid.
    assert.equal(huffmanDecode(Buffer.from([0b00011111]), 0, 1), "a");
    assert.throws(() => huffmanDecode(Buffer.from([0b00011000]), 0, 1), HpackError);
    assert.throws(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4), HpackError);
  });

  it("decodes what an independent encoder (hpack.js: Huffman, indexing, never-indexed) produces across many blocks", () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
    const value = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((n) => String.fromCharCode(n)), maxLength: 60 });
    fc.assert(fc.property(fc.array(fc.array(fc.tuple(name, value), { maxLength: 12 }), { minLength: 1, maxLength: 8 }), fc.boolean(), fc.constantFrom(0, 256, 4096), (blocks, huffman, tableSize) => {
      const c = hpackjs.compressor.create({ table: { size: tableSize } });
      const d = new HpackDecoder(4096);
      for (const headers of blocks) {
        // Repeating a block makes the encoder reference its dynamic table.
        for (const h of [headers, headers]) assert.deepEqual(pairs(d.decode(compress(c, h, huffman)).headers), h);
      }
    }), { numRuns: 150 });
  });

  // The decoder remembers decoded literals per connection (router/h2/hpack-strings.ts): a long-lived decoder
  // must give what a fresh one gives for every block, whatever hits, misses and slot collisions happen, and
  // badValueAt must name the first value RFC 9113 8.2.1 rejects, as valueRule over the list would.
  it("a long-lived decoder (its literal cache hit, missed and collided) decodes and value-checks as a fresh one", () => {
    const name = fc.constantFrom("x-a", "x-b", "content-type", "te", "x-deployment-id", "user-agent");
    const value = fc.oneof(
      fc.constantFrom("", "a", " a", "a ", "x\0y", "a\rb", "a\nb", "application/grpc", "trailers", "\t", "bench-a"),
      fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((n) => String.fromCharCode(n)), maxLength: 60 }),
    );
    fc.assert(fc.property(fc.array(fc.array(fc.tuple(name, value), { maxLength: 10 }), { minLength: 1, maxLength: 30 }), (blocks) => {
      const longLived = new HpackDecoder(4096);
      for (const headers of blocks) {
        for (const huffman of [true, false]) {
          // A fresh encoder per block: each block stands alone, as blocks do once our table size of 0 is in force.
          const block = compress(hpackjs.compressor.create({ table: { size: 4096 } }), headers, huffman);
          const got = longLived.decode(block);
          const fresh = new HpackDecoder(4096).decode(block);
          assert.deepEqual(pairs(got.headers), headers, "what the independent encoder was given");
          assert.deepEqual(got.headers, fresh.headers);
          const firstBad = got.headers.findIndex((v, i) => i % 2 === 1 && valueRule(v) !== undefined);
          assert.equal(got.badValueAt, firstBad < 0 ? -1 : firstBad - 1);
          assert.equal(fresh.badValueAt, got.badValueAt);
        }
      }
    }), { numRuns: 200 });
  });

  // A block that neither reads nor changes the dynamic table decodes the same whatever came before (RFC 7541
  // section 2.3: only the dynamic table carries state between blocks), so the decoder answers a byte-identical
  // repeat of the last such block with the last result. Blocks that index, reference or resize the table must
  // still be decoded each time: the same bytes can mean other fields once the table has changed.
  it("answers a repeated stateless block with the same result, and decodes every block that uses the table", () => {
    const d = new HpackDecoder(4096, 1 << 20, Infinity, true);
    const stateless = encodeHeaderList([":method", "POST", ":path", "/pixell.agent.AgentService/Invoke", "x-deployment-id", "bench-a"]);
    const first = d.decode(stateless);
    const again = d.decode(Buffer.from(stateless)); // another buffer, the same bytes
    assert.equal(again, first, "the remembered result");
    assert.deepEqual(pairs(again.headers), [[":method", "POST"], [":path", "/pixell.agent.AgentService/Invoke"], ["x-deployment-id", "bench-a"]]);
    // Two are kept: an agent's response headers and trailers alternate on one connection.
    const trailers = encodeHeaderList(["grpc-status", "0", "grpc-message", ""]);
    const t1 = d.decode(trailers);
    assert.equal(d.decode(stateless), first);
    assert.equal(d.decode(trailers), t1);
    d.decode(encodeHeaderList(["grpc-status", "5"])); // a third: the oldest of the two goes
    assert.notEqual(d.decode(stateless), first);
    // Literal with incremental indexing (0x40): x-a: 1 becomes index 62; 0xbe is "indexed field 62".
    d.decode(Buffer.concat([Buffer.from([0x40]), strLit("x-a"), strLit("1")]));
    assert.deepEqual(d.decode(Buffer.from([0xbe])).headers, ["x-a", "1"]);
    d.decode(Buffer.concat([Buffer.from([0x40]), strLit("x-b"), strLit("2")]));
    assert.deepEqual(d.decode(Buffer.from([0xbe])).headers, ["x-b", "2"], "the same byte after the table changed");
    // An indexing literal repeated is inserted each time (the table holds both copies).
    const indexing = Buffer.concat([Buffer.from([0x40]), strLit("x-c"), strLit("3")]);
    d.decode(indexing);
    d.decode(indexing);
    assert.equal(d.dynamicCount, 4);
    // A size update is applied and checked each time (RFC 7541 section 6.3): once the limit drops, the same bytes are an error.
    const grow = Buffer.from([0x3f, 0xe1, 0x1f]); // size update to 4096 (31 + 4065 in a 5-bit prefix)
    d.decode(grow);
    d.setSettingsMax(0);
    assert.throws(() => d.decode(grow), HpackError, "the repeat is checked against the new limit");
    d.decode(Buffer.from([0x20])); // size update to 0: empties the table
    assert.equal(d.dynamicCount, 0);
    const plain = new HpackDecoder(4096);
    assert.notEqual(plain.decode(stateless), plain.decode(stateless), "without `remembers`, every block is decoded");
    const small = new HpackDecoder(0, 1 << 20, 40, true);
    assert.equal(small.decode(stateless).overLimit, true);
    assert.equal(small.decode(stateless).overLimit, true, "a remembered result keeps its limit verdict");
  });

  // RFC 7541 section 5.2: a string's length prefix comes first, then its bytes. Past the list limit the decoder
  // only skips strings that are not needed (literals without indexing, 0000, and never indexed, 0001); a skip
  // that miscounted the prefix would misparse the rest of the block as a COMPRESSION_ERROR, ending the
  // connection where only the stream is to be refused (RFC 9113 section 10.5.1).
  it("past the header list limit, skips unindexed literals to the block's end and still applies later insertions", () => {
    const d = new HpackDecoder(4096, 1 << 20, 100);
    const big = Buffer.concat([Buffer.from([0x00]), strLit("x-big"), strLit("v".repeat(90))]); // crosses the limit
    const skipped = Buffer.concat([
      Buffer.from([0x00]), strLit("x-new-name"), Buffer.from([0x7f, 0x00]), Buffer.alloc(127, 0x61), // new name; length 127 takes a second prefix byte
      Buffer.from([0x04]), strLit("/a/b"), // :path (static name 4), literal without indexing
      Buffer.from([0x10]), strLit("x-secret"), strLit("s"), // never indexed
      Buffer.from([0x0f, 0x12]), strLit("v"), // static name 33 (date) as 15 + 18: a multi-byte index
    ]);
    const r = d.decode(Buffer.concat([big, skipped, Buffer.from([0x40]), strLit("x-kept"), strLit("1")]));
    assert.equal(r.overLimit, true);
    assert.deepEqual(r.headers, ["x-big", "v".repeat(90)], "fields stop at the one that crossed the limit");
    assert.equal(d.dynamicCount, 1, "the insertion after the skipped fields is made");
    assert.deepEqual(d.decode(Buffer.from([0xbe])).headers, ["x-kept", "1"]);
  });

  it("decodes any interleaving of stateless, indexing and table-referencing blocks, repeats included, as the encoders meant", () => {
    const lists: Array<Array<[string, string]>> = [
      [[":method", "POST"], ["content-type", "application/grpc"], ["x-deployment-id", "bench-a"]],
      [[":status", "200"], ["content-type", "application/grpc"]],
      [["grpc-status", "0"], ["grpc-message", ""]],
      [["x-a", " bad "], ["te", "trailers"]],
    ];
    const step = fc.tuple(fc.integer({ min: 0, max: lists.length - 1 }), fc.constantFrom("stateless", "indexed", "huffman-indexed"));
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
      const decoder = new HpackDecoder(4096, 1 << 20, Infinity, true);
      const encoder = hpackjs.compressor.create({ table: { size: 4096 } }); // one peer's encoder, its table kept in step
      for (const [i, kind] of steps) {
        const headers = lists[i]!;
        // encodeHeaderList writes literals without indexing: the encoder's table is untouched by them, as the decoder's must be.
        const block = kind === "stateless" ? encodeHeaderList(headers.flat()) : compress(encoder, headers, kind === "huffman-indexed");
        const got = decoder.decode(block);
        assert.deepEqual(pairs(got.headers), headers);
        const firstBad = got.headers.findIndex((v, j) => j % 2 === 1 && valueRule(v) !== undefined);
        assert.equal(got.badValueAt, firstBad < 0 ? -1 : firstBad - 1);
      }
    }), { numRuns: 300 });
  });

  it("keeps a Huffman literal and a raw literal of the same bytes apart (RFC 7541 5.2: the H bit changes the meaning)", () => {
    const d = new HpackDecoder(0);
    // 0x00 literal without indexing, new name; "a" raw is 0x61; Huffman 0x1f is also "a" but 0x61 Huffman is other text.
    const raw = Buffer.from([0x00, 0x01, 0x78, 0x01, 0x1f]);
    const huff = Buffer.from([0x00, 0x01, 0x78, 0x81, 0x1f]);
    assert.deepEqual(d.decode(raw).headers, ["x", "\x1f"]);
    assert.deepEqual(d.decode(huff).headers, ["x", "a"]);
    assert.deepEqual(d.decode(raw).headers, ["x", "\x1f"]);
  });

  it("applies table size updates, evicts the oldest entries, and limits updates to the advertised size", () => {
    const d = new HpackDecoder(4096);
    d.decode(Buffer.concat([Buffer.from([0x40]), strLit("aaaa"), strLit("1111")])); // 40 bytes
    d.decode(Buffer.concat([Buffer.from([0x40]), strLit("bbbb"), strLit("2222")]));
    assert.equal(d.dynamicCount, 2);
    // Shrink to 40: only the newest entry (bbbb) fits, and index 62 is bbbb.
    const r = d.decode(Buffer.from([0x3f, 0x09, 0xbe])); // size update 31+9=40, then index 62
    assert.deepEqual(r.headers, ["bbbb", "2222"]);
    assert.equal(r.sizeUpdateBytes, 2);
    assert.equal(d.dynamicCount, 1);
    assert.throws(() => d.decode(Buffer.from([0xbf])), /beyond the dynamic table/);
    d.setSettingsMax(0);
    assert.throws(() => d.decode(Buffer.from([0x3f, 0x09])), /exceeds the limit of 0/);
    assert.throws(() => new HpackDecoder().decode(Buffer.from([0x82, 0x20])), /size update after a header field/);
    assert.throws(() => new HpackDecoder().decode(Buffer.from([0x80])), /index 0/);
    assert.throws(() => new HpackDecoder().decode(Buffer.from([0x00, 0x05, 0x61])), /runs past/);
  });

  it("reads and writes multi-byte integers (RFC 7541 C.1)", () => {
    assert.deepEqual(readInt(Buffer.from([0x1f, 0x9a, 0x0a]), 0, 5), { value: 1337, next: 3 });
    assert.deepEqual(readInt(Buffer.from([0x0a]), 0, 5), { value: 10, next: 1 });
    const big = "v".repeat(70_000);
    assert.deepEqual(new HpackDecoder().decode(encodeLiteral("x-big", big)).headers, ["x-big", big]);
  });

  it("encodes header lists statelessly, with static name indices, and can leave headers out", () => {
    const list = [":status", "200", "content-type", "application/grpc", "x-pixell-hops", "2", "grpc-message", "100% ü"];
    const block = encodeHeaderList(list, new Set(["x-pixell-hops"]));
    const d = new HpackDecoder(0);
    const r = d.decode(block);
    assert.deepEqual(r.headers, [":status", "200", "content-type", "application/grpc", "grpc-message", "100% ü"]);
    assert.equal(d.dynamicCount, 0);
    // :status uses its static name index (8) instead of spelling the name.
    assert.equal(block[0], 0x08);
    assert.equal(STATIC_TABLE[7]![0], ":status");
  });
});

function strLit(s: string): Buffer {
  return Buffer.concat([Buffer.from([s.length]), Buffer.from(s, "latin1")]);
}

/**
 * The relay's HPACK tables (router/h2/hpack-data.ts) against RFC 7541 itself, not against another library:
 * the Huffman code's own properties from Appendix B and §5.2, and the encoded strings of Appendix C.
 */
import { strict as assert } from "node:assert";
import { HUFFMAN_CODE, STATIC_TABLE } from "../../router/h2/hpack-data";
import { huffmanDecode } from "../../router/h2/hpack";

/** Huffman-encodes latin1 text with the table, padding with the EOS prefix (ones) as RFC 7541 §5.2 says. */
function huffmanEncode(text: string): Buffer {
  let bits = "";
  for (const ch of Buffer.from(text, "latin1")) {
    const [len, code] = HUFFMAN_CODE[ch]!;
    bits += code.toString(2).padStart(len, "0");
  }
  bits = bits.padEnd(Math.ceil(bits.length / 8) * 8, "1");
  return Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
}

describe("relay HPACK data: RFC 7541's tables", () => {
  it("the static table is Appendix A: 61 entries, spot-checked at both ends and in the middle", () => {
    assert.equal(STATIC_TABLE.length, 61);
    assert.deepEqual(STATIC_TABLE[0], [":authority", ""]);
    assert.deepEqual(STATIC_TABLE[1], [":method", "GET"]);
    assert.deepEqual(STATIC_TABLE[7], [":status", "200"]);
    assert.deepEqual(STATIC_TABLE[15], ["accept-encoding", "gzip, deflate"]);
    assert.deepEqual(STATIC_TABLE[30], ["content-type", ""]);
    assert.deepEqual(STATIC_TABLE[60], ["www-authenticate", ""]);
  });

  it("the Huffman code is Appendix B's: 257 symbols, canonical, complete, lengths 5 to 30, EOS 30 ones", () => {
    assert.equal(HUFFMAN_CODE.length, 257);
    // Appendix B's code is canonical: ordered by (length, symbol), each code is the previous plus one,
    // shifted left when the length grows. Kraft's sum is exactly 1 (a complete prefix code).
    const order = HUFFMAN_CODE.map(([len, code], sym) => ({ len, code, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
    let expected = 0;
    let prevLen = order[0]!.len;
    let kraft = 0;
    for (const { len, code, sym } of order) {
      expected *= 2 ** (len - prevLen);
      prevLen = len;
      assert.equal(code, expected, `symbol ${sym}`);
      expected += 1;
      kraft += 2 ** -len;
    }
    assert.equal(kraft, 1);
    assert.equal(order[0]!.len, 5);
    assert.deepEqual(HUFFMAN_CODE[256], [30, 0x3fffffff]); // §5.2: EOS is 30 ones
    assert.deepEqual(HUFFMAN_CODE[48], [5, 0x0]); // '0' is 00000
    assert.deepEqual(HUFFMAN_CODE[97], [5, 0x3]); // 'a' is 00011
  });

  // RFC 7541 Appendix C.4 and C.6: the Huffman-encoded string literals of the examples.
  const examples: Array<[string, string]> = [
    ["www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"],
    ["no-cache", "a8eb 1064 9cbf"],
    ["custom-key", "25a8 49e9 5ba9 7d7f"],
    ["custom-value", "25a8 49e9 5bb8 e8b4 bf"],
    ["302", "6402"],
    ["private", "aec3 771a 4b"],
    ["Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"],
    ["https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"],
    ["gzip", "9bd9 ab"],
    ["foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1", "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07"],
  ];
  for (const [text, encoded] of examples) {
    it(`encodes and decodes ${JSON.stringify(text)} as Appendix C does`, () => {
      const wire = Buffer.from(encoded.replace(/\s+/g, ""), "hex");
      assert.equal(huffmanEncode(text).toString("hex"), wire.toString("hex"));
      assert.equal(huffmanDecode(wire, 0, wire.length), text);
    });
  }
});

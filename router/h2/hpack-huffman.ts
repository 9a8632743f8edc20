/**
 * HPACK's Huffman decoder (RFC 7541 section 5.2, code of Appendix B): a byte-at-a-time state machine
 * over the code tree, built once at load. A byte completes at most two symbols (the shortest code is
 * 5 bits), so each table entry holds the state reached and up to two symbols. The decoded bytes go to
 * one scratch buffer and leave it as a latin1 string, so a decode allocates only its result.
 */
import { HUFFMAN_CODE } from "./hpack-data";
import { HpackError } from "./hpack-error";

const EOS = 256;

// The code tree in flat arrays: node 0 is the root; child[2n + bit] is the next node, or ~symbol at a leaf.
const child = new Int32Array(2 * 512);
let nodes = 1;
for (let sym = 0; sym < HUFFMAN_CODE.length; sym++) {
  const [bits, code] = HUFFMAN_CODE[sym]!;
  let node = 0;
  for (let i = bits - 1; i >= 0; i--) {
    const slot = 2 * node + (Math.floor(code / 2 ** i) & 1); // codes reach 30 bits: no 32-bit shifts on sign
    if (i === 0) child[slot] = ~sym;
    else {
      if (child[slot] === 0) child[slot] = nodes++;
      node = child[slot]!;
    }
  }
}

/**
 * A string may end in this state: at a symbol boundary, or inside at most 7 bits that are all ones
 * (the EOS prefix as padding; longer padding or any other bits are a decoding error, section 5.2).
 */
const ACCEPTS = new Uint8Array(nodes);
{
  const depth = new Int8Array(nodes);
  const allOnes = new Uint8Array(nodes).fill(1);
  for (let n = 0; n < nodes; n++) {
    for (let bit = 0; bit < 2; bit++) {
      const c = child[2 * n + bit]!;
      if (c > 0) {
        depth[c] = depth[n]! + 1;
        allOnes[c] = allOnes[n]! & bit;
      }
    }
  }
  for (let n = 0; n < nodes; n++) ACCEPTS[n] = n === 0 || (allOnes[n] === 1 && depth[n]! <= 7) ? 1 : 0;
}

/** For (state << 8 | byte): the state reached. */
const NEXT = new Uint16Array(nodes * 256);
/** For (state << 8 | byte): 0 for no symbol, -1 when the byte completes EOS, else count | first << 2 | second << 11. */
const OUT = new Int32Array(nodes * 256);
for (let n = 0; n < nodes; n++) {
  for (let byte = 0; byte < 256; byte++) {
    let node = n;
    let count = 0;
    let first = 0;
    let second = 0;
    let eos = false;
    for (let b = 7; b >= 0; b--) {
      const next = child[2 * node + ((byte >> b) & 1)]!;
      if (next >= 0) {
        node = next;
        continue;
      }
      const sym = ~next;
      if (sym === EOS) eos = true;
      else if (count++ === 0) first = sym;
      else second = sym;
      node = 0;
    }
    NEXT[n * 256 + byte] = node;
    OUT[n * 256 + byte] = eos ? -1 : count === 0 ? 0 : count | (first << 2) | (second << 11);
  }
}

/** Decoded bytes are written here first; grown for a longer string (a decode yields at most 8/5 bytes per byte). */
let scratch = Buffer.allocUnsafeSlow(1024);

/** Decodes the Huffman string in buf[start, end) into a latin1 string. Throws HpackError on EOS or bad padding. */
export function huffmanDecode(buf: Buffer, start: number, end: number): string {
  const most = Math.ceil(((end - start) * 8) / 5);
  if (most > scratch.length) scratch = Buffer.allocUnsafeSlow(most);
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const k = (state << 8) | buf[i]!;
    const o = OUT[k]!;
    state = NEXT[k]!;
    if (o === 0) continue;
    if (o < 0) throw new HpackError("Huffman string contains EOS");
    out[n++] = (o >> 2) & 0x1ff;
    if ((o & 3) === 2) out[n++] = o >> 11;
  }
  if (ACCEPTS[state] !== 1) throw new HpackError("Huffman string has invalid padding");
  return out.toString("latin1", 0, n);
}

/**
 * A small per-decoder cache of decoded HPACK string literals. gRPC clients send the same names and
 * values on every call of a connection (:path, content-type, te, user-agent, x-deployment-id), and
 * the router advertises no dynamic table, so each call carries them again as literals. A direct-mapped
 * table keyed by the literal's raw bytes turns the repeated Huffman decode and string allocation into
 * a hash and a byte compare. It is per connection, so what one client sends never changes another
 * client's timing, and fixed in size, so a client sending new strings only costs itself a miss.
 * Each string's RFC 9113 8.2.1 value check is made once, when it is decoded, and remembered with it.
 */
import { valueRule } from "./field-rules";
import { huffmanDecode } from "./hpack-huffman";

/** Slots per connection (a power of two). */
const SLOTS = 64;
/** Longer literals are decoded every time (tokens, long paths): they rarely repeat cheaply enough. */
const MAX_KEY_BYTES = 48;

export class HpackStringCache {
  /** Raw literal bytes per slot. */
  private readonly keys = new Uint8Array(SLOTS * MAX_KEY_BYTES);
  /** Per slot: 2 × raw length + 1 when Huffman-coded; -1 when empty. */
  private readonly tags = new Int16Array(SLOTS).fill(-1);
  private readonly values: string[] = new Array<string>(SLOTS).fill("");
  /** Per slot: the string is a valid field value (RFC 9113 8.2.1), checked once when it was decoded. */
  private readonly valueOk = new Uint8Array(SLOTS);
  /** Whether the string the last get() returned is a valid field value. */
  lastValueOk = true;

  /** The string literal buf[start, end), Huffman-coded or not, decoded to latin1. */
  get(buf: Buffer, start: number, end: number, huffman: boolean): string {
    const len = end - start;
    if (len > MAX_KEY_BYTES || len === 0) {
      const value = decodeLiteral(buf, start, end, huffman);
      this.lastValueOk = valueRule(value) === undefined;
      return value;
    }
    // The slot from the length and three sampled bytes (the compare below checks every byte): hashing
    // every byte cost as much as the compare itself.
    let h = (huffman ? 0x100 : 0) | len | (buf[start]! << 9) | (buf[start + (len >> 1)]! << 17) | ((buf[end - 1]! & 0x7f) << 25);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b); // murmur3's finalizer: every input bit moves the slot
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    const slot = (h ^ (h >>> 16)) & (SLOTS - 1);
    const tag = 2 * len + (huffman ? 1 : 0);
    const keys = this.keys;
    const base = slot * MAX_KEY_BYTES;
    if (this.tags[slot] === tag) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (keys[base + i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.lastValueOk = this.valueOk[slot] === 1;
        return this.values[slot]!;
      }
    }
    const value = decodeLiteral(buf, start, end, huffman);
    // Only a literal that decoded (no HpackError) is remembered.
    for (let i = 0; i < len; i++) keys[base + i] = buf[start + i]!;
    const ok = valueRule(value) === undefined;
    this.tags[slot] = tag;
    this.values[slot] = value;
    this.valueOk[slot] = ok ? 1 : 0;
    this.lastValueOk = ok;
    return value;
  }
}

function decodeLiteral(buf: Buffer, start: number, end: number, huffman: boolean): string {
  return huffman ? huffmanDecode(buf, start, end) : buf.toString("latin1", start, end);
}

/**
 * HPACK (RFC 7541) for the relay: a complete synchronous decoder (integers, strings,
 * Huffman, static and dynamic tables, table size updates) and a minimal encoder
 * (literals without indexing, no Huffman) for the few blocks the relay must rewrite.
 * Names and values are latin1 strings so any byte survives a decode/encode round trip.
 */
import { HUFFMAN_CODE as HUFFMAN_CODES, STATIC_TABLE as STATIC_ENTRIES } from "./hpack-data";

export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HpackError";
  }
}

/** A decoded header list: names and values alternate (name0, value0, name1, value1, ...). */
export type HeaderList = string[];

const STATIC_COUNT = STATIC_ENTRIES.length; // 61
const STATIC_NAMES = STATIC_ENTRIES.map((e) => e[0]);
const STATIC_VALUES = STATIC_ENTRIES.map((e) => e[1]);
/** First static index for each name, for the encoder. */
const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_NAMES.forEach((n, i) => { if (!STATIC_NAME_INDEX.has(n)) STATIC_NAME_INDEX.set(n, i + 1); });

// ---- Huffman: a binary tree in flat arrays, built once. Node 0 is the root;
// child[2n + bit] is the next node, or ~symbol (negative) at a leaf.
const huffChild = new Int32Array(2 * 512).fill(0);
let huffNodes = 1;
for (let sym = 0; sym < HUFFMAN_CODES.length; sym++) {
  const [bits, code] = HUFFMAN_CODES[sym]!;
  let node = 0;
  for (let i = bits - 1; i >= 0; i--) {
    const bit = Math.floor(code / 2 ** i) & 1; // codes reach 30 bits: avoid 32-bit shifts on sign
    const slot = 2 * node + bit;
    if (i === 0) {
      huffChild[slot] = ~sym;
    } else {
      if (huffChild[slot] === 0) huffChild[slot] = huffNodes++;
      node = huffChild[slot]!;
    }
  }
}
const EOS = 256;

// A 4-bit state machine over the tree, built once: for each node and nibble, the node reached and the
// symbol completed on the way (a nibble completes at most one: the shortest code is 5 bits).
const nodeDepth = new Int8Array(huffNodes);
const nodeAllOnes = new Uint8Array(huffNodes).fill(1);
for (let n = 0; n < huffNodes; n++) {
  for (let bit = 0; bit < 2; bit++) {
    const c = huffChild[2 * n + bit]!;
    if (c > 0) {
      nodeDepth[c] = nodeDepth[n]! + 1;
      nodeAllOnes[c] = nodeAllOnes[n]! & bit;
    }
  }
}
const NIB_NEXT = new Int16Array(huffNodes * 16);
/** Symbol completed by the nibble, -1 for none, EOS (256) for an invalid string. */
const NIB_SYM = new Int16Array(huffNodes * 16).fill(-1);
for (let n = 0; n < huffNodes; n++) {
  for (let nib = 0; nib < 16; nib++) {
    let node = n;
    for (let b = 3; b >= 0; b--) {
      const next = huffChild[2 * node + ((nib >> b) & 1)]!;
      if (next < 0) {
        NIB_SYM[n * 16 + nib] = ~next === EOS ? EOS : ~next;
        node = 0;
      } else {
        node = next;
      }
    }
    NIB_NEXT[n * 16 + nib] = node;
  }
}
/** A string may end in this state: at a symbol boundary, or inside fewer than 8 bits of ones (padding). */
const ACCEPTS = new Uint8Array(huffNodes);
for (let n = 0; n < huffNodes; n++) ACCEPTS[n] = n === 0 || (nodeAllOnes[n] === 1 && nodeDepth[n]! <= 7) ? 1 : 0;

/** Decodes a Huffman string (RFC 7541 section 5.2) into a latin1 string. */
export function huffmanDecode(buf: Buffer, start: number, end: number): string {
  const out = Buffer.allocUnsafe((end - start) * 2);
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    let k = state * 16 + (byte >> 4);
    let sym = NIB_SYM[k]!;
    state = NIB_NEXT[k]!;
    if (sym >= 0) {
      if (sym === EOS) throw new HpackError("Huffman string contains EOS");
      out[n++] = sym;
    }
    k = state * 16 + (byte & 15);
    sym = NIB_SYM[k]!;
    state = NIB_NEXT[k]!;
    if (sym >= 0) {
      if (sym === EOS) throw new HpackError("Huffman string contains EOS");
      out[n++] = sym;
    }
  }
  if (ACCEPTS[state] !== 1) throw new HpackError("Huffman string has invalid padding");
  return out.toString("latin1", 0, n);
}

export interface DecodeResult {
  readonly headers: HeaderList;
  /** The block referenced entries of the dynamic table (it cannot be forwarded verbatim). */
  readonly usedDynamic: boolean;
  /** Bytes of table size updates at the start of the block (dropped when forwarding). */
  readonly sizeUpdateBytes: number;
  /**
   * The decoded list crossed the decoder's limit (RFC 9113 section 6.5.2 size): `headers` ends with the
   * field that crossed it, the rest of the block was only parsed to keep the dynamic table in sync.
   */
  readonly overLimit: boolean;
}

/** An HPACK decoder for one direction of one connection. */
export class HpackDecoder {
  /** Dynamic table, newest first. */
  private names: string[] = [];
  private values: string[] = [];
  private size = 0;
  private maxSize: number;

  /**
   * `settingsMax`: the SETTINGS_HEADER_TABLE_SIZE the peer may use (what we advertised, or 4096 before it applied ours).
   * `maxListBytes`: the decoded header list size (name + value + 32 per field) past which fields are no longer built.
   */
  constructor(private settingsMax = 4096, private readonly maxStringBytes = 1 << 20, private readonly maxListBytes = Infinity) {
    this.maxSize = settingsMax;
  }

  get dynamicSize(): number {
    return this.size;
  }
  get dynamicCount(): number {
    return this.names.length;
  }

  /**
   * Decodes one complete header block. Throws HpackError on any malformed input (a COMPRESSION_ERROR).
   * Past `maxListBytes` of decoded fields no more are built (an HPACK bomb costs what its bytes cost), but
   * the block is still parsed to its end and its table insertions made, so the connection's compression
   * state stays right and only the stream is refused (RFC 7541 section 4, RFC 9113 sections 4.3 and 10.5.1).
   */
  decode(block: Buffer): DecodeResult {
    const headers: HeaderList = [];
    let usedDynamic = false;
    let sizeUpdateBytes = 0;
    let listBytes = 0;
    let overLimit = false;
    let i = 0;
    const end = block.length;
    let sawHeader = false;
    while (i < end) {
      const b = block[i]!;
      if (b & 0x80) {
        // Indexed header field.
        const r = readInt(block, i, 7);
        i = r.next;
        const idx = r.value;
        if (idx === 0) throw new HpackError("indexed header field with index 0");
        if (idx > STATIC_COUNT) usedDynamic = true;
        const name = this.nameAt(idx);
        sawHeader = true;
        if (overLimit) continue;
        const value = this.valueAt(idx);
        headers.push(name, value);
        listBytes += name.length + value.length + 32;
        if (listBytes > this.maxListBytes) overLimit = true;
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update: only at the start of a block.
        if (sawHeader) throw new HpackError("dynamic table size update after a header field");
        const r = readInt(block, i, 5);
        i = r.next;
        if (r.value > this.settingsMax) throw new HpackError(`table size update to ${r.value} exceeds the limit of ${this.settingsMax}`);
        this.maxSize = r.value;
        this.evict(0);
        sizeUpdateBytes = i;
      } else {
        // Literal: with incremental indexing (01), without indexing (0000) or never indexed (0001).
        const indexing = (b & 0xc0) === 0x40;
        const r = readInt(block, i, indexing ? 6 : 4);
        i = r.next;
        sawHeader = true;
        if (overLimit && !indexing) {
          // Nothing to build and nothing for the table: only find where the field ends.
          if (r.value === 0) i = this.skipString(block, i);
          else this.nameAt(r.value);
          i = this.skipString(block, i);
          continue;
        }
        let name: string;
        if (r.value === 0) {
          const s = this.readString(block, i);
          name = s.value;
          i = s.next;
        } else {
          if (r.value > STATIC_COUNT) usedDynamic = true;
          name = this.nameAt(r.value);
        }
        const v = this.readString(block, i);
        i = v.next;
        if (indexing) this.insert(name, v.value);
        if (overLimit) continue;
        headers.push(name, v.value);
        listBytes += name.length + v.value.length + 32;
        if (listBytes > this.maxListBytes) overLimit = true;
      }
    }
    return { headers, usedDynamic, sizeUpdateBytes, overLimit };
  }

  /** The peer acknowledged our SETTINGS_HEADER_TABLE_SIZE: it may no longer use a larger table. */
  setSettingsMax(max: number): void {
    this.settingsMax = max;
  }

  private nameAt(idx: number): string {
    if (idx <= STATIC_COUNT) return STATIC_NAMES[idx - 1]!;
    const name = this.names[idx - STATIC_COUNT - 1];
    if (name === undefined) throw new HpackError(`header index ${idx} is beyond the dynamic table (${this.names.length} entries)`);
    return name;
  }
  private valueAt(idx: number): string {
    if (idx <= STATIC_COUNT) return STATIC_VALUES[idx - 1]!;
    return this.values[idx - STATIC_COUNT - 1]!;
  }

  private readString(buf: Buffer, i: number): { value: string; next: number } {
    if (i >= buf.length) throw new HpackError("header block ends inside a string");
    const huffman = (buf[i]! & 0x80) !== 0;
    const r = readInt(buf, i, 7);
    const start = r.next;
    const stop = start + r.value;
    if (r.value > this.maxStringBytes) throw new HpackError(`string of ${r.value} bytes exceeds the limit`);
    if (stop > buf.length) throw new HpackError("string length runs past the header block");
    return { value: huffman ? huffmanDecode(buf, start, stop) : buf.toString("latin1", start, stop), next: stop };
  }

  /** Where a string that is not needed ends (its bytes are not decoded). */
  private skipString(buf: Buffer, i: number): number {
    if (i >= buf.length) throw new HpackError("header block ends inside a string");
    const r = readInt(buf, i, 7);
    const stop = r.next + r.value;
    if (stop > buf.length) throw new HpackError("string length runs past the header block");
    return stop;
  }

  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + 32;
    if (entrySize > this.maxSize) {
      // An entry larger than the table empties it (RFC 7541 section 4.4).
      this.names = [];
      this.values = [];
      this.size = 0;
      return;
    }
    this.evict(entrySize);
    this.names.unshift(name);
    this.values.unshift(value);
    this.size += entrySize;
  }

  private evict(room: number): void {
    while (this.size + room > this.maxSize && this.names.length > 0) {
      const name = this.names.pop()!;
      const value = this.values.pop()!;
      this.size -= name.length + value.length + 32;
    }
  }
}

/** Reads an HPACK integer with an N-bit prefix (RFC 7541 section 5.1). */
export function readInt(buf: Buffer, i: number, prefixBits: number): { value: number; next: number } {
  const max = (1 << prefixBits) - 1;
  let value = buf[i]! & max;
  i++;
  if (value < max) return { value, next: i };
  let shift = 0;
  for (;;) {
    if (i >= buf.length) throw new HpackError("header block ends inside an integer");
    const b = buf[i++]!;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) break;
    if (shift > 28) throw new HpackError("integer too large");
  }
  return { value, next: i };
}

/** Writes an HPACK integer; `first` holds the representation's pattern bits above the prefix. */
function writeInt(out: number[], value: number, prefixBits: number, first: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  value -= max;
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function writeString(out: number[], s: string): void {
  writeInt(out, s.length, 7, 0);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
}

/** One literal-without-indexing representation (static name index where there is one), no Huffman. */
export function encodeLiteral(name: string, value: string): Buffer {
  const out: number[] = [];
  pushLiteral(out, name, value);
  return Buffer.from(out);
}

function pushLiteral(out: number[], name: string, value: string): void {
  const idx = STATIC_NAME_INDEX.get(name);
  if (idx !== undefined) {
    writeInt(out, idx, 4, 0x00);
  } else {
    out.push(0x00);
    writeString(out, name);
  }
  writeString(out, value);
}

/** Encodes a header list statelessly; `skip` names a header to leave out. */
export function encodeHeaderList(headers: HeaderList, skip?: ReadonlySet<string>): Buffer {
  const out: number[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (skip?.has(headers[i]!)) continue;
    pushLiteral(out, headers[i]!, headers[i + 1]!);
  }
  return Buffer.from(out);
}


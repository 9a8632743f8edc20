/**
 * HPACK (RFC 7541) for the relay: a complete synchronous decoder (integers, strings,
 * Huffman, static and dynamic tables, table size updates) and a minimal encoder
 * (literals without indexing, no Huffman) for the few blocks the relay must rewrite.
 * Names and values are latin1 strings so any byte survives a decode/encode round trip.
 */
import { STATIC_TABLE as STATIC_ENTRIES } from "./hpack-data";
import { valueRule } from "./field-rules";
import type { HeaderList } from "./header-list";
import { HpackError } from "./hpack-error";
import { HpackStringCache } from "./hpack-strings";

export { HpackError } from "./hpack-error";
export { huffmanDecode } from "./hpack-huffman";

export type { HeaderList } from "./header-list";

const STATIC_COUNT = STATIC_ENTRIES.length; // 61
const STATIC_NAMES = STATIC_ENTRIES.map((e) => e[0]);
const STATIC_VALUES = STATIC_ENTRIES.map((e) => e[1]);
/** First static index for each name, for the encoder. */
const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_NAMES.forEach((n, i) => { if (!STATIC_NAME_INDEX.has(n)) STATIC_NAME_INDEX.set(n, i + 1); });

export interface DecodeResult {
  /** Read-only: a repeated block's result is shared (HpackDecoder.decode). */
  readonly headers: Readonly<HeaderList>;
  /** The block referenced entries of the dynamic table (it cannot be forwarded verbatim). */
  readonly usedDynamic: boolean;
  /** Bytes of table size updates at the start of the block (dropped when forwarding). */
  readonly sizeUpdateBytes: number;
  /**
   * The decoded list crossed the decoder's limit (RFC 9113 section 6.5.2 size): `headers` ends with the
   * field that crossed it, the rest of the block was only parsed to keep the dynamic table in sync.
   */
  readonly overLimit: boolean;
  /**
   * Index in `headers` of the first name whose value breaks RFC 9113 8.2.1 (NUL, CR, LF, or whitespace
   * at either end), or -1: the check is made as each string is decoded, once per distinct string.
   */
  readonly badValueAt: number;
}

/** An HPACK decoder for one direction of one connection. */
export class HpackDecoder {
  /** Dynamic table, newest first. */
  private names: string[] = [];
  private values: string[] = [];
  private size = 0;
  private maxSize: number;
  /** Where decode() is in the current block. */
  private pos = 0;
  private readonly strings = new HpackStringCache();
  /**
   * With `remembers`: the last two distinct blocks that neither read nor changed the dynamic table, newest
   * first, and their results. Such a block decodes the same whatever the table holds, and an agent answers
   * call after call with the same blocks (the router advertises no table, so the same fields come as the
   * same literals each time): two, so its response headers and trailers, which alternate, both stay.
   * Copied out of the socket read.
   */
  private memoBlock0: Buffer | undefined;
  private memoResult0: DecodeResult | undefined;
  private memoBlock1: Buffer | undefined;
  private memoResult1: DecodeResult | undefined;

  /**
   * `settingsMax`: the SETTINGS_HEADER_TABLE_SIZE the peer may use (what we advertised, or 4096 before it applied ours).
   * `maxListBytes`: the decoded header list size (name + value + 32 per field) past which fields are no longer built.
   * `remembers`: keep the last two stateless blocks and their results (for a peer that repeats its blocks).
   */
  constructor(private settingsMax = 4096, private readonly maxStringBytes = 1 << 20, private readonly maxListBytes = Infinity, private readonly remembers = false) {
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
    const m0 = this.memoBlock0;
    if (m0 !== undefined && m0.length === block.length && m0.equals(block)) return this.memoResult0!;
    const m1 = this.memoBlock1;
    if (m1 !== undefined && m1.length === block.length && m1.equals(block)) return this.memoResult1!;
    const headers: HeaderList = [];
    let usedDynamic = false;
    let changedTable = false;
    let sizeUpdateBytes = 0;
    let listBytes = 0;
    let overLimit = false;
    const end = block.length;
    let sawHeader = false;
    let badValueAt = -1;
    this.pos = 0;
    while (this.pos < end) {
      const b = block[this.pos]!;
      if (b & 0x80) {
        // Indexed header field.
        const idx = this.int(block, 7);
        if (idx === 0) throw new HpackError("indexed header field with index 0");
        if (idx > STATIC_COUNT) usedDynamic = true;
        const name = this.nameAt(idx);
        sawHeader = true;
        if (overLimit) continue;
        const value = this.valueAt(idx);
        // Static values are clean; a dynamic entry's value is checked again (the router advertises no table).
        if (badValueAt < 0 && idx > STATIC_COUNT && valueRule(value) !== undefined) badValueAt = headers.length;
        headers.push(name, value);
        listBytes += name.length + value.length + 32;
        if (listBytes > this.maxListBytes) overLimit = true;
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update: only at the start of a block.
        if (sawHeader) throw new HpackError("dynamic table size update after a header field");
        const size = this.int(block, 5);
        if (size > this.settingsMax) throw new HpackError(`table size update to ${size} exceeds the limit of ${this.settingsMax}`);
        this.maxSize = size;
        this.evict(0);
        sizeUpdateBytes = this.pos;
        changedTable = true;
      } else {
        // Literal: with incremental indexing (01), without indexing (0000) or never indexed (0001).
        const indexing = (b & 0xc0) === 0x40;
        if (indexing) changedTable = true;
        const nameIdx = this.int(block, indexing ? 6 : 4);
        sawHeader = true;
        if (overLimit && !indexing) {
          // Nothing to build and nothing for the table: only find where the field ends.
          if (nameIdx === 0) this.skipString(block);
          else this.nameAt(nameIdx);
          this.skipString(block);
          continue;
        }
        let name: string;
        if (nameIdx === 0) name = this.string(block);
        else {
          if (nameIdx > STATIC_COUNT) usedDynamic = true;
          name = this.nameAt(nameIdx);
        }
        const value = this.string(block);
        if (indexing) this.insert(name, value);
        if (overLimit) continue;
        if (badValueAt < 0 && !this.strings.lastValueOk) badValueAt = headers.length;
        headers.push(name, value);
        listBytes += name.length + value.length + 32;
        if (listBytes > this.maxListBytes) overLimit = true;
      }
    }
    const result: DecodeResult = { headers, usedDynamic, sizeUpdateBytes, overLimit, badValueAt };
    if (this.remembers && !usedDynamic && !changedTable && block.length <= MEMO_MAX_BLOCK_BYTES) {
      this.memoBlock1 = this.memoBlock0;
      this.memoResult1 = this.memoResult0;
      this.memoBlock0 = Buffer.from(block);
      this.memoResult0 = result;
    }
    return result;
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

  /** Reads the integer at the cursor with an N-bit prefix (RFC 7541 section 5.1) and moves past it. */
  private int(buf: Buffer, prefixBits: number): number {
    const value = decodeInt(buf, this.pos, prefixBits);
    this.pos = intEnd;
    return value;
  }

  /** Reads the string literal at the cursor (RFC 7541 section 5.2) and moves past it. */
  private string(buf: Buffer): string {
    if (this.pos >= buf.length) throw new HpackError("header block ends inside a string");
    const huffman = (buf[this.pos]! & 0x80) !== 0;
    const length = this.int(buf, 7);
    const start = this.pos;
    const stop = start + length;
    if (length > this.maxStringBytes) throw new HpackError(`string of ${length} bytes exceeds the limit`);
    if (stop > buf.length) throw new HpackError("string length runs past the header block");
    this.pos = stop;
    return this.strings.get(buf, start, stop, huffman);
  }

  /** Moves past a string that is not needed (its bytes are not decoded). */
  private skipString(buf: Buffer): void {
    if (this.pos >= buf.length) throw new HpackError("header block ends inside a string");
    const length = this.int(buf, 7); // moves the cursor past the length: the string starts after it
    const stop = this.pos + length;
    if (stop > buf.length) throw new HpackError("string length runs past the header block");
    this.pos = stop;
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

/** Longer blocks (large tokens, many fields) are not kept for the repeated-block check. */
const MEMO_MAX_BLOCK_BYTES = 1024;

/** Where the integer decodeInt() last read ends (no result object on the decoder's per-field path). */
let intEnd = 0;

/** Decodes the HPACK integer at buf[i] with an N-bit prefix (RFC 7541 section 5.1); its end is left in intEnd. */
function decodeInt(buf: Buffer, i: number, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  let value = buf[i++]! & max;
  if (value === max) {
    let shift = 0;
    for (;;) {
      if (i >= buf.length) throw new HpackError("header block ends inside an integer");
      const b = buf[i++]!;
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
      if (shift > 28) throw new HpackError("integer too large");
    }
  }
  intEnd = i;
  return value;
}

/** Reads an HPACK integer with an N-bit prefix (RFC 7541 section 5.1). */
export function readInt(buf: Buffer, i: number, prefixBits: number): { value: number; next: number } {
  const value = decodeInt(buf, i, prefixBits);
  return { value, next: intEnd };
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
export function encodeHeaderList(headers: Readonly<HeaderList>, skip?: ReadonlySet<string>): Buffer {
  const out: number[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (skip?.has(headers[i]!)) continue;
    pushLiteral(out, headers[i]!, headers[i + 1]!);
  }
  return Buffer.from(out);
}


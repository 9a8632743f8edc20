/**
 * HTTP/2 framing (RFC 9113 section 4): the 9-byte frame header and an incremental reader
 * that cuts a TCP byte stream into frames without copying when a frame is contiguous.
 */

export const FRAME_HEADER_SIZE = 9;
/** The client connection preface (RFC 9113 section 3.4). */
export const CLIENT_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** HTTP/2 error codes (RFC 9113 section 7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_WINDOW = 2 ** 31 - 1;

/** Writes a frame header into `out` at `offset`. */
export function writeFrameHeader(out: Buffer, offset: number, length: number, type: number, flags: number, streamId: number): void {
  out[offset] = (length >>> 16) & 0xff;
  out[offset + 1] = (length >>> 8) & 0xff;
  out[offset + 2] = length & 0xff;
  out[offset + 3] = type;
  out[offset + 4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, offset + 5);
}

/** A whole frame: header and payload in one buffer. */
export function buildFrame(type: number, flags: number, streamId: number, payload?: Buffer): Buffer {
  const len = payload === undefined ? 0 : payload.length;
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + len);
  writeFrameHeader(out, 0, len, type, flags, streamId);
  if (payload !== undefined) payload.copy(out, FRAME_HEADER_SIZE);
  return out;
}

export function buildSettings(settings: ReadonlyArray<readonly [number, number]>): Buffer {
  const payload = Buffer.allocUnsafe(settings.length * 6);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return buildFrame(FrameType.SETTINGS, 0, 0, payload);
}

export const SETTINGS_ACK = buildFrame(FrameType.SETTINGS, Flag.ACK, 0);

export function buildWindowUpdate(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  writeFrameHeader(out, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  out.writeUInt32BE(increment, 9);
  return out;
}

export function buildRstStream(streamId: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  writeFrameHeader(out, 0, 4, FrameType.RST_STREAM, 0, streamId);
  out.writeUInt32BE(code, 9);
  return out;
}

export function buildGoaway(lastStreamId: number, code: number, debug = ""): Buffer {
  const dbg = Buffer.from(debug, "utf8");
  const payload = Buffer.allocUnsafe(8 + dbg.length);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(code, 4);
  dbg.copy(payload, 8);
  return buildFrame(FrameType.GOAWAY, 0, 0, payload);
}

/** Parses a SETTINGS payload into [id, value] pairs; throws on a length that is not a multiple of 6. */
export function parseSettings(payload: Buffer): Array<[number, number]> {
  if (payload.length % 6 !== 0) throw new Error(`SETTINGS payload of ${payload.length} bytes is not a multiple of 6`);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < payload.length; i += 6) out.push([payload.readUInt16BE(i), payload.readUInt32BE(i + 2)]);
  return out;
}

/** Receives frames: `payload` is a view into the socket's buffer, valid until the handler returns unless copied. */
export type FrameHandler = (type: number, flags: number, streamId: number, payload: Buffer) => void;

/**
 * Cuts a byte stream into frames. Frames that lie whole inside one chunk are passed as
 * subarrays of it; only a frame split across chunks is copied (once) into its own buffer, and the
 * rest of the chunk that completed it is read in place again.
 */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Set to stop delivering frames (the connection is closing). */
  stopped = false;

  constructor(
    /** Largest frame payload accepted; bigger is a FRAME_SIZE_ERROR. */
    public maxFrameSize: number,
    private readonly onFrame: FrameHandler,
    private readonly onOversize: (length: number) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.stopped) return;
    let buf = chunk;
    if (this.pendingBytes > 0) {
      // A frame began in an earlier chunk: copy just that frame together, then read the rest of this chunk in place.
      const before = this.pendingBytes;
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < FRAME_HEADER_SIZE) return;
      const first = this.pending[0]!;
      const head = first.length >= FRAME_HEADER_SIZE ? first : Buffer.concat(this.pending, this.pendingBytes);
      const length = (head[0]! << 16) | (head[1]! << 8) | head[2]!;
      if (length > this.maxFrameSize) {
        this.stopped = true;
        this.pending = [];
        this.pendingBytes = 0;
        this.onOversize(length);
        return;
      }
      const need = FRAME_HEADER_SIZE + length;
      if (this.pendingBytes < need) return;
      const frame = Buffer.allocUnsafe(need);
      let at = 0;
      for (let i = 0; i < this.pending.length - 1; i++) at += this.pending[i]!.copy(frame, at);
      chunk.copy(frame, at, 0, need - before);
      this.pending = [];
      this.pendingBytes = 0;
      this.deliver(frame, 0, need);
      buf = chunk.subarray(need - before);
    }
    let off = 0;
    const end = buf.length;
    while (!this.stopped && end - off >= FRAME_HEADER_SIZE) {
      const length = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (length > this.maxFrameSize) {
        this.stopped = true;
        this.onOversize(length);
        return;
      }
      const frameEnd = off + FRAME_HEADER_SIZE + length;
      if (frameEnd > end) break;
      this.deliver(buf, off, frameEnd);
      off = frameEnd;
    }
    if (off < end && !this.stopped) {
      this.pending.push(off === 0 ? buf : buf.subarray(off));
      this.pendingBytes = end - off;
    }
  }

  /** Passes the whole frame buf[off, frameEnd) to the handler, its payload as a view. */
  private deliver(buf: Buffer, off: number, frameEnd: number): void {
    const type = buf[off + 3]!;
    const flags = buf[off + 4]!;
    const streamId = ((buf[off + 5]! & 0x7f) << 24 | (buf[off + 6]! << 16) | (buf[off + 7]! << 8) | buf[off + 8]!) >>> 0;
    this.onFrame(type, flags, streamId, buf.subarray(off + FRAME_HEADER_SIZE, frameEnd));
  }
}

/**
 * What both ends of the relay share: one HTTP/2 connection over a raw socket. Frame
 * reading, SETTINGS/PING/WINDOW_UPDATE bookkeeping, header-block assembly (HEADERS +
 * CONTINUATION, bounded), batched writes and connection-level flow control.
 * Stream semantics live in the subclasses (client side in relay.ts, agent side in upstream.ts).
 */
import type * as net from "node:net";
import {
  buildFrame, buildGoaway, buildRstStream, buildSettings, buildWindowUpdate, DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW,
  ErrorCode, Flag, FRAME_HEADER_SIZE, FrameReader, FrameType, MAX_WINDOW, parseSettings, Setting, SETTINGS_ACK, writeFrameHeader,
} from "./frames";
import { HpackDecoder, HpackError } from "./hpack";

export interface WindowOptions {
  /** Per-stream receive window the router advertises: bounds what one stream can make it buffer. */
  readonly streamWindowBytes: number;
  /** Connection receive window the router advertises. */
  readonly connectionWindowBytes: number;
  /** A header block (HEADERS + CONTINUATION) larger than this is refused for its stream. */
  readonly maxHeaderBlockBytes: number;
}

export const DEFAULT_WINDOWS: WindowOptions = { streamWindowBytes: 1 << 20, connectionWindowBytes: 16 << 20, maxHeaderBlockBytes: 64 << 10 };
/** Above this many bytes waiting in a socket's write buffer, no more DATA is queued to it until it drains. */
const WRITE_HIGH_WATER = 1 << 20;
/** A peer that leaves this much unread (control frames keep coming, e.g. a PING flood) is disconnected. */
const WRITE_HARD_LIMIT = 64 << 20;
/** Past this the connection is closed: decoding it would only waste memory. */
const HARD_HEADER_BLOCK_LIMIT = 1 << 20;

/** Error that ends a whole connection with GOAWAY. */
export class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = "ConnectionError";
  }
}

// Writes issued while handling one socket read are corked and flushed together (one writev).
const corked: H2Conn[] = [];
let flushScheduled = false;
function flushCorked(): void {
  flushScheduled = false;
  for (let i = 0; i < corked.length; i++) {
    const c = corked[i]!;
    c.corked = false;
    c.socket.uncork();
  }
  corked.length = 0;
}

export abstract class H2Conn {
  readonly reader: FrameReader;
  /** Decodes the peer's header blocks; we advertise a table size of 0, so after the SETTINGS ACK blocks are stateless. */
  readonly decoder = new HpackDecoder(4096);
  corked = false;
  closed = false;
  /** Peer's settings that govern what we send. */
  peerInitialWindow = DEFAULT_WINDOW;
  peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  peerMaxConcurrentStreams = Infinity;
  /** Connection-level credit the peer gave us. */
  sendWindow = DEFAULT_WINDOW;
  /** Bytes received and passed on but not yet credited back at connection level. */
  private recvUnacked = 0;
  /** What the peer may still send at connection level: more is a FLOW_CONTROL_ERROR (it bounds our buffering). */
  private recvWindow: number;
  private sawSettings = false;
  // Header block being assembled from HEADERS + CONTINUATION.
  private hbStream = 0;
  private hbFlags = 0;
  private hbChunks: Buffer[] = [];
  private hbBytes = 0;

  constructor(readonly socket: net.Socket, readonly windows: WindowOptions) {
    this.recvWindow = Math.max(windows.connectionWindowBytes, DEFAULT_WINDOW);
    // Streams that waited for the socket to drain continue as for a connection WINDOW_UPDATE.
    socket.on("drain", () => { if (!this.closed) this.onConnectionWindow(); });
    this.reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE, (t, f, s, p) => this.onFrame(t, f, s, p), (len) => {
      this.goaway(ErrorCode.FRAME_SIZE_ERROR, `frame of ${len} bytes exceeds the maximum frame size of ${DEFAULT_MAX_FRAME_SIZE}`);
    });
  }

  /** Our SETTINGS, then a connection WINDOW_UPDATE up to the configured window. */
  protected initialFrames(): Buffer[] {
    const out = [buildSettings([
      [Setting.HEADER_TABLE_SIZE, 0],
      [Setting.MAX_CONCURRENT_STREAMS, 10_000],
      [Setting.INITIAL_WINDOW_SIZE, this.windows.streamWindowBytes],
      ...(this.isClientRole() ? [[Setting.ENABLE_PUSH, 0] as const] : []),
    ])];
    const extra = this.windows.connectionWindowBytes - DEFAULT_WINDOW;
    if (extra > 0) out.push(buildWindowUpdate(0, extra));
    return out;
  }

  protected abstract isClientRole(): boolean;
  /** A complete header block for a stream (CONTINUATIONs assembled, padding and priority removed). */
  protected abstract onHeaderBlock(streamId: number, block: Buffer, endStream: boolean, tooLarge: boolean): void;
  protected abstract onData(streamId: number, payload: Buffer, flowBytes: number, endStream: boolean): void;
  protected abstract onRstStream(streamId: number, code: number): void;
  protected abstract onStreamWindowUpdate(streamId: number, increment: number): void;
  /** The peer gave connection-level credit: resume streams that waited for it. */
  protected abstract onConnectionWindow(): void;
  protected abstract onInitialWindowChange(delta: number): void;
  protected abstract onGoaway(lastStreamId: number, code: number, debug: string): void;
  protected abstract onPushPromise(): void;
  /** The peer acknowledged our SETTINGS. */
  protected onSettingsAck(): void {
    this.decoder.setSettingsMax(0);
  }

  /** The peer reads slower than we write: DATA waits (TCP backpressure on top of HTTP/2 flow control). */
  get congested(): boolean {
    return this.socket.writableLength > WRITE_HIGH_WATER;
  }

  write(buf: Buffer): void {
    if (this.closed) return;
    if (this.socket.writableLength > WRITE_HARD_LIMIT) {
      this.closed = true;
      this.reader.stopped = true;
      this.socket.destroy();
      this.onClosed(new Error(`peer stopped reading with ${this.socket.writableLength} bytes unsent`));
      return;
    }
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      corked.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        process.nextTick(flushCorked);
      }
    }
    this.socket.write(buf);
  }

  /** Sends DATA: a fresh 9-byte header and the payload slice as it is. */
  writeData(streamId: number, payload: Buffer, endStream: boolean): void {
    const head = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
    writeFrameHeader(head, 0, payload.length, FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId);
    this.write(head);
    if (payload.length > 0) this.write(payload);
    this.sendWindow -= payload.length;
  }

  /** Sends a header block, split into HEADERS + CONTINUATION when it exceeds the peer's frame size. */
  writeHeaderBlock(streamId: number, block: Buffer, endStream: boolean, extra?: Buffer): void {
    const total = block.length + (extra === undefined ? 0 : extra.length);
    const max = this.peerMaxFrameSize;
    const es = endStream ? Flag.END_STREAM : 0;
    if (total <= max) {
      const head = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
      writeFrameHeader(head, 0, total, FrameType.HEADERS, es | Flag.END_HEADERS, streamId);
      this.write(head);
      this.write(block);
      if (extra !== undefined) this.write(extra);
      return;
    }
    const all = extra === undefined ? block : Buffer.concat([block, extra]);
    for (let off = 0; off < all.length; off += max) {
      const piece = all.subarray(off, Math.min(all.length, off + max));
      const last = off + max >= all.length;
      const type = off === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (off === 0 ? es : 0) | (last ? Flag.END_HEADERS : 0);
      this.write(buildFrame(type, flags, streamId, piece));
    }
  }

  writeRst(streamId: number, code: number): void {
    this.write(buildRstStream(streamId, code));
  }

  /** Credits `bytes` back at connection level once they left the router, in batches. */
  creditConnection(bytes: number): void {
    this.recvUnacked += bytes;
    if (this.recvUnacked >= this.windows.connectionWindowBytes >>> 2) {
      this.write(buildWindowUpdate(0, this.recvUnacked));
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
  }

  /** Ends the connection with GOAWAY and closes the socket. */
  goaway(code: number, reason: string, lastStreamId = 0): void {
    if (this.closed) return;
    this.write(buildGoaway(lastStreamId, code, reason.slice(0, 200)));
    this.closed = true;
    this.reader.stopped = true;
    this.socket.end();
    // A peer that never reads must not keep the socket open.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onClosed(new Error(`connection closed: ${reason}`));
  }

  /** Called once when the connection ends for any reason. */
  protected abstract onClosed(err: Error): void;

  protected handleChunk(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (err) {
      if (err instanceof ConnectionError) return this.goaway(err.code, err.message);
      if (err instanceof HpackError) return this.goaway(ErrorCode.COMPRESSION_ERROR, err.message);
      throw err;
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.closed) return;
    if (!this.sawSettings) {
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "the first frame must be SETTINGS");
      this.sawSettings = true;
    }
    if (this.hbStream !== 0 && type !== FrameType.CONTINUATION) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "expected CONTINUATION");
    switch (type) {
      case FrameType.DATA: {
        if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
        this.recvWindow -= payload.length;
        if (this.recvWindow < 0) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the connection window the router advertised");
        const content = (flags & Flag.PADDED) !== 0 ? stripPadding(payload) : payload;
        this.onData(streamId, content, payload.length, (flags & Flag.END_STREAM) !== 0);
        return;
      }
      case FrameType.HEADERS: {
        if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
        let content = payload;
        if ((flags & Flag.PADDED) !== 0) content = stripPadding(content);
        if ((flags & Flag.PRIORITY) !== 0) {
          if (content.length < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "HEADERS too short for its priority fields");
          content = content.subarray(5);
        }
        if ((flags & Flag.END_HEADERS) !== 0) {
          this.onHeaderBlock(streamId, content, (flags & Flag.END_STREAM) !== 0, content.length > this.windows.maxHeaderBlockBytes);
          return;
        }
        this.hbStream = streamId;
        this.hbFlags = flags;
        this.hbChunks = [Buffer.from(content)]; // copied: the socket chunk it points into is not kept
        this.hbBytes = content.length;
        return;
      }
      case FrameType.CONTINUATION: {
        if (this.hbStream === 0 || streamId !== this.hbStream) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without an open header block");
        this.hbBytes += payload.length;
        if (this.hbBytes > HARD_HEADER_BLOCK_LIMIT) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `header block over ${HARD_HEADER_BLOCK_LIMIT} bytes`);
        this.hbChunks.push(Buffer.from(payload));
        if ((flags & Flag.END_HEADERS) === 0) return;
        const sid = this.hbStream;
        const block = Buffer.concat(this.hbChunks, this.hbBytes);
        this.hbStream = 0;
        this.hbChunks = [];
        this.onHeaderBlock(sid, block, (this.hbFlags & Flag.END_STREAM) !== 0, block.length > this.windows.maxHeaderBlockBytes);
        return;
      }
      case FrameType.PRIORITY:
        if (payload.length !== 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PRIORITY frame must be 5 bytes");
        return;
      case FrameType.RST_STREAM:
        if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM frame must be 4 bytes");
        if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
        this.onRstStream(streamId, payload.readUInt32BE(0));
        return;
      case FrameType.SETTINGS:
        if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
        if ((flags & Flag.ACK) !== 0) {
          if (payload.length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
          this.onSettingsAck();
          return;
        }
        if (payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS payload not a multiple of 6 bytes");
        for (const [id, value] of parseSettings(payload)) this.applySetting(id, value);
        this.write(SETTINGS_ACK);
        return;
      case FrameType.PUSH_PROMISE:
        this.onPushPromise();
        return;
      case FrameType.PING:
        if (payload.length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING frame must be 8 bytes");
        if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
        if ((flags & Flag.ACK) === 0) this.write(buildFrame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        if (payload.length < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY frame too short");
        this.onGoaway(payload.readUInt32BE(0) & 0x7fffffff, payload.readUInt32BE(4), payload.toString("utf8", 8, Math.min(payload.length, 208)));
        return;
      case FrameType.WINDOW_UPDATE: {
        if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE frame must be 4 bytes");
        const inc = payload.readUInt32BE(0) & 0x7fffffff;
        if (streamId === 0) {
          if (inc === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
          this.sendWindow += inc;
          if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection window over 2^31-1");
          this.onConnectionWindow();
        } else {
          this.onStreamWindowUpdate(streamId, inc);
        }
        return;
      }
      default:
        // Unknown frame types are ignored (RFC 9113 section 4.1).
        return;
    }
  }

  private applySetting(id: number, value: number): void {
    switch (id) {
      case Setting.INITIAL_WINDOW_SIZE: {
        if (value > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE over 2^31-1");
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        if (delta !== 0) this.onInitialWindowChange(delta);
        return;
      }
      case Setting.MAX_FRAME_SIZE:
        if (value < DEFAULT_MAX_FRAME_SIZE || value > 16_777_215) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `invalid MAX_FRAME_SIZE ${value}`);
        this.peerMaxFrameSize = value;
        return;
      case Setting.MAX_CONCURRENT_STREAMS:
        this.peerMaxConcurrentStreams = value;
        return;
      case Setting.ENABLE_PUSH:
        if (value > 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `invalid ENABLE_PUSH ${value}`);
        return;
      default:
        // HEADER_TABLE_SIZE: we never index, so the peer's table size does not matter. Unknown settings are ignored.
        return;
    }
  }
}

function stripPadding(payload: Buffer): Buffer {
  if (payload.length < 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "padded frame without a pad length");
  const end = payload.length - payload[0]!;
  if (end < 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "padding longer than the frame");
  return payload.subarray(1, end);
}

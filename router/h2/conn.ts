/**
 * What both ends of the relay share: one HTTP/2 connection over a raw socket. Frame
 * reading, SETTINGS/PING/WINDOW_UPDATE bookkeeping, header-block assembly (HEADERS +
 * CONTINUATION, bounded), batched writes and connection-level flow control.
 * Stream semantics live in the subclasses (client side in relay.ts, agent side in upstream.ts).
 */
import type * as net from "node:net";
import {
  buildFrame, buildGoaway, buildSettings, buildWindowUpdate, DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW,
  ErrorCode, Flag, FrameReader, FrameType, MAX_WINDOW, parseSettings, Setting,
} from "./frames";
import { HpackDecoder, HpackError } from "./hpack";
import { OutBatch } from "./out-batch";
import {
  MAX_CLIENT_STREAMS, MAX_CONTINUATION_FRAMES, MAX_HEADER_LIST_BYTES, MAX_OUTBOUND_CONTROL_FRAMES, NO_PROGRESS_FRAME_BUDGET, NO_PROGRESS_REFILL, NO_PROGRESS_WINDOW_MS,
} from "./limits";
import type { ProtocolLimit } from "../limit-report";

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

/** A protocol limit (limits.ts) was hit: GOAWAY ENHANCE_YOUR_CALM, reported (metric and rate-limited warn). */
export class LimitError extends ConnectionError {
  constructor(readonly limit: ProtocolLimit, message: string) {
    super(ErrorCode.ENHANCE_YOUR_CALM, message);
    this.name = "LimitError";
  }
}

// Connections written to in this tick; their batches are flushed together once the tick's work is done.
const pendingConns: H2Conn[] = [];
let flushScheduled = false;
function flushPending(): void {
  flushScheduled = false;
  for (let i = 0; i < pendingConns.length; i++) {
    const c = pendingConns[i]!;
    c.pending = false;
    c.batch.endTick();
  }
  pendingConns.length = 0;
}

export abstract class H2Conn {
  readonly reader: FrameReader;
  /** Decodes the peer's header blocks; we advertise a table size of 0, so after the SETTINGS ACK blocks are stateless. */
  readonly decoder: HpackDecoder;
  /** Written to in this tick: its batch is flushed at the end of the tick. */
  pending = false;
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
  // Header block being assembled from HEADERS + CONTINUATION: copied into one growing buffer (not a Buffer per frame).
  private hbStream = 0;
  private hbFlags = 0;
  private hbBuf: Buffer | undefined = undefined;
  private hbBytes = 0;
  private hbFrames = 0;
  /** Frames without progress the peer may still send (limits.ts), and when the budget was last refilled in full. */
  private noProgressBudget = NO_PROGRESS_FRAME_BUDGET;
  private noProgressRefilledAt = performance.now();
  /** This tick's frames, copied into one write (out-batch.ts). */
  readonly batch: OutBatch;
  /** More than WRITE_HIGH_WATER we sent earlier was still unsent when the peer's latest bytes arrived. */
  private backlogged = false;
  /** Control replies (PING/SETTINGS ACK, RST_STREAM) queued since the peer last read everything. */
  private controlOwed = 0;

  /** `repeatedBlocks`: the peer sends the same header blocks call after call (HpackDecoder's memo). */
  constructor(readonly socket: net.Socket, readonly windows: WindowOptions, repeatedBlocks = false) {
    this.decoder = new HpackDecoder(4096, 1 << 20, MAX_HEADER_LIST_BYTES, repeatedBlocks);
    this.recvWindow = Math.max(windows.connectionWindowBytes, DEFAULT_WINDOW);
    this.batch = new OutBatch(socket);
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
      [Setting.MAX_CONCURRENT_STREAMS, MAX_CLIENT_STREAMS],
      [Setting.INITIAL_WINDOW_SIZE, this.windows.streamWindowBytes],
      [Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_BYTES],
      ...(this.isClientRole() ? [[Setting.ENABLE_PUSH, 0] as const] : []),
    ])];
    const extra = this.windows.connectionWindowBytes - DEFAULT_WINDOW;
    if (extra > 0) out.push(buildWindowUpdate(0, extra));
    return out;
  }

  protected abstract isClientRole(): boolean;
  /**
   * The header block being delivered came with a priority that makes its stream depend on itself
   * (RFC 9113 section 5.3.1: a stream error PROTOCOL_ERROR, after the block is decoded for the table).
   */
  protected blockSelfDependent = false;
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
  /** The peer hit a protocol limit (the connection is closing with GOAWAY ENHANCE_YOUR_CALM): count and log it. */
  protected abstract reportLimit(limit: ProtocolLimit, detail: string): void;
  /** A stream error on one of the peer's streams, already answered with RST_STREAM `code`: end what the stream carried. */
  protected abstract onStreamError(streamId: number, code: number): void;
  /** No stream with this id was ever opened, or could have been (RFC 9113 section 5.1: idle). */
  protected abstract isIdleStream(streamId: number): boolean;
  /** The peer's SETTINGS (not an ACK) were applied: its limits in peerMax* are now what it advertised. */
  protected onPeerSettings(): void {}
  /** The peer acknowledged our SETTINGS. */
  protected onSettingsAck(): void {
    this.decoder.setSettingsMax(0);
  }

  /** The peer reads slower than we write: DATA waits (TCP backpressure on top of HTTP/2 flow control). */
  get congested(): boolean {
    return this.socket.writableLength + this.batch.pending > WRITE_HIGH_WATER;
  }

  /** Queues a whole frame (or frames) already built, after this tick's earlier frames. */
  write(buf: Buffer): void {
    if (!this.writable()) return;
    this.batch.bytes(buf);
  }

  /** The connection may take more output: not closed, and the peer has not left WRITE_HARD_LIMIT unread (else it is cut off). */
  private writable(): boolean {
    if (this.closed) return false;
    if (this.socket.writableLength > WRITE_HARD_LIMIT) {
      this.closed = true;
      this.reader.stopped = true;
      this.batch.drop();
      this.socket.destroy();
      this.onClosed(new Error(`peer stopped reading with ${this.socket.writableLength} bytes unsent`));
      return false;
    }
    this.schedule();
    return true;
  }

  /** Gives this tick's frames to the socket now (before an end() or a GOAWAY that must go first). */
  flushNow(): void {
    this.batch.flush();
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    pendingConns.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      process.nextTick(flushPending);
    }
  }

  /**
   * Appends a small control frame to this tick's batch (a 17-byte PING ACK is not a write of its own). `reply`: it answers the peer (PING/SETTINGS ACK, RST_STREAM) and counts against
   * MAX_OUTBOUND_CONTROL_FRAMES while the peer is not reading.
   */
  private control(type: number, flags: number, streamId: number, payload: Buffer | undefined, u32: number, reply: boolean): void {
    if (this.closed) return;
    if (reply && this.backlogged && ++this.controlOwed > MAX_OUTBOUND_CONTROL_FRAMES) {
      this.reportLimit("outbound_control_frames", `${this.controlOwed} control replies (PING/SETTINGS ACK, RST_STREAM) owed while the peer reads nothing (${this.socket.writableLength} bytes unsent)`);
      this.goaway(ErrorCode.ENHANCE_YOUR_CALM, `more than ${MAX_OUTBOUND_CONTROL_FRAMES} control frames owed to a peer that does not read`, 0, true);
      return;
    }
    const batch = this.batch;
    batch.frameHeader(payload === undefined ? (u32 >= 0 ? 4 : 0) : payload.length, type, flags, streamId);
    if (payload !== undefined) batch.bytes(payload);
    else if (u32 >= 0) batch.u32(u32);
    this.schedule();
  }

  /** Sends a WINDOW_UPDATE (coalesced with this tick's other control frames). */
  writeWindowUpdate(streamId: number, increment: number): void {
    this.control(FrameType.WINDOW_UPDATE, 0, streamId, undefined, increment, false);
  }

  /** Sends DATA: the header batched, the payload copied when small, else passed on as the slice it is. */
  writeData(streamId: number, payload: Buffer, endStream: boolean): void {
    this.sendWindow -= payload.length;
    if (!this.writable()) return;
    this.batch.frameHeader(payload.length, FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId);
    if (payload.length > 0) this.batch.bytes(payload);
  }

  /** Sends a header block, split into HEADERS + CONTINUATION when it exceeds the peer's frame size. */
  writeHeaderBlock(streamId: number, block: Buffer, endStream: boolean, extra?: Buffer): void {
    const total = block.length + (extra === undefined ? 0 : extra.length);
    const max = this.peerMaxFrameSize;
    const es = endStream ? Flag.END_STREAM : 0;
    if (total <= max) {
      if (!this.writable()) return;
      const batch = this.batch;
      batch.frameHeader(total, FrameType.HEADERS, es | Flag.END_HEADERS, streamId);
      batch.bytes(block);
      if (extra !== undefined) batch.bytes(extra);
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
    this.control(FrameType.RST_STREAM, 0, streamId, undefined, code, true);
  }

  /** Credits `bytes` back at connection level once they left the router, in batches. */
  creditConnection(bytes: number): void {
    this.recvUnacked += bytes;
    if (this.recvUnacked >= this.windows.connectionWindowBytes >>> 2) {
      this.writeWindowUpdate(0, this.recvUnacked);
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
  }

  /** Ends the connection with GOAWAY and closes the socket (`now`: at once, for a peer that does not read). */
  goaway(code: number, reason: string, lastStreamId = 0, now = false): void {
    if (this.closed) return;
    this.write(buildGoaway(lastStreamId, code, reason.slice(0, 200)));
    this.batch.flush();
    this.closed = true;
    this.reader.stopped = true;
    if (now) this.socket.destroy();
    else {
      this.socket.end();
      // A peer that never reads must not keep the socket open.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    }
    this.onClosed(new Error(`connection closed: ${reason}`));
  }

  /** Called once when the connection ends for any reason. */
  protected abstract onClosed(err: Error): void;

  protected handleChunk(chunk: Buffer): void {
    // More than the DATA high-water mark written in earlier ticks is still unsent: the peer is not reading. (A reader
    // has up to a tick or two of our output in flight: writes complete asynchronously.)
    this.backlogged = this.socket.writableLength > WRITE_HIGH_WATER;
    if (!this.backlogged) this.controlOwed = 0;
    try {
      this.reader.push(chunk);
    } catch (err) {
      if (err instanceof LimitError) this.reportLimit(err.limit, err.message);
      if (err instanceof ConnectionError) return this.goaway(err.code, err.message, this.lastPeerStreamId());
      if (err instanceof HpackError) return this.goaway(ErrorCode.COMPRESSION_ERROR, err.message);
      throw err;
    }
  }

  /** The GOAWAY's last-stream-id: the highest peer stream the router may have processed. */
  protected lastPeerStreamId(): number {
    return 0;
  }

  /** A frame that moved nothing forward: spend the budget; an exhausted one is refilled only after NO_PROGRESS_WINDOW_MS. */
  private noProgress(what: string): void {
    if (--this.noProgressBudget > 0) return;
    const now = performance.now();
    if (now - this.noProgressRefilledAt >= NO_PROGRESS_WINDOW_MS) {
      this.noProgressBudget = NO_PROGRESS_FRAME_BUDGET;
      this.noProgressRefilledAt = now;
      return;
    }
    throw new LimitError("frames_without_progress", `${NO_PROGRESS_FRAME_BUDGET} frames without progress (PING, SETTINGS, empty DATA or CONTINUATION) in ${Math.round(now - this.noProgressRefilledAt)} ms, the last one ${what}`);
  }

  /** HEADERS or DATA with content: some of the budget back. */
  private progress(): void {
    if (this.noProgressBudget < NO_PROGRESS_FRAME_BUDGET) this.noProgressBudget = Math.min(NO_PROGRESS_FRAME_BUDGET, this.noProgressBudget + NO_PROGRESS_REFILL);
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
        if (content.length > 0) this.progress();
        else if ((flags & Flag.END_STREAM) === 0) this.noProgress("an empty DATA frame");
        this.onData(streamId, content, payload.length, (flags & Flag.END_STREAM) !== 0);
        return;
      }
      case FrameType.HEADERS: {
        if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
        this.progress();
        let content = payload;
        let selfDependent = false;
        if ((flags & Flag.PADDED) !== 0) content = stripPadding(content);
        if ((flags & Flag.PRIORITY) !== 0) {
          if (content.length < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "HEADERS too short for its priority fields");
          selfDependent = (content.readUInt32BE(0) & 0x7fffffff) === streamId;
          content = content.subarray(5);
        }
        this.blockSelfDependent = selfDependent;
        if ((flags & Flag.END_HEADERS) !== 0) {
          this.onHeaderBlock(streamId, content, (flags & Flag.END_STREAM) !== 0, content.length > this.windows.maxHeaderBlockBytes);
          return;
        }
        this.hbStream = streamId;
        this.hbFlags = flags;
        this.hbFrames = 0;
        // Copied: the socket chunk it points into is not kept. Room for a few frames more; grown by doubling.
        this.hbBuf = Buffer.allocUnsafe(Math.max(4 * content.length, 4096));
        content.copy(this.hbBuf, 0);
        this.hbBytes = content.length;
        return;
      }
      case FrameType.CONTINUATION: {
        if (this.hbStream === 0 || streamId !== this.hbStream) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without an open header block");
        // RFC 9113 section 6.10: a block may take any number of CONTINUATIONs; an unbounded number is a flood (limits.ts).
        if (++this.hbFrames > MAX_CONTINUATION_FRAMES) throw new LimitError("continuation_frames", `more than ${MAX_CONTINUATION_FRAMES} CONTINUATION frames in one header block (${this.hbBytes} bytes so far)`);
        if (payload.length === 0) this.noProgress("an empty CONTINUATION frame");
        const total = this.hbBytes + payload.length;
        if (total > HARD_HEADER_BLOCK_LIMIT) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `header block over ${HARD_HEADER_BLOCK_LIMIT} bytes`);
        let buf = this.hbBuf!;
        if (total > buf.length) {
          const grown = Buffer.allocUnsafe(Math.min(HARD_HEADER_BLOCK_LIMIT, Math.max(2 * buf.length, total)));
          buf.copy(grown, 0, 0, this.hbBytes);
          buf = this.hbBuf = grown;
        }
        payload.copy(buf, this.hbBytes);
        this.hbBytes = total;
        if ((flags & Flag.END_HEADERS) === 0) return;
        const sid = this.hbStream;
        const block = buf.subarray(0, total);
        this.hbStream = 0;
        this.hbBuf = undefined;
        this.onHeaderBlock(sid, block, (this.hbFlags & Flag.END_STREAM) !== 0, block.length > this.windows.maxHeaderBlockBytes);
        return;
      }
      case FrameType.PRIORITY:
        // RFC 9113 section 6.3: PRIORITY on stream 0 is a connection error.
        if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (payload.length !== 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PRIORITY frame must be 5 bytes");
        // RFC 9113 section 5.3.1: a stream cannot depend on itself (a stream error PROTOCOL_ERROR).
        if ((payload.readUInt32BE(0) & 0x7fffffff) === streamId) {
          this.writeRst(streamId, ErrorCode.PROTOCOL_ERROR);
          this.onStreamError(streamId, ErrorCode.PROTOCOL_ERROR);
        }
        return;
      case FrameType.RST_STREAM:
        if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM frame must be 4 bytes");
        if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
        this.onRstStream(streamId, payload.readUInt32BE(0));
        return;
      case FrameType.SETTINGS:
        if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
        this.noProgress("a SETTINGS frame");
        if ((flags & Flag.ACK) !== 0) {
          if (payload.length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
          this.onSettingsAck();
          return;
        }
        if (payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS payload not a multiple of 6 bytes");
        for (const [id, value] of parseSettings(payload)) this.applySetting(id, value);
        this.control(FrameType.SETTINGS, Flag.ACK, 0, undefined, -1, true);
        this.onPeerSettings();
        return;
      case FrameType.PUSH_PROMISE:
        this.onPushPromise();
        return;
      case FrameType.PING:
        if (payload.length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING frame must be 8 bytes");
        if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
        this.noProgress("a PING frame");
        if ((flags & Flag.ACK) === 0) this.control(FrameType.PING, Flag.ACK, 0, payload, -1, true);
        return;
      case FrameType.GOAWAY:
        // RFC 9113 section 6.8: GOAWAY applies to the connection, never to a stream.
        if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `GOAWAY on stream ${streamId}`);
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
          // RFC 9113 section 5.1: WINDOW_UPDATE on an idle stream is a connection error.
          if (this.isIdleStream(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
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

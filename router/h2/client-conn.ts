/**
 * The router's side toward one client connection (the server role): prior-knowledge h2c as gRPC
 * clients use, the preface and its timeout, a readable answer to HTTP/1, client stream ids, the
 * stream limit, idle close and GOAWAY when draining. Each new stream becomes a Call.
 */
import type * as net from "node:net";
import { Call, type CallContext, type ClientSide } from "./call";
import type { LimitReporter, ProtocolLimit } from "../limit-report";
import type { Target } from "../../registry/types";
import { ConnectionError, LimitError } from "./conn";
import { buildGoaway, CLIENT_PREFACE, ErrorCode } from "./frames";
import { MAX_CLIENT_STREAMS, MAX_HEADER_LIST_BYTES, PREMATURE_RESET_MIN_LIFETIME_MS, PREMATURE_RESET_STREAM_COUNT } from "./limits";
import type { RelayStream } from "./stream";
import { StreamConn } from "./stream-conn";

/** A client has this long to send the HTTP/2 preface. */
const PREFACE_TIMEOUT_MS = 10_000;
/**
 * Recently closed streams remembered per connection: DATA the client sent before it read the router's
 * final status or reset is dropped quietly rather than answered with STREAM_CLOSED (frames in flight),
 * and HEADERS on them is a stream error, not the connection error a never-used lower id is.
 */
const CLOSED_STREAM_MEMORY = 256;

export interface ClientConnContext extends CallContext {
  /** Close a client connection idle this long with no call open. */
  readonly idleTimeoutMs?: number;
  /** Counts and logs protocol limits clients hit. */
  readonly limits: LimitReporter;
}

/** The router's side toward one client connection. */
export class ClientConn extends StreamConn<Call> implements ClientSide {
  /** The client's IP address, kept for logs (the socket forgets it once closed). */
  readonly peer: string;
  private lastStreamId = 0;
  private prefaceSeen = 0;
  private prefaceTimer: NodeJS.Timeout | undefined;
  goawaySent = false;
  /** Streams closed, and those the client reset within PREMATURE_RESET_MIN_LIFETIME_MS (rapid reset accounting). */
  private closedStreams = 0;
  private prematureResets = 0;
  /** Recently closed ids: +id when the router closed it with the client still sending, -id otherwise (allocated on first use). */
  private recentlyClosed: Int32Array | undefined = undefined;
  private recentNext = 0;
  /** Inside a socket read: agent streams open after the whole read, so a stream reset in the same read never reaches the agent. */
  private reading = false;
  private readonly startCalls: Call[] = [];
  private readonly startTargets: Target[] = [];

  constructor(socket: net.Socket, private readonly ctx: ClientConnContext, private readonly conns: Set<ClientConn>) {
    super(socket, ctx.win);
    this.peer = socket.remoteAddress ?? "";
    conns.add(this);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onSocketData(chunk));
    socket.on("error", (err: Error) => this.lost(err.message));
    socket.on("close", () => this.lost("client closed the connection"));
    this.prefaceTimer = setTimeout(() => this.goaway(ErrorCode.PROTOCOL_ERROR, "no HTTP/2 preface in time"), PREFACE_TIMEOUT_MS);
    this.prefaceTimer.unref();
    // Connections nobody uses are closed; one with a call still open (however quiet) is left alone.
    socket.setTimeout(ctx.idleTimeoutMs ?? 300_000, () => {
      if (this.streams.size > 0 || this.closed) return;
      this.sendGoaway();
      // end(): the GOAWAY goes out before the FIN; a peer that never reads is cut off soon after.
      this.flushNow();
      socket.end();
      setTimeout(() => socket.destroy(), 5000).unref();
    });
  }

  protected isClientRole(): boolean {
    return false;
  }

  protected sending(call: Call): RelayStream {
    return call.toClient;
  }

  private onSocketData(chunk: Buffer): void {
    if (this.prefaceSeen === CLIENT_PREFACE.length) return this.read(chunk);
    // Check the preface byte by byte: it may arrive in pieces.
    const n = Math.min(chunk.length, CLIENT_PREFACE.length - this.prefaceSeen);
    for (let i = 0; i < n; i++) {
      if (chunk[i] !== CLIENT_PREFACE[this.prefaceSeen + i]) return this.rejectNonHttp2(chunk);
    }
    this.prefaceSeen += n;
    if (this.prefaceSeen < CLIENT_PREFACE.length) return;
    clearTimeout(this.prefaceTimer);
    // Our SETTINGS only once the client proved it speaks HTTP/2, so an HTTP/1 client reads a clean 400.
    for (const f of this.initialFrames()) this.write(f);
    if (chunk.length > n) this.read(chunk.subarray(n));
  }

  private read(chunk: Buffer): void {
    this.reading = true;
    try {
      this.handleChunk(chunk);
    } finally {
      this.reading = false;
    }
    const calls = this.startCalls;
    if (calls.length === 0) return;
    const targets = this.startTargets;
    for (let i = 0; i < calls.length; i++) if (!calls[i]!.finished) this.ctx.pool.start(targets[i]!, calls[i]!);
    calls.length = 0;
    targets.length = 0;
  }

  /** Opens the call's agent stream: at the end of the current read, when in one (CVE-2023-44487: resets in the same read cost the agent nothing). */
  startUpstream(target: Target, call: Call): void {
    if (!this.reading) return this.ctx.pool.start(target, call);
    this.startCalls.push(call);
    this.startTargets.push(target);
  }

  /** A call is done with its client stream; `clientEnded`: the client had sent END_STREAM. */
  streamClosed(streamId: number, clientEnded: boolean): void {
    this.streams.delete(streamId);
    this.closedStreams++;
    const recent = (this.recentlyClosed ??= new Int32Array(CLOSED_STREAM_MEMORY));
    recent[this.recentNext] = clientEnded ? -streamId : streamId;
    this.recentNext = (this.recentNext + 1) % CLOSED_STREAM_MEMORY;
  }

  /** The client closed `streamId` itself (its RST_STREAM): later frames on it get STREAM_CLOSED. */
  private rememberClosedByClient(streamId: number): void {
    const recent = this.recentlyClosed;
    if (recent === undefined) return;
    const i = recent.indexOf(streamId);
    if (i >= 0) recent[i] = -streamId;
  }

  /** +1: recently closed by the router while the client was still sending; -1: recently closed otherwise; 0: not remembered. */
  private recentlyClosedAs(streamId: number): number {
    const recent = this.recentlyClosed;
    if (recent === undefined) return 0;
    return recent.includes(streamId) ? 1 : recent.includes(-streamId) ? -1 : 0;
  }

  protected isIdleStream(streamId: number): boolean {
    // Even ids are the server's, and the router opens none.
    return (streamId & 1) === 0 || streamId > this.lastStreamId;
  }

  protected lastPeerStreamId(): number {
    return this.lastStreamId;
  }

  protected reportLimit(limit: ProtocolLimit, detail: string): void {
    this.ctx.limits.hit(limit, this.peer, detail);
  }

  protected onStreamError(streamId: number): void {
    this.streams.get(streamId)?.onDownReset();
  }

  /** Not HTTP/2 with prior knowledge: an HTTP/1 client gets a readable 400, anything else a GOAWAY. */
  private rejectNonHttp2(chunk: Buffer): void {
    clearTimeout(this.prefaceTimer);
    this.closed = true;
    this.reader.stopped = true;
    if (this.prefaceSeen === 0 && /^[A-Z]{3,7} /.test(chunk.toString("latin1", 0, 8))) {
      const body = "this is a gRPC (HTTP/2 prior knowledge) endpoint: use a gRPC client\n";
      this.socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    } else {
      this.socket.end(buildGoaway(0, ErrorCode.PROTOCOL_ERROR, "expected the HTTP/2 client preface"));
    }
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.conns.delete(this);
  }

  protected onHeaderBlock(streamId: number, block: Buffer, endStream: boolean, tooLarge: boolean): void {
    const decoded = this.decoder.decode(block); // always: keeps the dynamic table in sync
    if (decoded.overLimit) {
      // RFC 9113 section 10.5.1: the stream is refused, the block was still decoded to its end for the table.
      this.reportLimit("header_list_size", `a header list over ${MAX_HEADER_LIST_BYTES} bytes decoded (block of ${block.length} bytes) on stream ${streamId}: stream refused`);
    }
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      if (!endStream) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "trailers without END_STREAM");
      // RFC 9113 section 5.1: HEADERS on a half-closed (remote) stream is a stream error STREAM_CLOSED.
      if (existing.toAgent.remoteEnded) return this.streamError(streamId, ErrorCode.STREAM_CLOSED);
      if (decoded.overLimit) return this.streamError(streamId, ErrorCode.ENHANCE_YOUR_CALM);
      existing.onDownTrailers(decoded, block);
      return;
    }
    if ((streamId & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on even stream ${streamId}: client streams must be odd`);
    if (streamId <= this.lastStreamId) {
      // A stream the router finished recently (e.g. trailers after its status): a stream error, the connection's other calls go on.
      if (this.recentlyClosedAs(streamId) !== 0) return this.writeRst(streamId, ErrorCode.STREAM_CLOSED);
      // RFC 9113 section 5.1.1: a new stream id must be higher than every id the client used before.
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${streamId}, not above the client's last stream ${this.lastStreamId}: stream ids must increase`);
    }
    this.lastStreamId = streamId;
    if (this.blockSelfDependent) {
      // RFC 9113 section 5.3.1: a stream that depends on itself is a stream error; nothing reaches an agent.
      this.writeRst(streamId, ErrorCode.PROTOCOL_ERROR);
      this.streamClosed(streamId, false);
      return;
    }
    if (this.streams.size >= MAX_CLIENT_STREAMS) {
      this.writeRst(streamId, ErrorCode.REFUSED_STREAM);
      return;
    }
    const call = new Call(this.ctx, this, streamId, performance.now());
    this.streams.set(streamId, call);
    // Over the decoded limit: the policy refuses it (RESOURCE_EXHAUSTED) on the size of what was decoded.
    call.begin(decoded, block, endStream, tooLarge);
  }

  /** Resets a client stream (a stream error) and ends its call. */
  private streamError(streamId: number, code: number): void {
    this.writeRst(streamId, code);
    this.streams.get(streamId)?.onDownReset();
  }

  protected onData(streamId: number, payload: Buffer, flowBytes: number, endStream: boolean): void {
    const call = this.streams.get(streamId);
    if (call === undefined) {
      // RFC 9113 section 5.1: DATA on an idle stream is a connection error.
      if (this.isIdleStream(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
      this.creditConnection(flowBytes);
      // RFC 9113 section 6.1: DATA on a closed stream is a stream error STREAM_CLOSED, except on one the router
      // closed while the client was still sending (those bytes were in flight: dropped quietly).
      if (this.recentlyClosedAs(streamId) !== 1) this.writeRst(streamId, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (call.toAgent.remoteEnded) {
      // RFC 9113 section 5.1: DATA after the client's END_STREAM (half-closed remote) is a stream error STREAM_CLOSED.
      this.creditConnection(flowBytes);
      return this.streamError(streamId, ErrorCode.STREAM_CLOSED);
    }
    call.onDownData(payload, flowBytes - payload.length, endStream);
  }

  protected onRstStream(streamId: number): void {
    if (this.isIdleStream(streamId)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    const call = this.streams.get(streamId);
    if (call === undefined) return;
    const premature = performance.now() - call.started < PREMATURE_RESET_MIN_LIFETIME_MS;
    call.onDownReset();
    // RFC 9113 section 5.1: frames after the client's own RST_STREAM are STREAM_CLOSED, not frames in flight.
    this.rememberClosedByClient(streamId);
    if (!premature) return;
    // CVE-2023-44487 (rapid reset), as Envoy counts it: past half of PREMATURE_RESET_STREAM_COUNT streams, or
    // past half of all closed streams once there were more, the connection ends.
    const twice = 2 * ++this.prematureResets;
    const closed = this.closedStreams;
    if (closed < PREMATURE_RESET_STREAM_COUNT ? twice >= PREMATURE_RESET_STREAM_COUNT : twice >= closed) {
      throw new LimitError("premature_resets", `${this.prematureResets} of ${closed} streams reset by the client within ${PREMATURE_RESET_MIN_LIFETIME_MS} ms of opening them`);
    }
  }

  protected onGoaway(): void {
    // The client will open no more streams; the open ones run to their end.
  }

  protected onPushPromise(): void {
    throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "clients must not send PUSH_PROMISE");
  }

  /** Tells the client to open no new streams here (draining). */
  sendGoaway(): void {
    if (this.goawaySent || this.closed) return;
    this.goawaySent = true;
    this.write(buildGoaway(this.lastStreamId, ErrorCode.NO_ERROR, "router draining"));
  }

  private lost(_reason: string): void {
    if (this.closed) {
      this.conns.delete(this);
      return;
    }
    this.closed = true;
    this.reader.stopped = true;
    this.onClosed();
  }

  protected onClosed(): void {
    clearTimeout(this.prefaceTimer);
    this.conns.delete(this);
    for (const call of [...this.streams.values()]) call.onDownReset();
    this.blocked.clear();
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.destroy();
  }

  destroy(): void {
    this.lost("router closing");
    this.socket.destroy();
  }
}

/**
 * The router's side toward one client connection (the server role): prior-knowledge h2c as gRPC
 * clients use, the preface and its timeout, a readable answer to HTTP/1, client stream ids, the
 * stream limit, idle close and GOAWAY when draining. Each new stream becomes a Call.
 */
import type * as net from "node:net";
import { Call, type CallContext, type ClientSide } from "./call";
import { ConnectionError } from "./conn";
import { buildGoaway, CLIENT_PREFACE, ErrorCode } from "./frames";
import type { RelayStream } from "./stream";
import { StreamConn } from "./stream-conn";

/** A client has this long to send the HTTP/2 preface. */
const PREFACE_TIMEOUT_MS = 10_000;
const MAX_CLIENT_STREAMS = 10_000;

export interface ClientConnContext extends CallContext {
  /** Close a client connection idle this long with no call open. */
  readonly idleTimeoutMs?: number;
}

/** The router's side toward one client connection. */
export class ClientConn extends StreamConn<Call> implements ClientSide {
  /** The client's IP address, kept for logs (the socket forgets it once closed). */
  readonly peer: string;
  private lastStreamId = 0;
  private prefaceSeen = 0;
  private prefaceTimer: NodeJS.Timeout | undefined;
  goawaySent = false;

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
    if (this.prefaceSeen === CLIENT_PREFACE.length) return this.handleChunk(chunk);
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
    if (chunk.length > n) this.handleChunk(chunk.subarray(n));
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
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      if (!endStream) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "trailers without END_STREAM");
      existing.onDownTrailers(decoded, block);
      return;
    }
    if ((streamId & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on even stream ${streamId}: client streams must be odd`);
    if (streamId <= this.lastStreamId) {
      // A stream the router already finished (e.g. trailers after its status): a stream error, the connection's other calls go on.
      this.writeRst(streamId, ErrorCode.STREAM_CLOSED);
      return;
    }
    this.lastStreamId = streamId;
    if (this.streams.size >= MAX_CLIENT_STREAMS) {
      this.writeRst(streamId, ErrorCode.REFUSED_STREAM);
      return;
    }
    const call = new Call(this.ctx, this, streamId, performance.now());
    this.streams.set(streamId, call);
    call.begin(decoded, block, endStream, tooLarge);
  }

  protected onData(streamId: number, payload: Buffer, flowBytes: number, endStream: boolean): void {
    const call = this.streams.get(streamId);
    if (call === undefined) {
      if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
      this.creditConnection(flowBytes);
      return;
    }
    call.onDownData(payload, flowBytes - payload.length, endStream);
  }

  protected onRstStream(streamId: number): void {
    if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    this.streams.get(streamId)?.onDownReset();
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

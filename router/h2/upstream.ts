/**
 * The relay's side toward agents: one HTTP/2 connection per agent address, shared by every
 * call to it. Stream ids are allocated here; the agent's SETTINGS (window, frame size,
 * concurrent streams) are respected, calls beyond its stream limit (before its SETTINGS arrive:
 * STREAMS_BEFORE_PEER_SETTINGS) wait in line, GOAWAY
 * and connection loss fail the affected calls, and idle connections close themselves. A connect
 * timeout and PING keepalive (router/keepalive.ts) notice an agent that vanished without FIN or RST.
 */
import * as net from "node:net";
import { connectTimeoutReason, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_KEEPALIVE, Keepalive, KeepaliveIntervals, logDeadConnection, type KeepaliveOptions, type NewCall } from "../keepalive";
import type { Logger } from "../../lib/log";
import type { LimitReporter, ProtocolLimit } from "../limit-report";
import type { Target } from "../../registry/types";
import type { WindowOptions } from "./conn";
import { buildFrame, CLIENT_PREFACE, ErrorCode, FrameType } from "./frames";
import { MAX_HEADER_LIST_BYTES, STREAMS_BEFORE_PEER_SETTINGS } from "./limits";
import type { DecodeResult } from "./hpack";
import type { RelayStream } from "./stream";
import { StreamConn } from "./stream-conn";

/** What a call must handle for its stream toward the agent (implemented by the relay's Call). */
export interface UpstreamCall {
  /** The direction that sends on the agent's stream: the request. */
  readonly toAgent: RelayStream;
  /** The connection whose stream limit the call waits behind, if it waits. */
  waitingOn: AgentConn | undefined;
  /** A stream id was assigned: send the request HEADERS now. */
  onUpStart(conn: AgentConn, streamId: number): void;
  onUpHeaders(decoded: DecodeResult, block: Buffer, endStream: boolean, tooLarge: boolean): void;
  onUpData(payload: Buffer, paddingBytes: number, endStream: boolean): void;
  onUpReset(code: number): void;
  /** The connection failed or went away before the call finished. */
  onUpFailed(reason: string, neverConnected: boolean): void;
}

/** Stream ids are 31 bits; past this a connection is retired and calls use a new one. */
const LAST_STREAM_ID = 2 ** 31 - 1;
const KEEPALIVE_PING = buildFrame(FrameType.PING, 0, 0, Buffer.from("pxkalive"));

export class AgentConn extends StreamConn<UpstreamCall> {
  /** Calls waiting for the agent's concurrent-stream limit to make room. */
  readonly waiting: UpstreamCall[] = [];
  /**
   * Streams this connection may have open: STREAMS_BEFORE_PEER_SETTINGS until the agent's first SETTINGS
   * (RFC 9113 section 5.1.2: its limit is unknown until then, and a burst on a cold connection would
   * exceed any lower one), then the agent's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited if it sends none).
   */
  private streamLimit = STREAMS_BEFORE_PEER_SETTINGS;
  private nextStreamId = 1;
  private connected = false;
  /** No new calls: GOAWAY received, ids running out, or closing. */
  retired = false;
  private lastActive = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;
  /** Until the agent acknowledges our SETTINGS. */
  private connectTimer: NodeJS.Timeout | undefined;
  private handshaken = false;
  private keepalive: Keepalive | undefined;

  constructor(readonly key: string, target: Target, windows: WindowOptions, private readonly pool: AgentPool) {
    // An agent answers every call of a method with the same response headers and trailers; a client's requests
    // differ per call (Envoy's x-request-id, grpc-timeout), so only this side remembers blocks.
    super(net.connect({ host: target.host, port: target.port, noDelay: true }), windows, true);
    const socket = this.socket;
    socket.on("connect", () => { this.connected = true; });
    socket.on("data", (chunk: Buffer) => this.handleChunk(chunk));
    socket.on("error", (err: Error) => this.lost(err.message));
    socket.on("close", () => this.lost("connection closed by the agent"));
    // Frames may be written before the socket connects: they are sent once it does.
    this.write(CLIENT_PREFACE);
    for (const f of this.initialFrames()) this.write(f);
    const idleMs = pool.idleTimeoutMs;
    this.idleTimer = setInterval(() => {
      if (this.streams.size === 0 && this.waiting.length === 0 && performance.now() - this.lastActive >= idleMs) this.goaway(ErrorCode.NO_ERROR, "idle");
    }, Math.min(idleMs, 30_000));
    this.idleTimer.unref();
    const connectMs = pool.connectTimeoutMs;
    this.connectTimer = setTimeout(() => this.declareDead(connectTimeoutReason(connectMs, this.connected)), connectMs);
    this.connectTimer.unref();
  }

  /** The agent's SETTINGS arrived: its own stream limit replaces the provisional one; calls that waited for it start. */
  protected onPeerSettings(): void {
    this.streamLimit = this.peerMaxConcurrentStreams;
    this.startWaiting();
  }

  /** The agent acknowledged our SETTINGS: the handshake is done, the keepalive starts. */
  protected onSettingsAck(): void {
    super.onSettingsAck();
    if (this.handshaken) return;
    this.handshaken = true;
    clearTimeout(this.connectTimer);
    const opts = this.pool.keepaliveFor(this.key);
    if (opts === undefined) return;
    this.keepalive = new Keepalive(opts, {
      bytesRead: () => this.socket.bytesRead,
      busy: () => this.streams.size > 0 || this.waiting.length > 0,
      sendPing: () => this.write(KEEPALIVE_PING),
      dead: (reason) => this.declareDead(reason),
    });
  }

  /** No answer from the agent (connect timeout or keepalive): fail its calls now and free the pool slot. */
  private declareDead(reason: string): void {
    if (this.closed) return;
    logDeadConnection(this.pool.logger, this.key, reason, this.streams.size + this.waiting.length);
    this.socket.destroy();
    this.lost(reason);
  }

  protected isClientRole(): boolean {
    return true;
  }

  protected sending(call: UpstreamCall): RelayStream {
    return call.toAgent;
  }

  /** Starts a call on this connection now, or queues it behind the agent's stream limit. */
  start(call: UpstreamCall): void {
    const verdict: NewCall = this.keepalive === undefined ? "proceed" : this.keepalive.newCall();
    if (verdict === "fresh") {
      // Silent for a while and out of PINGs the agent would accept: new calls go to a new connection,
      // this one finishes what it has.
      this.retire();
      if (this.streams.size === 0 && this.waiting.length === 0) this.goaway(ErrorCode.NO_ERROR, "retired");
      this.pool.startOnFreshConnection(this.key, call);
      return;
    }
    if (this.streams.size >= this.streamLimit) {
      this.waiting.push(call);
      call.waitingOn = this;
      if (verdict === "ping") this.keepalive!.pingNow();
      return;
    }
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    if (this.nextStreamId >= LAST_STREAM_ID - 2) this.retire();
    this.streams.set(id, call);
    call.waitingOn = undefined;
    this.lastActive = performance.now();
    call.onUpStart(this, id);
    if (verdict === "ping") this.keepalive!.pingNow();
  }

  /** The call is done with its stream (or gave up waiting for one). */
  release(call: UpstreamCall, streamId: number): void {
    if (streamId !== 0) this.streams.delete(streamId);
    else {
      const i = this.waiting.indexOf(call);
      if (i >= 0) this.waiting.splice(i, 1);
    }
    this.lastActive = performance.now();
    this.startWaiting();
    if (this.retired && this.streams.size === 0 && this.waiting.length === 0) this.goaway(ErrorCode.NO_ERROR, "retired");
  }

  /** Starts waiting calls while the agent's limit leaves room. */
  private startWaiting(): void {
    while (this.waiting.length > 0 && this.streams.size < this.streamLimit && !this.closed) this.start(this.waiting.shift()!);
  }

  private retire(): void {
    if (this.retired) return;
    this.retired = true;
    this.pool.forget(this);
  }

  protected onHeaderBlock(streamId: number, block: Buffer, endStream: boolean, tooLarge: boolean): void {
    const decoded = this.decoder.decode(block); // always: keeps the dynamic table in sync
    if (decoded.overLimit) this.reportLimit("header_list_size", `a response header list over ${MAX_HEADER_LIST_BYTES} bytes decoded on stream ${streamId}: the call fails`);
    const call = this.streams.get(streamId);
    if (call === undefined) return;
    call.onUpHeaders(decoded, block, endStream, tooLarge || decoded.overLimit);
  }

  protected reportLimit(limit: ProtocolLimit, detail: string): void {
    this.pool.limits?.hit(limit, `agent ${this.key}`, detail, "agent");
  }

  protected onStreamError(streamId: number, code: number): void {
    this.streams.get(streamId)?.onUpReset(code);
  }

  protected isIdleStream(streamId: number): boolean {
    // Even ids would be the agent's pushed streams, which SETTINGS_ENABLE_PUSH=0 forbids.
    return (streamId & 1) === 0 || streamId >= this.nextStreamId;
  }

  protected onData(streamId: number, payload: Buffer, flowBytes: number, endStream: boolean): void {
    const call = this.streams.get(streamId);
    if (call === undefined) {
      this.creditConnection(flowBytes);
      return;
    }
    call.onUpData(payload, flowBytes - payload.length, endStream);
  }

  protected onRstStream(streamId: number, code: number): void {
    this.streams.get(streamId)?.onUpReset(code);
  }

  protected onGoaway(lastStreamId: number, code: number, debug: string): void {
    this.pool.intervals.onGoaway(this.key, code, debug);
    this.retire();
    // Streams the agent never processed fail now; lower ones run to their end.
    for (const [id, call] of [...this.streams]) {
      if (id > lastStreamId) call.onUpFailed(`the agent is going away (GOAWAY code ${code}${debug ? `: ${debug}` : ""}) and did not process the call`, false);
    }
    const waiting = this.waiting.splice(0);
    for (const call of waiting) this.pool.startOnFreshConnection(this.key, call);
    if (this.streams.size === 0) this.goaway(ErrorCode.NO_ERROR, "agent sent GOAWAY");
  }

  protected onPushPromise(): void {
    this.goaway(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE after SETTINGS_ENABLE_PUSH=0");
  }

  private lost(reason: string): void {
    if (this.closed && this.streams.size === 0 && this.waiting.length === 0) {
      this.pool.forget(this, true);
      return;
    }
    this.closed = true;
    this.reader.stopped = true;
    this.onClosed(new Error(reason));
  }

  protected onClosed(err: Error): void {
    this.retired = true;
    if (this.idleTimer !== undefined) clearInterval(this.idleTimer);
    this.idleTimer = undefined;
    clearTimeout(this.connectTimer);
    this.keepalive?.stop();
    this.pool.forget(this, true);
    const neverConnected = !this.connected;
    const calls = [...this.streams.values(), ...this.waiting.splice(0)];
    this.streams.clear();
    this.blocked.clear();
    for (const c of calls) c.onUpFailed(err.message, neverConnected);
    if (!this.socket.destroyed && this.socket.writableEnded === false) this.socket.destroy();
  }

  destroy(): void {
    if (!this.closed) this.lost("router closing");
    this.socket.destroy();
  }
}

export interface AgentPoolOptions {
  readonly logger: Logger;
  readonly windows: WindowOptions;
  /** Close a connection after this long without streams. */
  readonly idleTimeoutMs?: number;
  /** PING keepalive on agent connections (default DEFAULT_KEEPALIVE; intervalMs 0: off). */
  readonly keepalive?: KeepaliveOptions;
  /** A connection attempt with no HTTP/2 handshake after this long fails its calls (default DEFAULT_CONNECT_TIMEOUT_MS). */
  readonly connectTimeoutMs?: number;
  /** Counts and logs protocol limits agents hit (none: only the connection closes). */
  readonly limits?: LimitReporter;
}

export class AgentPool {
  /** The connection new calls to an address use. */
  private readonly current = new Map<string, AgentConn>();
  /** Every connection still open, retired ones included. */
  private readonly live = new Set<AgentConn>();
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly intervals: KeepaliveIntervals;
  readonly logger: Logger;
  readonly limits: LimitReporter | undefined;

  constructor(private readonly opts: AgentPoolOptions) {
    this.limits = opts.limits;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 300_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.logger = opts.logger;
    this.intervals = new KeepaliveIntervals(opts.keepalive ?? DEFAULT_KEEPALIVE, opts.logger);
  }

  keepaliveFor(key: string): KeepaliveOptions | undefined {
    return this.intervals.forAgent(key);
  }

  /** Open upstream connections, for /metrics. */
  get size(): number {
    return this.live.size;
  }

  start(target: Target, call: UpstreamCall): void {
    const key = `${target.host}:${target.port}`;
    let conn = this.current.get(key);
    if (conn === undefined || conn.retired || conn.closed) {
      conn = new AgentConn(key, target, this.opts.windows, this);
      this.current.set(key, conn);
      this.live.add(conn);
    }
    conn.start(call);
  }

  startOnFreshConnection(key: string, call: UpstreamCall): void {
    const i = key.lastIndexOf(":");
    const host = key.slice(0, i);
    this.start({ host, port: Number(key.slice(i + 1)) }, call);
  }

  /** Stop giving a connection new calls; with `gone`, it is closed too. */
  forget(conn: AgentConn, gone = false): void {
    if (this.current.get(conn.key) === conn) this.current.delete(conn.key);
    if (gone) this.live.delete(conn);
  }

  closeAll(): void {
    for (const c of [...this.live]) c.destroy();
    this.live.clear();
    this.current.clear();
  }
}

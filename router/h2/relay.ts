/**
 * The frame relay: the router as an HTTP/2 (h2c, prior knowledge) server on raw sockets.
 * Each call's request header block is decoded only to route it and forwarded verbatim
 * (plus an appended x-pixell-hops literal; re-encoded only when it used the dynamic table or
 * a header must go: a caller's credential, or the hop count it came with); DATA frames are forwarded with the stream id
 * rewritten; flow-control credit is passed back only as bytes leave the router, so a
 * call's buffering is bounded by the windows the router advertises.
 */
import * as net from "node:net";
import { CALLER_HEADER, isRefusal, type Authenticator, type Principal } from "../auth";
import type { Logger } from "../../lib/log";
import type { RouterMetrics } from "../metrics";
import { UNRESOLVED } from "../metrics";
import type { RegistrySource, Target } from "../../registry/types";
import {
  decideRoute, encodeGrpcMessage, HOP_COUNT_KEY, metadataTooLarge, Status, type StatusCode,
} from "../routing";
import { ConnectionError, DEFAULT_WINDOWS, H2Conn, type WindowOptions } from "./conn";
import { buildGoaway, buildWindowUpdate, CLIENT_PREFACE, ErrorCode } from "./frames";
import { encodeHeaderList, encodeLiteral, type DecodeResult, type HeaderList } from "./hpack";
import { AgentPool, type AgentConn, type UpstreamCall } from "./upstream";

/** setTimeout's ceiling; longer gRPC deadlines are left to the two ends. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A client has this long to send the HTTP/2 preface. */
const PREFACE_TIMEOUT_MS = 10_000;
const MAX_CLIENT_STREAMS = 10_000;

export interface FrameRelayOptions {
  readonly registry: RegistrySource;
  readonly metrics: RouterMetrics;
  readonly logger: Logger;
  readonly maxHops: number;
  readonly isDraining: () => boolean;
  /** Calls in flight; the drain logic and /metrics read it. */
  readonly state: { active: number };
  readonly windows?: Partial<WindowOptions>;
  readonly upstreamIdleTimeoutMs?: number;
  /** Caller authentication (router/auth); none: every call is allowed. */
  readonly authenticator?: Authenticator;
  /** Close a client connection idle this long with no call open. */
  readonly idleTimeoutMs?: number;
}

export interface FrameRelay {
  readonly server: net.Server;
  readonly pool: AgentPool;
  /** GOAWAY to every client: open calls finish, new ones go elsewhere. */
  goawayAll(): void;
  /** Close every connection now. */
  destroyAll(): void;
}

interface Context extends FrameRelayOptions {
  readonly win: WindowOptions;
  readonly pool: AgentPool;
  readonly debug: boolean;
}

/** One item waiting to be sent on one side of a call: DATA (maybe ending the stream) or a final header block. */
class Pending {
  constructor(public payload: Buffer, readonly end: boolean, readonly isHeaders: boolean) {}
}

// Header blocks the router sends often, built once.
const hopLiterals: Buffer[] = [];
function hopLiteral(n: number): Buffer {
  return (hopLiterals[n] ??= encodeLiteral(HOP_COUNT_KEY, String(n)));
}
function statusBlock(code: StatusCode, message: string, withStatus: boolean): Buffer {
  const list: HeaderList = withStatus ? [":status", "200", "content-type", "application/grpc"] : [];
  list.push("grpc-status", String(code), "grpc-message", encodeGrpcMessage(message));
  return encodeHeaderList(list);
}
const BLOCK_415 = encodeHeaderList([":status", "415", "content-type", "text/plain"]);
/** Headers the router replaces when it forwards: its own hop count, and with authentication the credential and caller name. */
const HOPS_DROP: ReadonlySet<string> = new Set([HOP_COUNT_KEY]);
const AUTH_DROP: ReadonlySet<string> = new Set([HOP_COUNT_KEY, "authorization", CALLER_HEADER]);

/** A field value with NUL, CR or LF, or with whitespace at either end (RFC 9113 8.2.1). */
const MALFORMED_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;

/** The request headers the router reads; everything else is forwarded unread. */
interface RequestInfo {
  method?: string;
  path?: string;
  contentType?: string;
  hasHops: boolean;
  /** The caller sent x-pixell-caller, which only the router may set. */
  hasCaller: boolean;
  /** A field value breaks RFC 9113 8.2.1 (NUL, CR or LF, or whitespace at either end). */
  malformed: boolean;
  /** The header list's size as HTTP/2 counts it: name + value + 32 per field. */
  listBytes: number;
  /** Only the keys decideRoute and the authenticator read. */
  routing: Record<string, string>;
}
function readRequestInfo(h: HeaderList): RequestInfo {
  const info: RequestInfo = { hasHops: false, hasCaller: false, malformed: false, listBytes: 0, routing: {} };
  // One pass per call: routing keys, field validity and size together.
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const value = h[i + 1]!;
    info.listBytes += name.length + value.length + 32;
    if (MALFORMED_VALUE.test(value)) info.malformed = true;
    switch (name) {
      case ":method": info.method = h[i + 1]; break;
      case ":path": info.path = h[i + 1]; break;
      case "content-type": info.contentType = h[i + 1]; break;
      case HOP_COUNT_KEY: info.hasHops = true; info.routing[name] ??= h[i + 1]!; break;
      case "grpc-timeout": case "x-deployment-id": case "deployment-id": case "deployment_id": case "authorization":
        info.routing[name] ??= h[i + 1]!;
        break;
      case CALLER_HEADER: info.hasCaller = true; break;
      default: break;
    }
  }
  return info;
}


/** What to forward for a decoded block: the block itself when stateless, otherwise a stateless re-encoding. */
function forwardable(decoded: DecodeResult, block: Buffer, skip?: ReadonlySet<string>): Buffer {
  if (decoded.usedDynamic || skip !== undefined) return encodeHeaderList(decoded.headers, skip);
  return decoded.sizeUpdateBytes > 0 ? block.subarray(decoded.sizeUpdateBytes) : block;
}
function grpcStatusOf(h: HeaderList): number {
  for (let i = 0; i < h.length; i += 2) if (h[i] === "grpc-status") return Number(h[i + 1]);
  return Status.UNKNOWN;
}

/** One call: a client stream and, once routed, an agent stream. */
class Call implements UpstreamCall {
  id = "";
  deployment = UNRESOLVED;
  /** Final gRPC status once known; -1 while open. */
  code = -1;
  address = "";
  path = "";
  timeoutMs = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  // Request direction (client -> agent).
  requestBlock: Buffer | undefined = undefined;
  hopBlock: Buffer | undefined = undefined;
  readonly reqQueue: Pending[] = [];
  reqEnded = false;
  downRecvUnacked = 0;
  /** What the client may still send on this stream; more is a FLOW_CONTROL_ERROR. */
  downRecvWindow: number;
  up: AgentConn | undefined = undefined;
  waitingOn: AgentConn | undefined = undefined;
  upId = 0;
  upSendWindow = 0;
  upLocalEnded = false;
  upRemoteEnded = false;
  upReset = false;
  // Response direction (agent -> client).
  readonly respQueue: Pending[] = [];
  respHeadersSent = false;
  downEnded = false;
  downSendWindow: number;
  upRecvUnacked = 0;
  upRecvWindow: number;
  finished = false;

  constructor(readonly ctx: Context, readonly down: ClientConn, readonly downId: number, readonly started: number) {
    this.downSendWindow = down.peerInitialWindow;
    this.downRecvWindow = this.upRecvWindow = ctx.win.streamWindowBytes;
  }

  // ---- Routing ----

  begin(decoded: DecodeResult, block: Buffer, endStream: boolean, tooLarge: boolean): void {
    const ctx = this.ctx;
    ctx.state.active++;
    if (endStream) this.reqEnded = true;
    if (tooLarge) return this.refuse(Status.RESOURCE_EXHAUSTED, `request headers of ${block.length} bytes exceed the router's limit of ${ctx.win.maxHeaderBlockBytes} bytes`);
    const info = readRequestInfo(decoded.headers);
    if (info.malformed) {
      // RFC 9113 8.2.1: a malformed request is a stream error; it must not reach the agent.
      this.code = Status.INVALID_ARGUMENT;
      this.down.writeRst(this.downId, ErrorCode.PROTOCOL_ERROR);
      return this.onDownReset();
    }
    if (ctx.isDraining()) return this.refuse(Status.UNAVAILABLE, "router is shutting down: retry, the call will reach another task");
    this.path = info.path ?? "";
    if (info.method !== "POST" || info.contentType === undefined || !info.contentType.startsWith("application/grpc")) {
      // Not gRPC: the spec's answer is HTTP 415.
      this.code = Status.INVALID_ARGUMENT;
      this.respHeadersSent = true;
      this.down.writeHeaderBlock(this.downId, BLOCK_415, true);
      return this.closeDown();
    }
    const big = metadataTooLarge(info.listBytes);
    if (big !== undefined) return this.refuse(big.code, big.message);
    // Authenticate before the id is read or looked up: strangers learn nothing about deployments.
    const authenticator = ctx.authenticator;
    if (authenticator === undefined) return this.route(decoded, block, info, undefined);
    const auth = authenticator.authenticate(info.routing);
    if (auth instanceof Promise) {
      // The block may point into a socket buffer: keep a copy of our own while the check runs.
      const copy = Buffer.from(block);
      auth.then((result) => {
        if (this.finished) return;
        if (isRefusal(result)) return this.refuse(result.code, result.message);
        this.route(decoded, copy, info, result);
      }, (err: unknown) => {
        if (!this.finished) this.refuse(Status.UNAUTHENTICATED, `cannot verify credentials: ${(err as Error).message}`, "warn");
      });
      return;
    }
    if (isRefusal(auth)) return this.refuse(auth.code, auth.message);
    this.route(decoded, block, info, auth);
  }

  /** Everything after authentication: the id, the loop guard, the deadline, authorization, the lookup. */
  private route(decoded: DecodeResult, block: Buffer, info: RequestInfo, principal: Principal | undefined): void {
    const ctx = this.ctx;
    const decision = decideRoute(info.routing, ctx.maxHops);
    if ("error" in decision) return this.refuse(decision.error.code, decision.error.message, decision.warn ? "warn" : "debug");
    const id = decision.id;
    this.id = id;
    this.timeoutMs = decision.timeoutMs;
    let callerBlock: Buffer | undefined;
    if (principal !== undefined) {
      const denied = ctx.authenticator!.authorize(principal, id);
      if (denied !== undefined) return this.refuse(denied.code, denied.message);
      // The credential is for the router only; the agent learns who called, in a header only the router sets.
      callerBlock = encodeLiteral(CALLER_HEADER, principal.name);
    }
    const drop = principal !== undefined || info.hasCaller ? AUTH_DROP : info.hasHops ? HOPS_DROP : undefined;
    this.requestBlock = forwardable(decoded, block, drop);
    const hopBlock = hopLiteral(decision.hops + 1);
    this.hopBlock = callerBlock === undefined ? hopBlock : Buffer.concat([hopBlock, callerBlock]);

    let resolution;
    try {
      resolution = ctx.registry.lookup(id);
    } catch (err) {
      return this.refuse(Status.UNAVAILABLE, `cannot resolve deployment ${id}: ${(err as Error).message}`, "warn");
    }
    if (resolution === undefined) return this.notFound();
    if (resolution instanceof Promise) {
      // The block may point into a socket buffer: keep a copy of our own while the lookup runs.
      this.requestBlock = Buffer.from(this.requestBlock);
      resolution.then((t) => {
        if (this.finished) return;
        if (t === undefined) return this.notFound();
        this.deployment = id;
        this.forward(t);
      }, (err: unknown) => {
        if (!this.finished) this.refuse(Status.UNAVAILABLE, `cannot resolve deployment ${id}: ${(err as Error).message}`, "warn");
      });
      return;
    }
    this.deployment = id;
    this.forward(resolution);
  }

  private notFound(): void {
    this.refuse(Status.NOT_FOUND, `deployment ${this.id} is not registered: check the id, or whether it is deployed`);
  }

  private forward(target: Target): void {
    this.address = `${target.host}:${target.port}`;
    if (this.timeoutMs > 0 && this.timeoutMs < MAX_TIMER_MS) {
      // The agent gets the same grpc-timeout; this timer only frees the router when neither end acts on it.
      this.timer = setTimeout(onDeadline, Math.max(0, this.timeoutMs - (performance.now() - this.started)), this);
    }
    this.ctx.pool.start(target, this);
  }

  // ---- Agent side (UpstreamCall) ----

  onUpStart(conn: AgentConn, streamId: number): void {
    this.up = conn;
    this.upId = streamId;
    this.upSendWindow = conn.peerInitialWindow;
    if (this.finished) return; // released right after by finish()
    const endNow = this.reqEnded && this.reqQueue.length === 0;
    conn.writeHeaderBlock(streamId, this.requestBlock!, endNow, this.hopBlock);
    this.requestBlock = undefined;
    if (endNow) this.upLocalEnded = true;
    else this.pumpRequest();
  }

  onUpHeaders(decoded: DecodeResult, block: Buffer, endStream: boolean, tooLarge: boolean): void {
    if (this.finished || this.code >= 0) return;
    if (tooLarge) return this.fail(Status.UNAVAILABLE, `agent for deployment ${this.deployment} at ${this.address} sent response headers over ${this.ctx.win.maxHeaderBlockBytes} bytes`);
    if (!this.respHeadersSent) {
      this.respHeadersSent = true;
      if (endStream) {
        // Trailers-Only: the agent answered with a status and no messages.
        this.upRemoteEnded = true;
        this.code = grpcStatusOf(decoded.headers);
        this.down.writeHeaderBlock(this.downId, forwardable(decoded, block), true);
        return this.closeDown();
      }
      this.down.writeHeaderBlock(this.downId, forwardable(decoded, block), false);
      return;
    }
    // Trailers: they follow any DATA still waiting for the client's window.
    this.upRemoteEnded = true;
    this.code = grpcStatusOf(decoded.headers);
    this.respQueue.push(new Pending(Buffer.from(forwardable(decoded, block)), true, true));
    this.pumpResponse();
  }

  onUpData(payload: Buffer, paddingBytes: number, endStream: boolean): void {
    const up = this.up!;
    this.upRecvWindow -= payload.length + paddingBytes;
    if (this.upRecvWindow < 0 && !this.finished) {
      up.creditConnection(payload.length + paddingBytes);
      return this.fail(Status.UNAVAILABLE, `agent for deployment ${this.deployment} at ${this.address} sent more than its flow-control window allows`);
    }
    if (paddingBytes > 0) this.creditUp(paddingBytes);
    if (endStream) this.upRemoteEnded = true;
    if (this.finished || this.code >= 0) {
      up.creditConnection(payload.length);
      return;
    }
    if (!this.respHeadersSent) return this.fail(Status.UNAVAILABLE, `agent for deployment ${this.deployment} at ${this.address} sent DATA before response headers`);
    this.respQueue.push(new Pending(payload, false, false));
    this.pumpResponse();
    if (endStream) {
      // Ended without trailers, so without a status. A reset often follows in the same read and says more.
      setImmediate(endedWithoutStatus, this);
    }
  }

  onUpReset(code: number): void {
    this.upReset = true;
    if (this.finished) return;
    if (code === ErrorCode.NO_ERROR && this.upRemoteEnded) {
      // The agent answered in full and does not want the rest of the request.
      this.upLocalEnded = true;
      dropQueue(this.reqQueue, this.down);
      return;
    }
    this.fail(Status.UNAVAILABLE, `agent for deployment ${this.deployment} at ${this.address} failed: stream reset by the agent (HTTP/2 code ${code})`);
  }

  onUpFailed(reason: string, neverConnected: boolean): void {
    this.upReset = true;
    if (this.finished || this.upRemoteEnded) return;
    if (neverConnected) return this.fail(Status.UNAVAILABLE, `agent for deployment ${this.id} at ${this.address} cannot be reached: ${reason}`);
    this.fail(Status.UNAVAILABLE, `agent for deployment ${this.deployment} at ${this.address} failed: ${reason}`);
  }

  onUpWindow(): void {
    this.pumpRequest();
  }

  // ---- Client side ----

  onDownData(payload: Buffer, paddingBytes: number, endStream: boolean): void {
    this.downRecvWindow -= payload.length + paddingBytes;
    if (this.downRecvWindow < 0) {
      // The client ignored the window the router advertised: refuse to buffer it.
      this.down.creditConnection(payload.length + paddingBytes);
      this.reqEnded = true;
      this.down.writeRst(this.downId, ErrorCode.FLOW_CONTROL_ERROR);
      return this.onDownReset();
    }
    if (paddingBytes > 0) this.creditDown(paddingBytes);
    if (endStream) this.reqEnded = true;
    if (this.upLocalEnded || this.code >= 0) {
      this.down.creditConnection(payload.length);
      return;
    }
    this.reqQueue.push(new Pending(payload, endStream, false));
    this.pumpRequest();
  }

  onDownTrailers(decoded: DecodeResult, block: Buffer): void {
    this.reqEnded = true;
    if (this.upLocalEnded || this.code >= 0) return;
    this.reqQueue.push(new Pending(Buffer.from(forwardable(decoded, block)), true, true));
    this.pumpRequest();
  }

  onDownReset(): void {
    if (this.finished) return;
    // A client that reset the stream before any status cancelled the call.
    if (this.code < 0) this.code = Status.CANCELLED;
    this.downEnded = true;
    this.finish();
  }

  onDownWindow(): void {
    this.pumpResponse();
  }

  // ---- Moving bytes ----

  /** Sends queued request bytes to the agent as far as its windows allow; credits the client for what left. */
  private pumpRequest(): void {
    const up = this.up;
    if (up === undefined || this.upId === 0 || this.upLocalEnded || this.finished) return;
    const q = this.reqQueue;
    while (q.length > 0) {
      const item = q[0]!;
      if (item.isHeaders) {
        q.shift();
        up.writeHeaderBlock(this.upId, item.payload, true);
        this.upLocalEnded = true;
        return;
      }
      const len = item.payload.length;
      if (len > 0) {
        const room = Math.min(this.upSendWindow, up.sendWindow, up.peerMaxFrameSize);
        if (room <= 0 || up.congested) {
          if (up.sendWindow <= 0 || up.congested) up.blocked.add(this);
          return detachSmallViews(q);
        }
        if (len > room) {
          up.writeData(this.upId, item.payload.subarray(0, room), false);
          item.payload = item.payload.subarray(room);
          this.upSendWindow -= room;
          this.creditDown(room);
          continue;
        }
      }
      q.shift();
      up.writeData(this.upId, item.payload, item.end);
      this.upSendWindow -= len;
      this.creditDown(len);
      if (item.end) {
        this.upLocalEnded = true;
        return;
      }
    }
  }

  /** Sends queued response bytes and trailers to the client as far as its windows allow; credits the agent. */
  private pumpResponse(): void {
    const down = this.down;
    const q = this.respQueue;
    while (q.length > 0 && !this.finished) {
      const item = q[0]!;
      if (item.isHeaders) {
        q.shift();
        down.writeHeaderBlock(this.downId, item.payload, true);
        return this.closeDown();
      }
      const len = item.payload.length;
      if (len > 0) {
        const room = Math.min(this.downSendWindow, down.sendWindow, down.peerMaxFrameSize);
        if (room <= 0 || down.congested) {
          if (down.sendWindow <= 0 || down.congested) down.blocked.add(this);
          return detachSmallViews(q);
        }
        if (len > room) {
          down.writeData(this.downId, item.payload.subarray(0, room), false);
          item.payload = item.payload.subarray(room);
          this.downSendWindow -= room;
          this.creditUp(room);
          continue;
        }
      }
      q.shift();
      down.writeData(this.downId, item.payload, item.end);
      this.downSendWindow -= len;
      this.creditUp(len);
      if (item.end) return this.closeDown();
    }
  }

  private creditDown(bytes: number): void {
    if (bytes === 0) return;
    this.down.creditConnection(bytes);
    if (this.reqEnded) return;
    this.downRecvUnacked += bytes;
    if (this.downRecvUnacked >= this.ctx.win.streamWindowBytes >>> 2) {
      this.down.write(buildWindowUpdate(this.downId, this.downRecvUnacked));
      this.downRecvWindow += this.downRecvUnacked;
      this.downRecvUnacked = 0;
    }
  }

  private creditUp(bytes: number): void {
    if (bytes === 0) return;
    const up = this.up!;
    up.creditConnection(bytes);
    if (this.upRemoteEnded || this.upReset) return;
    this.upRecvUnacked += bytes;
    if (this.upRecvUnacked >= this.ctx.win.streamWindowBytes >>> 2) {
      up.creditStream(this.upId, this.upRecvUnacked);
      this.upRecvWindow += this.upRecvUnacked;
      this.upRecvUnacked = 0;
    }
  }

  // ---- Ending ----

  /** Refuses a call before it reached an agent: Trailers-Only with the router's status. */
  refuse(code: StatusCode, message: string, level: "debug" | "warn" = "debug"): void {
    this.code = code;
    const { logger, debug } = this.ctx;
    if (level === "warn" || debug) logger[level]({ deploymentId: this.id, path: this.path, code, reason: message }, "call refused");
    this.respHeadersSent = true;
    this.down.writeHeaderBlock(this.downId, statusBlock(code, message, true), true);
    this.closeDown();
  }

  /** Ends a forwarded call with a status of the router's own (agent gone, deadline passed). */
  fail(code: StatusCode, message: string): void {
    if (this.code >= 0 || this.finished) return;
    this.code = code;
    this.ctx.logger.warn({ deploymentId: this.deployment, upstream: this.address, code, reason: message }, "call failed in the router");
    this.resetUp(ErrorCode.CANCEL);
    const headersSent = this.respHeadersSent;
    this.respHeadersSent = true;
    if (this.up !== undefined) dropQueue(this.respQueue, this.up);
    this.down.writeHeaderBlock(this.downId, statusBlock(code, message, !headersSent), true);
    this.closeDown();
  }

  private resetUp(code: number): void {
    if (this.up !== undefined && this.upId !== 0 && !this.upReset && !(this.upLocalEnded && this.upRemoteEnded)) {
      this.up.writeRst(this.upId, code);
    }
    this.upReset = true;
  }

  /**
   * We sent END_STREAM to the client: the call is over. A client still sending is not reset
   * (grpc-js drops trailers followed by RST_STREAM NO_ERROR); it stops once it reads the status,
   * and DATA for a forgotten stream is credited and dropped at connection level.
   */
  private closeDown(): void {
    this.downEnded = true;
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const ctx = this.ctx;
    this.down.streams.delete(this.downId);
    this.down.blocked.delete(this);
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.code < 0) this.code = Status.CANCELLED;
    // Bytes that will never be forwarded still count against the senders' connection windows: give them back.
    dropQueue(this.reqQueue, this.down);
    if (this.up !== undefined) {
      dropQueue(this.respQueue, this.up);
      this.resetUp(this.upRemoteEnded ? ErrorCode.NO_ERROR : ErrorCode.CANCEL);
      this.up.release(this, this.upId);
    } else if (this.waitingOn !== undefined) {
      // Still waiting for a stream on a busy agent connection.
      this.waitingOn.release(this, 0);
    }
    ctx.state.active--;
    const seconds = (performance.now() - this.started) / 1000;
    ctx.metrics.recordCall(this.deployment, this.code, seconds);
    if (ctx.debug) ctx.logger.debug({ deploymentId: this.deployment, path: this.path, upstream: this.address, code: this.code, ms: seconds * 1000 }, "call finished");
  }
}

/**
 * Waiting DATA is a view into a socket read buffer; many small frames waiting could pin many
 * large buffers, so the window would no longer bound memory. Copy views that waste their buffer.
 */
function detachSmallViews(q: Pending[]): void {
  // Only the newest item: older ones were checked when they were newest.
  const item = q[q.length - 1]!;
  const p = item.payload;
  if (!item.isHeaders && p.buffer.byteLength > 4 * p.length + 1024) {
    const copy = Buffer.allocUnsafeSlow(p.length);
    p.copy(copy);
    item.payload = copy;
  }
}

/** Empties a queue, crediting the connection its DATA came from. */
function dropQueue(q: Pending[], from: H2Conn): void {
  let bytes = 0;
  for (const item of q) if (!item.isHeaders) bytes += item.payload.length;
  q.length = 0;
  if (bytes > 0) from.creditConnection(bytes);
}

function endedWithoutStatus(call: Call): void {
  call.fail(Status.UNAVAILABLE, `agent for deployment ${call.deployment} at ${call.address} failed: closed without a status`);
}

function onDeadline(call: Call): void {
  call.fail(Status.DEADLINE_EXCEEDED, `deadline of ${call.timeoutMs}ms exceeded calling deployment ${call.deployment}`);
}

/** The router's side toward one client connection. */
export class ClientConn extends H2Conn {
  readonly streams = new Map<number, Call>();
  readonly blocked = new Set<Call>();
  private lastStreamId = 0;
  private prefaceSeen = 0;
  private prefaceTimer: NodeJS.Timeout | undefined;
  goawaySent = false;

  constructor(socket: net.Socket, private readonly ctx: Context, private readonly conns: Set<ClientConn>) {
    super(socket, ctx.win);
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

  protected onStreamWindowUpdate(streamId: number, increment: number): void {
    const call = this.streams.get(streamId);
    if (call === undefined) return;
    call.downSendWindow += increment;
    call.onDownWindow();
  }

  protected onConnectionWindow(): void {
    if (this.blocked.size === 0) return;
    const calls = [...this.blocked];
    this.blocked.clear();
    for (const c of calls) c.onDownWindow();
  }

  protected onInitialWindowChange(delta: number): void {
    for (const call of this.streams.values()) {
      call.downSendWindow += delta;
      if (delta > 0) call.onDownWindow();
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

/** Starts accepting connections (call `server.listen` next). */
export function createFrameRelay(opts: FrameRelayOptions): FrameRelay {
  const win: WindowOptions = { ...DEFAULT_WINDOWS, ...opts.windows };
  const pool = new AgentPool({ logger: opts.logger, windows: win, idleTimeoutMs: opts.upstreamIdleTimeoutMs });
  const ctx: Context = { ...opts, win, pool, debug: opts.logger.isLevelEnabled("debug") };
  const conns = new Set<ClientConn>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    new ClientConn(socket, ctx, conns);
  });
  return {
    server,
    pool,
    goawayAll() {
      for (const c of conns) c.sendGoaway();
    },
    destroyAll() {
      for (const c of [...conns]) c.destroy();
      pool.closeAll();
    },
  };
}

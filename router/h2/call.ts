/**
 * One call through the frame relay: a client stream and, once routed, an agent stream, with a
 * RelayStream for each direction. The call policy (router/call-policy.ts) decides whether it is
 * forwarded; this file turns its decisions into frames and ends the call with the right status.
 */
import type { Principal } from "../auth";
import { refusals, type CallPolicy, type PolicyCall, type Refusal } from "../call-policy";
import {
  checkResponseHead, checkTrailers, contentLengthExceededRule, contentLengthShortRule, INFORMATIONAL_END_RULE, TRAILERS_NOT_LAST_RULE,
} from "./field-rules";
import type { Logger } from "../../lib/log";
import type { RouterMetrics } from "../metrics";
import { UNRESOLVED } from "../metrics";
import type { Target } from "../../registry/types";
import { Status, type RouteRequest, type StatusCode } from "../routing";
import type { WindowOptions } from "./conn";
import { wastesItsBuffer } from "./buffer-view";
import { ErrorCode } from "./frames";
import { AUTH_DROP, BLOCK_415, callerLiteral, forwardable, grpcStatusOf, hopLiteral, HOPS_DROP, statusBlock } from "./header-blocks";
import type { DecodeResult } from "./hpack";
import { NO_REQUEST, readRequestInfo, type RequestInfo } from "./request-info";
import { RelayStream, type BufferBudget, type StreamOwner } from "./stream";
import type { StreamConn } from "./stream-conn";
import type { AgentConn, AgentPool, UpstreamCall } from "./upstream";

/** setTimeout's ceiling; longer gRPC deadlines are left to the two ends. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What every call shares: one per relay. */
export interface CallContext {
  readonly win: WindowOptions;
  readonly pool: AgentPool;
  readonly policy: CallPolicy;
  /** Bytes queued for slow receivers whose connection credit went back early (stream isolation). */
  readonly budget: BufferBudget;
  readonly metrics: RouterMetrics;
  readonly logger: Logger;
  readonly debug: boolean;
  /** Calls in flight; the drain logic and /metrics read it. */
  readonly state: { active: number };
}

/** The client side of a call, as the call sees its connection (ClientConn). */
export interface ClientSide extends StreamConn<Call> {
  /** The client's address, for refusal logs. */
  readonly peer: string;
  /** Opens the agent stream (deferred to the end of the client's current read). */
  startUpstream(target: Target, call: Call): void;
  /** The call is done with its client stream (`clientEnded`: the client had sent END_STREAM). */
  streamClosed(streamId: number, clientEnded: boolean): void;
}

export class Call implements UpstreamCall, PolicyCall, StreamOwner {
  id = "";
  deployment = UNRESOLVED;
  /** Final gRPC status once known; -1 while open. */
  code = -1;
  address = "";
  timeoutMs = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  request: RequestInfo = NO_REQUEST;
  principal: Principal | undefined = undefined;
  /** The request's header block and its decoding, until prepare() turns them into what is forwarded. */
  private decoded: DecodeResult | undefined = undefined;
  private block: Buffer | undefined = undefined;
  private requestBlock: Buffer | undefined = undefined;
  private hopBlock: Buffer | undefined = undefined;
  /** Client → agent. */
  readonly toAgent: RelayStream;
  /** Agent → client. */
  readonly toClient: RelayStream;
  up: AgentConn | undefined = undefined;
  waitingOn: AgentConn | undefined = undefined;
  /** Where the call is forwarded, for its one retry (retryRefused). */
  private target: Target | undefined = undefined;
  private retried = false;
  private upId = 0;
  private upReset = false;
  private respHeadersSent = false;
  /** content-length of the request and of the response (-1: none) and the DATA bytes seen against it (RFC 9113 8.1.1). */
  private reqLength = -1;
  private reqSeen = 0;
  private respLength = -1;
  private respSeen = 0;
  finished = false;

  constructor(private readonly ctx: CallContext, private readonly down: ClientSide, private readonly downId: number, readonly started: number) {
    const window = ctx.win.streamWindowBytes;
    this.toAgent = new RelayStream(this, window, ctx.budget);
    this.toAgent.receiveFrom(down, downId);
    this.toClient = new RelayStream(this, window, ctx.budget);
    this.toClient.sendTo(down, downId);
  }

  // ---- Routing (the call policy decides) ----

  begin(decoded: DecodeResult, block: Buffer, endStream: boolean, tooLarge: boolean): void {
    const ctx = this.ctx;
    ctx.state.active++;
    if (endStream) this.toAgent.remoteEnded = true;
    this.request = readRequestInfo(decoded.headers, decoded.badValueAt);
    this.decoded = decoded;
    this.block = block;
    if (tooLarge) return ctx.policy.refuse(this, refusals.headerBlockTooLarge(block.length, ctx.win.maxHeaderBlockBytes));
    // RFC 9113 8.1.1: a malformed request is a stream error; it must not reach the agent.
    const rule = this.request.malformed;
    if (rule !== undefined) return ctx.policy.refuse(this, refusals.malformed(rule));
    const length = this.request.contentLength;
    if (endStream && length > 0) return ctx.policy.refuse(this, refusals.malformed(contentLengthShortRule(length, 0)));
    this.reqLength = length;
    ctx.policy.admit(this);
  }

  get ended(): boolean {
    return this.finished;
  }

  peerAddress(): string {
    return this.down.peer;
  }

  /** The block may point into a socket buffer: keep a copy of our own while an async step runs. */
  suspend(): void {
    if (this.requestBlock !== undefined) this.requestBlock = Buffer.from(this.requestBlock);
    else if (this.block !== undefined) this.block = Buffer.from(this.block);
  }

  prepare(route: RouteRequest, principal: Principal | undefined): void {
    this.id = route.id;
    this.timeoutMs = route.timeoutMs;
    const info = this.request;
    const drop = principal !== undefined || info.hasCaller ? AUTH_DROP : info.hasHops ? HOPS_DROP : undefined;
    this.requestBlock = forwardable(this.decoded!, this.block!, drop);
    this.decoded = undefined;
    this.block = undefined;
    const hopBlock = hopLiteral(route.hops + 1);
    // The credential is for the router only; the agent learns who called, in a header only the router sets.
    this.hopBlock = principal === undefined ? hopBlock : Buffer.concat([hopBlock, callerLiteral(principal.name)]);
  }

  forward(target: Target): void {
    this.deployment = this.id;
    this.target = target;
    this.address = `${target.host}:${target.port}`;
    if (this.timeoutMs > 0 && this.timeoutMs < MAX_TIMER_MS) {
      // The agent gets the same grpc-timeout; this timer only frees the router when neither end acts on it.
      this.timer = setTimeout(onDeadline, Math.max(0, this.timeoutMs - (performance.now() - this.started)), this);
    }
    this.down.startUpstream(target, this);
  }

  /** Answers a refusal (the policy logged it): Trailers-Only with the router's status, HTTP 415, or a reset. */
  answer(refusal: Refusal): void {
    this.code = refusal.code;
    if (refusal.answer === "reset") {
      this.down.writeRst(this.downId, ErrorCode.PROTOCOL_ERROR);
      return this.onDownReset();
    }
    this.respHeadersSent = true;
    this.down.writeHeaderBlock(this.downId, refusal.answer === "http415" ? BLOCK_415 : statusBlock(refusal.code, refusal.message, true), true);
    this.finish();
  }

  // ---- Agent side (UpstreamCall) ----

  onUpStart(conn: AgentConn, streamId: number): void {
    this.up = conn;
    this.upId = streamId;
    const toAgent = this.toAgent;
    toAgent.sendTo(conn, streamId);
    this.toClient.receiveFrom(conn, streamId);
    if (this.finished) return; // released right after by finish()
    const endNow = toAgent.remoteEnded && toAgent.idle;
    const block = this.requestBlock!;
    conn.writeHeaderBlock(streamId, block, endNow, this.hopBlock);
    if (this.retried) this.requestBlock = undefined;
    else {
      // Kept, with what follows of the request, until the agent answers: it may refuse the stream (retryRefused).
      this.requestBlock = wastesItsBuffer(block) ? Buffer.from(block) : block;
      toAgent.keepSent();
    }
    if (endNow) toAgent.localEnded = true;
    else toAgent.pump();
  }

  onUpHeaders(decoded: DecodeResult, block: Buffer, endStream: boolean, tooLarge: boolean): void {
    if (this.finished || this.code >= 0) return;
    if (tooLarge) return this.fail(Status.UNAVAILABLE, `agent for deployment ${this.deployment} at ${this.address} sent response headers over ${this.ctx.win.maxHeaderBlockBytes} bytes`);
    if (!this.respHeadersSent) {
      const head = checkResponseHead(decoded.headers, decoded.badValueAt);
      if (head.rule !== undefined) return this.malformedResponse(head.rule);
      if (head.status < 200) {
        // RFC 9113 8.1: informational responses (101 was refused above) precede the final one; gRPC has no use for them.
        if (endStream) return this.malformedResponse(INFORMATIONAL_END_RULE);
        return;
      }
      if (endStream && head.contentLength > 0) return this.malformedResponse(contentLengthShortRule(head.contentLength, 0));
      this.respLength = head.contentLength;
      this.respHeadersSent = true;
      // The agent is processing the call: it will not be sent again.
      this.requestBlock = undefined;
      this.toAgent.forgetSent();
      if (endStream) {
        // Trailers-Only: the agent answered with a status and no messages.
        this.toClient.remoteEnded = true;
        this.code = grpcStatusOf(decoded.headers);
        this.down.writeHeaderBlock(this.downId, forwardable(decoded, block), true);
        return this.finish();
      }
      this.down.writeHeaderBlock(this.downId, forwardable(decoded, block), false);
      return;
    }
    // Trailers: they follow any DATA still waiting for the client's window.
    if (!endStream) return this.malformedResponse(TRAILERS_NOT_LAST_RULE);
    const rule = checkTrailers(decoded.headers, decoded.badValueAt) ?? (this.respSeen < this.respLength ? contentLengthShortRule(this.respLength, this.respSeen) : undefined);
    if (rule !== undefined) return this.malformedResponse(rule);
    this.toClient.remoteEnded = true;
    this.code = grpcStatusOf(decoded.headers);
    this.toClient.pushTrailers(Buffer.from(forwardable(decoded, block)));
  }

  onUpData(payload: Buffer, paddingBytes: number, endStream: boolean): void {
    const toClient = this.toClient;
    if (!toClient.received(payload, paddingBytes, endStream)) {
      if (!this.finished) this.fail(Status.UNAVAILABLE, `agent for deployment ${this.deployment} at ${this.address} sent more than its flow-control window allows`);
      return;
    }
    if (this.finished || this.code >= 0) return toClient.discard(payload.length);
    if (!this.respHeadersSent) return this.fail(Status.UNAVAILABLE, `agent for deployment ${this.deployment} at ${this.address} sent DATA before response headers`);
    if (this.respLength >= 0) {
      const seen = (this.respSeen += payload.length);
      const rule = seen > this.respLength ? contentLengthExceededRule(this.respLength, seen)
        : endStream && seen < this.respLength ? contentLengthShortRule(this.respLength, seen) : undefined;
      if (rule !== undefined) {
        toClient.discard(payload.length);
        return this.malformedResponse(rule);
      }
    }
    toClient.pushData(payload, false);
    if (endStream) {
      // Ended without trailers, so without a status. A reset often follows in the same read and says more.
      setImmediate(endedWithoutStatus, this);
    }
  }

  onUpReset(code: number): void {
    if (code === ErrorCode.REFUSED_STREAM && this.retryRefused()) return;
    this.upReset = true;
    this.toClient.senderReset = true;
    if (this.finished) return;
    if (code === ErrorCode.NO_ERROR && this.toClient.remoteEnded) {
      // The agent answered in full and does not want the rest of the request.
      this.toAgent.localEnded = true;
      this.toAgent.drop();
      return;
    }
    this.fail(Status.UNAVAILABLE, `agent for deployment ${this.deployment} at ${this.address} failed: stream reset by the agent (HTTP/2 code ${code})`);
  }

  /**
   * RFC 9113 section 8.7: a stream refused with REFUSED_STREAM was not processed, so the request may be sent
   * again. Once per call, to the same agent address through the pool (behind the agent's stream limit, which is
   * known by now), and only while no response began and the request sent so far was all kept (RelayStream.rewind:
   * up to REPLAY_LIMIT_BYTES of DATA); otherwise, or when refused again, the call fails UNAVAILABLE as before,
   * which a gRPC client may retry itself. (GOAWAY's unprocessed streams are not retried here: onUpFailed.)
   */
  private retryRefused(): boolean {
    const conn = this.up;
    if (this.retried || this.finished || this.code >= 0 || this.respHeadersSent || conn === undefined || this.target === undefined || this.requestBlock === undefined) return false;
    if (!this.toAgent.rewind()) return false;
    this.retried = true;
    const id = this.upId;
    this.up = undefined;
    this.upId = 0;
    conn.release(this, id);
    if (this.ctx.debug) this.ctx.logger.debug({ deploymentId: this.deployment, upstream: this.address, streamId: id }, "agent refused the stream (REFUSED_STREAM): sending the call again");
    this.ctx.metrics.recordUpstreamRetry(this.deployment, "refused_stream");
    this.ctx.pool.start(this.target, this);
    return true;
  }

  onUpFailed(reason: string, neverConnected: boolean): void {
    this.upReset = true;
    this.toClient.senderReset = true;
    if (this.finished || this.toClient.remoteEnded) return;
    if (neverConnected) return this.fail(Status.UNAVAILABLE, refusals.unreachable(this.id, this.address, reason).message);
    this.fail(Status.UNAVAILABLE, `agent for deployment ${this.deployment} at ${this.address} failed: ${reason}`);
  }

  // ---- Client side ----

  onDownData(payload: Buffer, paddingBytes: number, endStream: boolean): void {
    const toAgent = this.toAgent;
    if (!toAgent.received(payload, paddingBytes, endStream)) {
      // The client ignored the window the router advertised: refuse to buffer it.
      toAgent.remoteEnded = true;
      this.down.writeRst(this.downId, ErrorCode.FLOW_CONTROL_ERROR);
      return this.onDownReset();
    }
    if (toAgent.localEnded || this.code >= 0) return toAgent.discard(payload.length);
    if (this.reqLength >= 0) {
      // RFC 9113 8.1.1: past content-length on any DATA, short of it at END_STREAM.
      const seen = (this.reqSeen += payload.length);
      const rule = seen > this.reqLength ? contentLengthExceededRule(this.reqLength, seen)
        : endStream && seen < this.reqLength ? contentLengthShortRule(this.reqLength, seen) : undefined;
      if (rule !== undefined) {
        toAgent.discard(payload.length);
        return this.malformedRequest(rule);
      }
    }
    toAgent.pushData(payload, endStream);
  }

  onDownTrailers(decoded: DecodeResult, block: Buffer): void {
    const toAgent = this.toAgent;
    toAgent.remoteEnded = true;
    if (toAgent.localEnded || this.code >= 0) return;
    // RFC 9113 8.1: no pseudo-header in trailers, the same field rules as headers; content-length is due by now.
    const rule = checkTrailers(decoded.headers, decoded.badValueAt) ?? (this.reqSeen < this.reqLength ? contentLengthShortRule(this.reqLength, this.reqSeen) : undefined);
    if (rule !== undefined) return this.malformedRequest(rule);
    toAgent.pushTrailers(Buffer.from(forwardable(decoded, block)));
  }

  /**
   * The request turned out malformed after its headers (content-length, trailers): RST_STREAM PROTOCOL_ERROR
   * to the client through the policy's refusal path; finish() cancels the agent's stream if it was started.
   */
  private malformedRequest(rule: string): void {
    this.ctx.policy.refuse(this, refusals.malformed(rule));
  }

  /** A malformed response block or body from the agent: UNAVAILABLE to the client, PROTOCOL_ERROR to the agent's stream. */
  private malformedResponse(rule: string): void {
    this.fail(Status.UNAVAILABLE, `agent for deployment ${this.deployment} at ${this.address} sent a malformed response: ${rule}`, ErrorCode.PROTOCOL_ERROR);
  }

  onDownReset(): void {
    if (this.finished) return;
    // A client that reset the stream before any status cancelled the call.
    if (this.code < 0) this.code = Status.CANCELLED;
    this.finish();
  }

  // ---- Ending ----

  /** A direction's END_STREAM went out: the response's ends the call. */
  streamEnded(stream: RelayStream): void {
    if (stream === this.toClient) this.finish();
  }

  /** Ends a forwarded call with a status of the router's own (agent gone, deadline passed). */
  fail(code: StatusCode, message: string, upCode: number = ErrorCode.CANCEL): void {
    if (this.code >= 0 || this.finished) return;
    this.code = code;
    this.ctx.logger.warn({ deploymentId: this.deployment, upstream: this.address, code, reason: message }, "call failed in the router");
    this.resetUp(upCode);
    const headersSent = this.respHeadersSent;
    this.respHeadersSent = true;
    this.toClient.drop();
    this.down.writeHeaderBlock(this.downId, statusBlock(code, message, !headersSent), true);
    this.finish();
  }

  private resetUp(code: number): void {
    if (this.up !== undefined && this.upId !== 0 && !this.upReset && !(this.toAgent.localEnded && this.toClient.remoteEnded)) {
      this.up.writeRst(this.upId, code);
    }
    this.upReset = true;
    this.toClient.senderReset = true;
  }

  /**
   * The call is over (END_STREAM or a reset went to the client). A client still sending is not reset
   * (grpc-js drops trailers followed by RST_STREAM NO_ERROR); it stops once it reads the status,
   * and DATA for a forgotten stream is credited and dropped at connection level.
   */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const ctx = this.ctx;
    this.down.streamClosed(this.downId, this.toAgent.remoteEnded);
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.code < 0) this.code = Status.CANCELLED;
    // Bytes that will never be forwarded still count against the senders' connection windows: give them back.
    this.toAgent.drop();
    this.toClient.drop();
    if (this.up !== undefined) {
      this.resetUp(this.toClient.remoteEnded ? ErrorCode.NO_ERROR : ErrorCode.CANCEL);
      this.up.release(this, this.upId);
    } else if (this.waitingOn !== undefined) {
      // Still waiting for a stream on a busy agent connection.
      this.waitingOn.release(this, 0);
    }
    ctx.state.active--;
    const seconds = (performance.now() - this.started) / 1000;
    ctx.metrics.recordCall(this.deployment, this.code, seconds);
    if (ctx.debug) ctx.logger.debug({ deploymentId: this.deployment, path: this.request.path, upstream: this.address, code: this.code, ms: seconds * 1000 }, "call finished");
  }
}


function endedWithoutStatus(call: Call): void {
  call.fail(Status.UNAVAILABLE, `agent for deployment ${call.deployment} at ${call.address} failed: closed without a status`);
}

function onDeadline(call: Call): void {
  call.fail(Status.DEADLINE_EXCEEDED, `deadline of ${call.timeoutMs}ms exceeded calling deployment ${call.deployment}`);
}

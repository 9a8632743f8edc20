/**
 * Transparent gRPC forwarding over raw HTTP/2 streams: headers, DATA frames and trailers
 * are passed through as they are, never decoded, so any service, method and streaming
 * kind works and message size is whatever the two ends agree on.
 *
 * This is the router's hot path, written for speed: no closures per call. Every event
 * handler is one shared function that finds its call through the emitting stream, and
 * bytes move with manual write/pause/resume instead of `pipe` (which adds and removes a
 * dozen listeners per stream). Backpressure: when one side's write buffer is full the
 * other side is paused, so HTTP/2 flow control stops the sender instead of the router
 * buffering.
 */
import * as http2 from "node:http2";
import type { Logger } from "../../lib/log";
import { prepareForwardedHeaders, type Authenticator, type Principal } from "../auth";
import { CallPolicy, refusals, type CallRequest, type PolicyCall, type Refusal } from "../call-policy";
import type { RouterMetrics } from "../metrics";
import { UNRESOLVED } from "../metrics";
import type { RegistrySource, Target } from "../../registry/types";
import { upstreamFailure, type UpstreamPool } from "./upstream";
import type { GuardedSession, Http2Guard } from "./guard";
import { encodeGrpcMessage, headerListSize, HOP_COUNT_KEY, Status, type RouteRequest, type StatusCode } from "../routing";

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;
/** setTimeout's ceiling; longer gRPC deadlines are left to the two ends. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const END_STREAM_OPTIONS = { endStream: true };
const WAIT_FOR_TRAILERS_OPTIONS = { waitForTrailers: true };
const REQUEST_OPTIONS = { endStream: false };
const HTTP_415 = { ":status": 415, "content-type": "text/plain" };

export interface ProxyOptions {
  readonly registry: RegistrySource;
  readonly pool: UpstreamPool;
  readonly metrics: RouterMetrics;
  readonly logger: Logger;
  /** Calls that already passed this many routers are refused (loop guard). */
  readonly maxHops: number;
  readonly isDraining: () => boolean;
  /** Caller authentication (router/auth); none: every call is allowed (local mode). */
  readonly authenticator?: Authenticator;
  /** Premature-reset accounting (router/http2/guard.ts); none: not counted. */
  readonly guard?: Http2Guard;
}

/** Counts calls in flight; the drain logic and /metrics read it. */
export interface ProxyState {
  active: number;
}

/** The state of one call, reachable from both of its streams. */
class Call implements PolicyCall {
  /** The deployment id the call asked for, once it parsed. */
  id = "";
  /** Metrics label: the id once it resolved to an agent, so unknown ids cannot grow label cardinality. */
  deployment = UNRESOLVED;
  /** Final gRPC status once known; -1 while the call is open. */
  code = -1;
  up: http2.ClientHttp2Stream | undefined = undefined;
  address = "";
  trailers: http2.IncomingHttpHeaders | undefined = undefined;
  errorTrailers: http2.OutgoingHttpHeaders | undefined = undefined;
  wantTrailers = false;
  upClosed = false;
  /** The client session's premature-reset accounting (router/http2/guard.ts), when guarded. */
  guarded: GuardedSession | undefined = undefined;
  upError: Error | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  timeoutMs = 0;
  /** Who is calling, once authenticated (undefined when authentication is off). */
  principal: Principal | undefined = undefined;
  readonly request: CallRequest;

  constructor(
    readonly ctx: Context,
    readonly down: http2.ServerHttp2Stream,
    readonly headers: http2.IncomingHttpHeaders,
    rawHeaders: string[],
    readonly started: number,
  ) {
    const ct = headers["content-type"];
    this.request = { method: headers[":method"], contentType: ct, path: headers[":path"], headerListBytes: headerListSize(rawHeaders), headers };
  }

  // ---- PolicyCall ----

  get ended(): boolean {
    return this.down.destroyed || this.down.closed;
  }

  peerAddress(): string {
    return this.down.session?.socket?.remoteAddress ?? "";
  }

  answer(refusal: Refusal): void {
    this.code = refusal.code;
    const down = this.down;
    if (refusal.answer === "http415") {
      if (!down.headersSent && !down.destroyed) down.respond(HTTP_415, END_STREAM_OPTIONS);
      return;
    }
    respondStatus(down, refusal.code, refusal.message);
  }

  prepare(route: RouteRequest, principal: Principal | undefined): void {
    this.id = route.id;
    this.timeoutMs = route.timeoutMs;
    // The credential is for the router only; the agent learns who called.
    if (principal !== undefined) prepareForwardedHeaders(this.headers, principal);
    this.headers[HOP_COUNT_KEY] = String(route.hops + 1);
  }

  suspend(): void {
    // Node's http2 owns the header object: nothing points into a socket buffer.
  }

  forward(target: Target): void {
    this.deployment = this.id;
    forward(this, target);
  }
}

/** What every call shares: one per router. */
interface Context extends ProxyOptions {
  readonly state: ProxyState;
  readonly debug: boolean;
  readonly policy: CallPolicy;
}

const kCall = Symbol("pixell.call");
type WithCall<T> = T & { [kCall]: Call };

/** Responds with a gRPC status and no messages ("Trailers-Only"), as the gRPC over HTTP/2 spec allows. */
function respondStatus(stream: http2.ServerHttp2Stream, code: StatusCode, message: string): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond(
    { ":status": 200, "content-type": "application/grpc", "grpc-status": code, "grpc-message": encodeGrpcMessage(message) },
    END_STREAM_OPTIONS,
  );
}

/** Ends a forwarded call with a status of the router's own (agent gone, deadline passed). */
function fail(call: Call, code: StatusCode, message: string): void {
  if (call.code >= 0) return;
  call.code = code;
  call.ctx.logger.warn({ deploymentId: call.deployment, upstream: call.address, code, reason: message }, "call failed in the router");
  const { up, down } = call;
  if (up !== undefined && !up.closed) up.close(NGHTTP2_CANCEL);
  if (!down.headersSent) return respondStatus(down, code, message);
  call.errorTrailers = { "grpc-status": code, "grpc-message": encodeGrpcMessage(message) };
  if (up !== undefined) up.removeListener("data", upOnData);
  if (!down.writableEnded) down.end();
  else sendTrailersWhenReady(call);
}

function sendTrailersWhenReady(call: Call): void {
  if (!call.wantTrailers || call.down.destroyed) return;
  const t = call.trailers ?? call.errorTrailers;
  if (t !== undefined) call.down.sendTrailers(t);
}

// ---- Downstream (client) stream handlers: `this` is the client's stream. ----

function downOnData(this: WithCall<http2.ServerHttp2Stream>, chunk: Buffer): void {
  const up = this[kCall].up!;
  if (!up.write(chunk)) this.pause();
}
function downOnEnd(this: WithCall<http2.ServerHttp2Stream>): void {
  const up = this[kCall].up!;
  if (!up.closed) up.end();
}
function downOnDrain(this: WithCall<http2.ServerHttp2Stream>): void {
  this[kCall].up?.resume();
}
function downOnWantTrailers(this: WithCall<http2.ServerHttp2Stream>): void {
  const call = this[kCall];
  call.wantTrailers = true;
  sendTrailersWhenReady(call);
}
function downOnClose(this: WithCall<http2.ServerHttp2Stream>): void {
  const call = this[kCall];
  const { ctx } = call;
  ctx.state.active--;
  if (call.timer !== undefined) clearTimeout(call.timer);
  // A client that reset the stream before any status is a cancel; set before the
  // upstream closes so its close handler does not report the agent as failed.
  const premature = call.code < 0 && !call.down.headersSent;
  if (call.code < 0) call.code = Status.CANCELLED;
  if (call.guarded !== undefined) ctx.guard?.onStreamClosed(call.guarded, premature);
  const code = call.code;
  // The client gave up (cancel, its deadline, a reset): the agent's call ends too.
  const up = call.up;
  if (up !== undefined && !call.upClosed) up.close(NGHTTP2_CANCEL);
  const seconds = (performance.now() - call.started) / 1000;
  ctx.metrics.recordCall(call.deployment, code, seconds);
  if (ctx.debug) ctx.logger.debug({ deploymentId: call.deployment, path: call.headers[":path"], upstream: call.address, code, ms: seconds * 1000 }, "call finished");
}
function noop(): void {}

// ---- Upstream (agent) stream handlers: `this` is the stream to the agent. ----

function upOnResponse(this: WithCall<http2.ClientHttp2Stream>, headers: http2.IncomingHttpHeaders, flags: number): void {
  const call = this[kCall];
  const down = call.down;
  if (down.destroyed || down.closed) return;
  if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
    // Trailers-Only: the agent answered with a status and no messages.
    call.code = Number(headers["grpc-status"] ?? Status.UNKNOWN);
    down.respond(headers, END_STREAM_OPTIONS);
    return;
  }
  down.respond(headers, WAIT_FOR_TRAILERS_OPTIONS);
}
function upOnData(this: WithCall<http2.ClientHttp2Stream>, chunk: Buffer): void {
  if (!this[kCall].down.write(chunk)) this.pause();
}
function upOnDrain(this: WithCall<http2.ClientHttp2Stream>): void {
  this[kCall].down.resume();
}
function upOnEnd(this: WithCall<http2.ClientHttp2Stream>): void {
  const down = this[kCall].down;
  if (!down.destroyed && down.headersSent && !down.writableEnded) down.end();
}
function upOnTrailers(this: WithCall<http2.ClientHttp2Stream>, trailers: http2.IncomingHttpHeaders): void {
  const call = this[kCall];
  call.trailers = trailers;
  if (call.code < 0) call.code = Number(trailers["grpc-status"] ?? Status.UNKNOWN);
  sendTrailersWhenReady(call);
}
function upOnError(this: WithCall<http2.ClientHttp2Stream>, err: Error): void {
  this[kCall].upError = err;
}
function upOnClose(this: WithCall<http2.ClientHttp2Stream>): void {
  const call = this[kCall];
  call.upClosed = true;
  if (call.timer !== undefined) clearTimeout(call.timer);
  if (call.trailers !== undefined || call.code >= 0) return;
  const why = call.upError?.message ?? upstreamFailure(this) ?? (this.rstCode ? `stream reset by the agent (HTTP/2 code ${this.rstCode})` : "closed without a status");
  fail(call, Status.UNAVAILABLE, `agent for deployment ${call.deployment} at ${call.address} failed: ${why}`);
}

function onDeadline(call: Call): void {
  fail(call, Status.DEADLINE_EXCEEDED, `deadline of ${call.timeoutMs}ms exceeded calling deployment ${call.deployment}`);
}

function forward(call: Call, target: Target): void {
  const down = call.down;
  if (down.destroyed || down.closed) return;
  const id = call.id;
  let up: WithCall<http2.ClientHttp2Stream>;
  try {
    up = call.ctx.pool.request(target, call.headers, REQUEST_OPTIONS) as WithCall<http2.ClientHttp2Stream>;
  } catch (err) {
    return call.ctx.policy.refuse(call, refusals.unreachable(id, `${target.host}:${target.port}`, (err as Error).message));
  }
  call.up = up;
  call.address = `${target.host}:${target.port}`;
  up[kCall] = call;
  up.on("response", upOnResponse);
  up.on("data", upOnData);
  up.on("end", upOnEnd);
  up.on("trailers", upOnTrailers);
  up.on("error", upOnError);
  up.on("close", upOnClose);
  up.on("drain", upOnDrain);
  down.on("wantTrailers", downOnWantTrailers);
  down.on("drain", downOnDrain);
  down.on("data", downOnData);
  down.on("end", downOnEnd);
  if (call.timeoutMs > 0 && call.timeoutMs < MAX_TIMER_MS) {
    // The agent gets the same grpc-timeout; this timer only frees the router when neither end acts on it.
    call.timer = setTimeout(onDeadline, Math.max(0, call.timeoutMs - (performance.now() - call.started)), call);
  }
}

/** Builds the handler for the server's `stream` event. */
export function createStreamHandler(opts: ProxyOptions, state: ProxyState): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void {
  const policy = new CallPolicy(opts);
  const ctx: Context = { ...opts, state, debug: opts.logger.isLevelEnabled("debug"), policy };

  return function onStream(stream, headers, _flags, rawHeaders) {
    const call = new Call(ctx, stream, headers, rawHeaders, performance.now());
    (stream as WithCall<http2.ServerHttp2Stream>)[kCall] = call;
    state.active++;
    call.guarded = ctx.guard?.onStream(stream);
    // Errors on the client's stream (a reset) are handled through 'close'.
    stream.on("error", noop);
    stream.on("close", downOnClose);
    policy.admit(call);
  };
}

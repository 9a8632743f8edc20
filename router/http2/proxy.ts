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
import { isRefusal, prepareForwardedHeaders, type AuthResult, type Authenticator, type Principal } from "../auth";
import type { RouterMetrics } from "../metrics";
import { UNRESOLVED } from "../metrics";
import type { RegistrySource, Target } from "../../registry/types";
import type { UpstreamPool } from "./upstream";
import {
  decideRoute,
  encodeGrpcMessage,
  headerListSize,
  metadataTooLarge,
  HOP_COUNT_KEY,
  Status,
  type StatusCode,
} from "../routing";

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;
/** setTimeout's ceiling; longer gRPC deadlines are left to the two ends. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const END_STREAM_OPTIONS = { endStream: true };
const WAIT_FOR_TRAILERS_OPTIONS = { waitForTrailers: true };
const REQUEST_OPTIONS = { endStream: false };

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
}

/** Counts calls in flight; the drain logic and /metrics read it. */
export interface ProxyState {
  active: number;
}

/** The state of one call, reachable from both of its streams. */
class Call {
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
  upError: Error | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  timeoutMs = 0;
  /** Who is calling, once authenticated (undefined when authentication is off). */
  principal: Principal | undefined = undefined;

  constructor(
    readonly ctx: Context,
    readonly down: http2.ServerHttp2Stream,
    readonly headers: http2.IncomingHttpHeaders,
    readonly started: number,
  ) {}
}

/** What every call shares: one per router. */
interface Context extends ProxyOptions {
  readonly state: ProxyState;
  readonly debug: boolean;
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

/** Refuses a call before it reached an agent. */
function refuse(call: Call, code: StatusCode, message: string, level: "debug" | "warn" = "debug"): void {
  call.code = code;
  const { logger } = call.ctx;
  if (level === "warn" || call.ctx.debug) logger[level]({ deploymentId: call.id, path: call.headers[":path"], code, reason: message }, "call refused");
  respondStatus(call.down, code, message);
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
  if (call.code < 0) call.code = Status.CANCELLED;
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
  const why = call.upError?.message ?? (this.rstCode ? `stream reset by the agent (HTTP/2 code ${this.rstCode})` : "closed without a status");
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
    up = call.ctx.pool.get(target).request(call.headers, REQUEST_OPTIONS) as WithCall<http2.ClientHttp2Stream>;
  } catch (err) {
    return refuse(call, Status.UNAVAILABLE, `agent for deployment ${id} at ${target.host}:${target.port} cannot be reached: ${(err as Error).message}`, "warn");
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

function notFound(call: Call): void {
  refuse(call, Status.NOT_FOUND, `deployment ${call.id} is not registered: check the id, or whether it is deployed`);
}
function routeResolved(this: Call, target: Target | undefined): void {
  if (target === undefined) return notFound(this);
  this.deployment = this.id;
  forward(this, target);
}
function routeFailed(this: Call, err: unknown): void {
  refuse(this, Status.UNAVAILABLE, `cannot resolve deployment ${this.id}: ${(err as Error).message}`, "warn");
}

/** Builds the handler for the server's `stream` event. */
export function createStreamHandler(opts: ProxyOptions, state: ProxyState): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void {
  const ctx: Context = { ...opts, state, debug: opts.logger.isLevelEnabled("debug") };
  const { isDraining } = opts;

  return function onStream(stream, headers, _flags, rawHeaders) {
    const call = new Call(ctx, stream, headers, performance.now());
    (stream as WithCall<http2.ServerHttp2Stream>)[kCall] = call;
    state.active++;
    // Errors on the client's stream (a reset) are handled through 'close'.
    stream.on("error", noop);
    stream.on("close", downOnClose);

    if (isDraining()) return refuse(call, Status.UNAVAILABLE, "router is shutting down: retry, the call will reach another task");
    const contentType = headers["content-type"];
    if (headers[":method"] !== "POST" || typeof contentType !== "string" || !contentType.startsWith("application/grpc")) {
      // Not gRPC: the spec's answer is HTTP 415.
      call.code = Status.INVALID_ARGUMENT;
      if (!stream.headersSent && !stream.destroyed) stream.respond({ ":status": 415, "content-type": "text/plain" }, END_STREAM_OPTIONS);
      return;
    }
    // Refused here with a status the client will not retry; forwarded, the agent's connection would
    // refuse the stream and the client would see UNAVAILABLE blaming the agent.
    const tooLarge = metadataTooLarge(headerListSize(rawHeaders));
    if (tooLarge !== undefined) return refuse(call, tooLarge.code, tooLarge.message);
    // Authenticate before the id is read or looked up: strangers learn nothing about deployments.
    const authenticator = ctx.authenticator;
    if (authenticator === undefined) return route(call);
    const auth = authenticator.authenticate(headers);
    if (auth instanceof Promise) {
      auth.then(authenticated.bind(call), authFailed.bind(call));
      return;
    }
    authenticated.call(call, auth);
  };
}

function authenticated(this: Call, result: AuthResult): void {
  if (this.down.destroyed || this.down.closed) return;
  if (isRefusal(result)) return refuse(this, result.code, result.message);
  this.principal = result;
  route(this);
}
function authFailed(this: Call, err: unknown): void {
  refuse(this, Status.UNAUTHENTICATED, `cannot verify credentials: ${(err as Error).message}`, "warn");
}

/** Everything after authentication: the id, the loop guard, the deadline, authorization, the lookup. */
function route(call: Call): void {
  const { headers, ctx } = call;
  const { registry, maxHops, authenticator } = ctx;
  const decision = decideRoute(headers, maxHops);
  if ("error" in decision) return refuse(call, decision.error.code, decision.error.message, decision.warn ? "warn" : "debug");
  const { id, hops } = decision;
  call.id = id;
  call.timeoutMs = decision.timeoutMs;
  if (authenticator !== undefined && call.principal !== undefined) {
    const denied = authenticator.authorize(call.principal, id);
    if (denied !== undefined) return refuse(call, denied.code, denied.message);
    // The credential is for the router only; the agent learns who called.
    prepareForwardedHeaders(headers, call.principal);
  }
  headers[HOP_COUNT_KEY] = String(hops + 1);

  let resolution;
  try {
    resolution = registry.lookup(id);
  } catch (err) {
    return refuse(call, Status.UNAVAILABLE, `cannot resolve deployment ${id}: ${(err as Error).message}`, "warn");
  }
  if (resolution === undefined) return notFound(call);
  if (resolution instanceof Promise) {
    resolution.then(routeResolved.bind(call), routeFailed.bind(call));
    return;
  }
  call.deployment = id;
  forward(call, resolution);
}

/**
 * Transparent gRPC forwarding over raw HTTP/2 streams: headers, DATA frames and trailers
 * are passed through as they are, never decoded, so any service, method and streaming
 * kind works and message size is whatever the two ends agree on. Backpressure comes from
 * `pipe` over HTTP/2 flow control: a slow reader stops the agent, not the router's memory.
 */
import * as http2 from "node:http2";
import type { Logger } from "./log";
import type { RouterMetrics } from "./metrics";
import { UNRESOLVED } from "./metrics";
import type { RegistrySource, Target } from "./registry/types";
import type { UpstreamPool } from "./upstream";
import {
  encodeGrpcMessage,
  extractDeploymentId,
  HOP_COUNT_KEY,
  parseGrpcTimeout,
  readHopCount,
  Status,
  type StatusCode,
} from "./routing";

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;
/** setTimeout's ceiling; longer gRPC deadlines are left to the two ends. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ProxyOptions {
  readonly registry: RegistrySource;
  readonly pool: UpstreamPool;
  readonly metrics: RouterMetrics;
  readonly logger: Logger;
  /** Calls that already passed this many routers are refused (loop guard). */
  readonly maxHops: number;
  readonly isDraining: () => boolean;
}

/** Counts calls in flight; the drain logic and /metrics read it. */
export interface ProxyState {
  active: number;
}

/** Responds with a gRPC status and no messages ("Trailers-Only"), as the gRPC over HTTP/2 spec allows. */
function respondStatus(stream: http2.ServerHttp2Stream, code: StatusCode, message: string): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond(
    { ":status": 200, "content-type": "application/grpc", "grpc-status": code, "grpc-message": encodeGrpcMessage(message) },
    { endStream: true },
  );
}

function statusTrailers(code: StatusCode, message: string): http2.OutgoingHttpHeaders {
  return { "grpc-status": code, "grpc-message": encodeGrpcMessage(message) };
}

/** Builds the handler for the server's `stream` event. */
export function createStreamHandler(opts: ProxyOptions, state: ProxyState): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void {
  const { registry, pool, metrics, logger, maxHops, isDraining } = opts;
  const debug = logger.isLevelEnabled("debug");

  return function onStream(stream, headers) {
    const started = performance.now();
    state.active++;
    // Errors on the downstream stream (a client reset) are handled through 'close'.
    stream.on("error", noop);

    let deployment = UNRESOLVED;
    let code = -1;
    stream.once("close", () => {
      state.active--;
      // A client that reset the stream before any status is a cancel.
      metrics.recordCall(deployment, code < 0 ? Status.CANCELLED : code, (performance.now() - started) / 1000);
    });

    const refuse = (c: StatusCode, message: string, level: "debug" | "warn" = "debug"): void => {
      code = c;
      logger[level]({ deploymentId: deployment, path: headers[":path"], code: c, msg: message }, "call refused");
      respondStatus(stream, c, message);
    };

    if (isDraining()) return refuse(Status.UNAVAILABLE, "router is shutting down: retry, the call will reach another task");
    const contentType = headers["content-type"];
    if (headers[":method"] !== "POST" || typeof contentType !== "string" || !contentType.startsWith("application/grpc")) {
      // Not gRPC: the spec's answer is HTTP 415.
      code = Status.INVALID_ARGUMENT;
      if (!stream.headersSent && !stream.destroyed) stream.respond({ ":status": 415, "content-type": "text/plain" }, { endStream: true });
      return;
    }
    const parsed = extractDeploymentId(headers);
    if ("error" in parsed) return refuse(parsed.error.code, parsed.error.message);
    const id = parsed.id;

    const hops = readHopCount(headers);
    if (hops >= maxHops) {
      return refuse(Status.FAILED_PRECONDITION,
        `routing loop: the call for deployment ${id} already passed ${hops} routers (${HOP_COUNT_KEY}); ` +
        "a registry entry probably points at a router instead of an agent", "warn");
    }
    let timeoutMs: number | undefined;
    const timeoutHeader = headers["grpc-timeout"];
    if (timeoutHeader !== undefined) {
      timeoutMs = parseGrpcTimeout(String(timeoutHeader));
      if (timeoutMs === undefined) return refuse(Status.INVALID_ARGUMENT, `malformed grpc-timeout ${JSON.stringify(String(timeoutHeader).slice(0, 32))}: expected 1-8 digits and a unit of H, M, S, m, u or n`);
    }
    headers[HOP_COUNT_KEY] = String(hops + 1);

    const route = (target: Target | undefined): void => {
      if (stream.destroyed || stream.closed) return;
      if (target === undefined) return refuse(Status.NOT_FOUND, `deployment ${id} is not registered: check the id, or whether it is deployed`);
      deployment = id;
      forward(stream, headers, id, target, timeoutMs, started);
    };
    let resolution;
    try {
      resolution = registry.lookup(id);
    } catch (err) {
      return refuse(Status.UNAVAILABLE, `cannot resolve deployment ${id}: ${(err as Error).message}`, "warn");
    }
    if (resolution instanceof Promise) {
      resolution.then(route, (err: unknown) => refuse(Status.UNAVAILABLE, `cannot resolve deployment ${id}: ${(err as Error).message}`, "warn"));
    } else {
      route(resolution);
    }

    function forward(down: http2.ServerHttp2Stream, reqHeaders: http2.IncomingHttpHeaders, deploymentId: string,
      target: Target, deadlineMs: number | undefined, t0: number): void {
      const address = `${target.host}:${target.port}`;
      let up: http2.ClientHttp2Stream;
      try {
        up = pool.get(target).request(reqHeaders, { endStream: false });
      } catch (err) {
        return refuse(Status.UNAVAILABLE, `agent for deployment ${deploymentId} at ${address} cannot be reached: ${(err as Error).message}`, "warn");
      }

      let trailers: http2.IncomingHttpHeaders | undefined;
      let errorTrailers: http2.OutgoingHttpHeaders | undefined;
      let wantTrailers = false;
      let upstreamClosed = false;
      let upstreamError: Error | undefined;
      let timer: NodeJS.Timeout | undefined;

      const sendTrailersWhenReady = (): void => {
        if (!wantTrailers || down.destroyed) return;
        const t = trailers ?? errorTrailers;
        if (t !== undefined) down.sendTrailers(t);
      };
      /** Ends the call with a status of the router's own (agent gone, deadline passed). */
      const fail = (c: StatusCode, message: string): void => {
        if (code >= 0) return;
        code = c;
        logger.warn({ deploymentId, upstream: address, code: c, msg: message }, "call failed in the router");
        if (!up.closed) up.close(NGHTTP2_CANCEL);
        if (!down.headersSent) return respondStatus(down, c, message);
        errorTrailers = statusTrailers(c, message);
        up.unpipe(down);
        if (!down.writableEnded) down.end();
        else sendTrailersWhenReady();
      };

      up.on("response", (resHeaders, flags) => {
        if (down.destroyed || down.closed) return;
        if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
          // Trailers-Only: the agent answered with a status and no messages.
          code = Number(resHeaders["grpc-status"] ?? Status.UNKNOWN);
          down.respond(resHeaders, { endStream: true });
          return;
        }
        down.respond(resHeaders, { waitForTrailers: true });
        up.pipe(down);
      });
      up.on("trailers", (t) => {
        trailers = t;
        if (code < 0) code = Number(t["grpc-status"] ?? Status.UNKNOWN);
        sendTrailersWhenReady();
      });
      down.on("wantTrailers", () => {
        wantTrailers = true;
        sendTrailersWhenReady();
      });
      up.on("error", (err: Error) => { upstreamError = err; });
      up.once("close", () => {
        upstreamClosed = true;
        if (timer !== undefined) clearTimeout(timer);
        down.unpipe(up);
        if (trailers !== undefined || code >= 0) return;
        const why = upstreamError?.message ?? (up.rstCode ? `stream reset by the agent (HTTP/2 code ${up.rstCode})` : "closed without a status");
        fail(Status.UNAVAILABLE, `agent for deployment ${deploymentId} at ${address} failed: ${why}`);
      });

      down.once("close", () => {
        if (timer !== undefined) clearTimeout(timer);
        // The client gave up (cancel, its deadline, a reset): the agent's call ends too.
        if (!upstreamClosed) up.close(NGHTTP2_CANCEL);
        if (debug) {
          logger.debug({ deploymentId, path: reqHeaders[":path"], upstream: address, code, ms: Math.round((performance.now() - t0) * 1000) / 1000 }, "call finished");
        }
      });

      if (deadlineMs !== undefined && deadlineMs < MAX_TIMER_MS) {
        // The agent gets the same grpc-timeout; this timer only frees the router when neither end acts on it.
        timer = setTimeout(() => fail(Status.DEADLINE_EXCEEDED, `deadline of ${deadlineMs}ms exceeded calling deployment ${deploymentId}`),
          Math.max(0, deadlineMs - (performance.now() - t0)));
      }
      down.pipe(up);
    }
  };
}

function noop(): void {}

/**
 * The frame relay: the router as an HTTP/2 (h2c, prior knowledge) server on raw sockets.
 * Each call's request header block is decoded only to route it and forwarded verbatim
 * (plus an appended x-pixell-hops literal; re-encoded only when it used the dynamic table or
 * a header must go: a caller's credential, or the hop count it came with); DATA frames are forwarded
 * with the stream id rewritten. Stream credit is passed back only as bytes leave the router, so a
 * call's buffering is bounded by the stream windows the router advertises; connection credit is
 * passed back as bytes are queued, so one stalled stream holds only itself (stream.ts).
 *
 * This file wires the parts: client connections (client-conn.ts), calls (call.ts), the pool of
 * agent connections (upstream.ts) and the call policy both engines share (../call-policy.ts).
 */
import * as net from "node:net";
import type { Authenticator } from "../auth";
import { CallPolicy } from "../call-policy";
import type { KeepaliveOptions } from "../keepalive";
import type { Logger } from "../../lib/log";
import type { RouterMetrics } from "../metrics";
import type { RegistrySource } from "../../registry/types";
import { LimitReporter } from "../limit-report";
import { ClientConn, type ClientConnContext } from "./client-conn";
import { DEFAULT_WINDOWS, type WindowOptions } from "./conn";
import { BufferBudget } from "./stream";
import { AgentPool } from "./upstream";

/**
 * What the relay may hold for receivers that do not read, over all streams, with their senders'
 * connection windows already credited: 128 stalled streams at the 1 MiB stream window. Past it,
 * connection credit waits for bytes to leave (memory stays bounded; isolation degrades).
 */
export const DEFAULT_ISOLATION_BUFFER_BYTES = 128 << 20;

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
  /** Agent connections: PING keepalive and connect timeout (router/keepalive.ts). */
  readonly upstreamKeepalive?: KeepaliveOptions;
  readonly upstreamConnectTimeoutMs?: number;
  /** Caller authentication (router/auth); none: every call is allowed. */
  readonly authenticator?: Authenticator;
  /** Close a client connection idle this long with no call open. */
  readonly idleTimeoutMs?: number;
  /** Default DEFAULT_ISOLATION_BUFFER_BYTES. */
  readonly isolationBufferBytes?: number;
}

export interface FrameRelay {
  readonly server: net.Server;
  readonly pool: AgentPool;
  /** GOAWAY to every client: open calls finish, new ones go elsewhere. */
  goawayAll(): void;
  /** Close every connection now. */
  destroyAll(): void;
}

/** Starts accepting connections (call `server.listen` next). */
export function createFrameRelay(opts: FrameRelayOptions): FrameRelay {
  const win: WindowOptions = { ...DEFAULT_WINDOWS, ...opts.windows };
  const limits = new LimitReporter(opts.metrics, opts.logger);
  const pool = new AgentPool({
    logger: opts.logger, windows: win, idleTimeoutMs: opts.upstreamIdleTimeoutMs, limits,
    keepalive: opts.upstreamKeepalive, connectTimeoutMs: opts.upstreamConnectTimeoutMs,
  });
  const logger = opts.logger;
  const limit = opts.isolationBufferBytes ?? DEFAULT_ISOLATION_BUFFER_BYTES;
  const budget = new BufferBudget(limit, (held) => {
    logger.warn({ heldBytes: held, limitBytes: limit }, "receivers that do not read hold the relay's isolation buffer: senders' connection windows now wait for their bytes to leave");
  });
  const ctx: ClientConnContext = {
    win, pool, policy: new CallPolicy(opts), budget, metrics: opts.metrics, logger,
    debug: opts.logger.isLevelEnabled("debug"), state: opts.state, idleTimeoutMs: opts.idleTimeoutMs, limits,
  };
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

/**
 * Assembles a running router: registry sources, the HTTP/2 gRPC listener with the proxy,
 * the admin server, and graceful draining.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import type * as net from "node:net";
import type { AddressInfo } from "node:net";
import { createAdminServer } from "./admin";
import type { HostPort, RouterEngine } from "./config";
import { DEFAULT_ENGINE, parseHostPort, ROUTER_ENGINES } from "./config";
import { createFrameRelay } from "./h2";
import type { KeepaliveOptions } from "./keepalive";
import { createLogger, type Logger } from "../lib/log";
import { RouterMetrics } from "./metrics";
import { createStreamHandler, type ProxyOptions, type ProxyState } from "./http2/proxy";
import { Http2Guard } from "./http2/guard";
import { LimitReporter } from "./limit-report";
import type { Authenticator } from "./auth";
import { RegistryChain } from "../registry/chain";
import { createSources, type SourceFactory } from "../registry/create";
import type { RegistrySource } from "../registry/types";
import { UpstreamPool } from "./http2/upstream";

export interface RouterOptions {
  /** gRPC listen address, `host:port` (port 0: any free port). */
  readonly listen: string | HostPort;
  /** Admin HTTP address; default `127.0.0.1:0`. */
  readonly admin?: string | HostPort;
  /** A registry spec (`file:PATH,par:URL,cloudmap:NS/SVC`) or a ready-made source. */
  readonly registry: string | RegistrySource;
  /** How long in-flight calls may run after drain starts. */
  readonly drainMs?: number;
  readonly maxHops?: number;
  /**
   * `frames` (HTTP/2 frame relay on raw sockets) or `http2` (Node's http2 module).
   * Default: the ROUTER_ENGINE environment variable, else `frames`.
   */
  readonly engine?: RouterEngine;
  /** Close a client connection after this long without any traffic (open streams may finish). */
  readonly idleTimeoutMs?: number;
  /** PING keepalive on agent connections; default 20 s interval, 10 s timeout (router/keepalive.ts); intervalMs 0: off. */
  readonly agentKeepalive?: KeepaliveOptions;
  /** An agent connection attempt without an HTTP/2 handshake after this long fails its calls; default 3000. */
  readonly agentConnectTimeoutMs?: number;
  readonly logger?: Logger;
  /** Caller authentication and authorization (router/auth); none: every call is allowed. */
  readonly authenticator?: Authenticator;
  /** Builds sources for specs this module does not construct itself (cloudmap). */
  readonly sourceFactory?: SourceFactory;
}

export interface RunningRouter {
  readonly port: number;
  readonly adminPort: number;
  readonly registry: RegistrySource;
  readonly metrics: RouterMetrics;
  /** Calls in flight now. */
  activeCalls(): number;
  /** Stop taking calls (new ones get UNAVAILABLE, /readyz says 503), wait for in-flight ones up to drainMs, then close. */
  drain(): Promise<{ drained: boolean }>;
  /** Close everything now. */
  close(): Promise<void>;
}

function engineOf(opts: RouterOptions): RouterEngine {
  const e = opts.engine ?? process.env.ROUTER_ENGINE ?? DEFAULT_ENGINE;
  if (!(ROUTER_ENGINES as readonly string[]).includes(e)) throw new Error(`router engine must be one of ${ROUTER_ENGINES.join(", ")}, got ${JSON.stringify(e)}`);
  return e as RouterEngine;
}

/** The gRPC listener, whichever engine runs it. */
interface Listener {
  readonly port: number;
  upstreamConnections(): number;
  /** Stop accepting; GOAWAY to clients so they open new connections elsewhere. */
  startDrain(): void;
  /** Close every connection now. */
  close(): Promise<void>;
}

function listenOn(server: http.Server | http2.Http2Server | net.Server, addr: HostPort): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(addr.port, addr.host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startRouter(opts: RouterOptions): Promise<RunningRouter> {
  const logger = opts.logger ?? createLogger("pixell-router");
  const listen = typeof opts.listen === "string" ? parseHostPort(opts.listen, "listen") : opts.listen;
  const adminAddr = opts.admin === undefined ? { host: "127.0.0.1", port: 0 } : typeof opts.admin === "string" ? parseHostPort(opts.admin, "admin") : opts.admin;
  const drainMs = opts.drainMs ?? 20_000;

  const registry = typeof opts.registry === "string" ? new RegistryChain(createSources(opts.registry, logger, opts.sourceFactory)) : opts.registry;
  const engine = engineOf(opts);
  const state: ProxyState = { active: 0 };
  let loaded = false;
  let draining = false;
  let listener: Listener | undefined;
  const metrics = new RouterMetrics({
    activeStreams: () => state.active,
    upstreamConnections: () => listener?.upstreamConnections() ?? 0,
    registry: () => (registry instanceof RegistryChain ? registry.sources : [registry]),
  });

  const admin = createAdminServer({ registry, metrics, logger, isReady: () => loaded && !draining });
  const adminPort = await listenOn(admin, adminAddr);
  await registry.start();
  loaded = true;

  const proxyOptions: ProxyOptionsBase = {
    registry, metrics, logger, maxHops: opts.maxHops ?? 3, isDraining: () => draining, authenticator: opts.authenticator,
    idleTimeoutMs: opts.idleTimeoutMs ?? 300_000,
    agentKeepalive: opts.agentKeepalive, agentConnectTimeoutMs: opts.agentConnectTimeoutMs,
  };
  listener = engine === "frames" ? await listenFrames(proxyOptions, state, listen) : await listenHttp2(proxyOptions, state, listen, logger);
  const port = listener.port;
  logger.info({ listen: `${listen.host}:${port}`, admin: `${adminAddr.host}:${adminPort}`, registry: registry.description, engine }, "router started");

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    draining = true;
    await Promise.all([
      listener!.close(),
      new Promise<void>((r) => { admin.closeAllConnections(); admin.close(() => r()); }),
      registry.close(),
    ]);
  };

  return {
    port,
    adminPort,
    registry,
    metrics,
    activeCalls: () => state.active,
    async drain() {
      draining = true;
      logger.info({ inFlight: state.active, drainMs }, "draining: refusing new calls, waiting for in-flight ones");
      // GOAWAY: clients open new connections elsewhere; streams already open run to their end.
      listener!.startDrain();
      const deadline = Date.now() + drainMs;
      while (state.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      const drained = state.active === 0;
      logger.info({ drained, left: state.active }, "drain finished");
      await close();
      return { drained };
    },
    close,
  };
}

type ProxyOptionsBase = Omit<ProxyOptions, "pool"> & {
  /** Close a client connection after this long without any traffic (open streams may finish). */
  readonly idleTimeoutMs: number;
  readonly agentKeepalive: KeepaliveOptions | undefined;
  readonly agentConnectTimeoutMs: number | undefined;
};

async function listenHttp2(proxyOptions: ProxyOptionsBase, state: ProxyState, listen: HostPort, logger: Logger): Promise<Listener> {
  const pool = new UpstreamPool({ logger, keepalive: proxyOptions.agentKeepalive, connectTimeoutMs: proxyOptions.agentConnectTimeoutMs });
  const sessions = new Set<http2.ServerHttp2Session>();
  // Node's limits named, premature resets counted (router/http2/guard.ts).
  const guard = new Http2Guard(new LimitReporter(proxyOptions.metrics, logger));
  // Large windows keep big messages and fast streams moving; per-stream backpressure still bounds memory.
  const server = http2.createServer(guard.serverOptions({ initialWindowSize: 1 << 20 }));
  server.on("session", (session) => {
    sessions.add(session);
    guard.onSession(session);
    session.setLocalWindowSize(16 << 20);
    session.on("error", (err: Error) => logger.debug({ err: err.message }, "client session error"));
    // Frees connections nobody uses, including ones Node stops reading after it sent GOAWAY for a
    // protocol error (it never closes those itself). close(): streams still open run to their end.
    session.setTimeout(proxyOptions.idleTimeoutMs, () => session.close());
    session.once("close", () => sessions.delete(session));
  });
  server.on("stream", createStreamHandler({ ...proxyOptions, pool, guard }, state));
  const port = await listenOn(server, listen);
  return {
    port,
    upstreamConnections: () => pool.size,
    startDrain() {
      server.close();
      for (const s of sessions) if (!s.closed) s.close();
    },
    async close() {
      for (const s of sessions) s.destroy();
      pool.closeAll(true);
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function listenFrames(proxyOptions: ProxyOptionsBase, state: ProxyState, listen: HostPort): Promise<Listener> {
  const relay = createFrameRelay({
    ...proxyOptions, state, upstreamKeepalive: proxyOptions.agentKeepalive, upstreamConnectTimeoutMs: proxyOptions.agentConnectTimeoutMs,
  });
  const port = await listenOn(relay.server, listen);
  return {
    port,
    upstreamConnections: () => relay.pool.size,
    startDrain() {
      relay.server.close();
      relay.goawayAll();
    },
    async close() {
      relay.destroyAll();
      await new Promise<void>((r) => relay.server.close(() => r()));
    },
  };
}

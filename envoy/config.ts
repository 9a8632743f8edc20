/**
 * The Envoy sidecar's configuration, built by pure functions (no I/O):
 * - `buildBootstrap(input)`: the whole bootstrap for mode `router` (Option A: every call to the
 *   router) or `xds` (Option B: listeners, routes and clusters over ADS from the router).
 * - The xDS resource builders the bootstrap and the router's xDS server share:
 *   `buildListener`, `buildApiListener`, `buildRouteConfiguration`, `buildClusters`, `buildEndpoints`,
 *   and `buildXdsSnapshot` that puts them together for a list of deployments.
 */
import { isIP } from "node:net";
import {
  A2A_PORT, ENVOY_ADMIN_SOCKET, ENVOY_ADMIN_SOCKET_MODE, ENVOY_READY_PATH, ENVOY_READY_PORT, ROUTER_ADMIN_PORT, ROUTER_PORT, XDS_SOCKET,
} from "../lib/ports";
import { isValidDeploymentId, type DeploymentRecord, type Target } from "../registry/types";
import { shutdownPlan } from "../lib/shutdown";
import type {
  Bootstrap, CircuitBreakerThresholds, Cluster, ClusterLoadAssignment, ConfigSource, Duration, Filter, HealthCheck,
  Listener, PipeAddress, Route, RouteAction, RouteConfiguration, SocketAddress, TypedConfig,
} from "./types";

export type EnvoyMode = "router" | "xds";
export const ENVOY_MODES: readonly EnvoyMode[] = ["router", "xds"];

/** Resource names: Envoy's stats, the access log's `upstream_cluster` and the xDS server use them. */
export const ROUTER_CLUSTER = "pixell_router";
export const XDS_CLUSTER = "pixell_xds";
export const A2A_LISTENER = "a2a";
export const READY_LISTENER = "ready";
export const ROUTE_CONFIG_NAME = "a2a_routes";
/** The listener a gRPC xDS client asks for with target `xds:///pixell-a2a`. */
export const DEFAULT_API_LISTENER = "pixell-a2a";
export const DEPLOYMENT_HEADER = "x-deployment-id";
/** The router's readiness path on its admin port: 200 only while it can route. */
export const ROUTER_READY_PATH = "/readyz";

/** Cluster name of one deployment. Ids are validated before they get here; the prefix keeps them apart from our own clusters. */
export function deploymentClusterName(id: string): string {
  return `deployment_${id}`;
}

/**
 * The cluster's name in Envoy's stats. Envoy's tag extraction splits stat names on "." (e.g.
 * `cluster.<name>.upstream_rq_total`), so an id like `a.b` would be read as cluster `a` with a
 * stat `b.upstream_rq_total`; Cluster.alt_stat_name ("the name used for emitting stats for the
 * cluster") takes its place there, with dots replaced by "_".
 */
export function deploymentStatName(id: string): string {
  return deploymentClusterName(id).replace(/\./g, "_");
}

export interface CircuitBreakerLimits {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  /** Concurrent requests (streams) to the cluster: Envoy's default of 1024 is too low for a shared A2A entry point. */
  readonly maxRequests: number;
  readonly maxRetries: number;
}

export interface RouterHealthCheck {
  readonly interval: Duration;
  readonly timeout: Duration;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

export interface EnvoyConfigInput {
  readonly mode: EnvoyMode;
  /** A2A listener port (HTTP/2 gRPC from the NLB). */
  readonly listenPort: number;
  /**
   * Envoy's admin, on a Unix socket (mode 0600) in a directory only the Envoy container mounts:
   * on a loopback port every agent in the task could POST /quitquitquit, /healthcheck/fail or
   * /logging?level=debug (which logs callers' tokens).
   */
  readonly adminSocket: string;
  readonly readyPort: number;
  readonly readyPath: string;
  /** The router, in the same task. */
  readonly router: Target;
  readonly routerAdminPort: number;
  /** The router's xDS server (mode xds), on a Unix socket in a volume only the router and Envoy mount. */
  readonly xdsSocket: string;
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS on each A2A connection. Envoy's default is 2^31-1, so one
   * connection could take the router cluster's whole max_requests. Callers' gRPC libraries queue
   * calls beyond it rather than failing them (test/process/envoy-overload.test.ts).
   */
  readonly maxConcurrentStreams: number;
  /** Closes a stream with no bytes in either direction for this long. Envoy's default (5 min) would cut quiet long calls. */
  readonly streamIdleTimeout: Duration;
  readonly connectTimeout: Duration;
  /** HTTP/2 PING interval on client connections: keeps quiet long calls alive through the NLB's 350 s idle timeout. */
  readonly keepaliveInterval: Duration;
  /**
   * A2A connections get a GOAWAY this long after they open, idle or not: the only thing that
   * reaches an idle connection before a deploy's NLB reset (lib/shutdown.ts).
   */
  readonly maxConnectionDuration: Duration;
  /** First to final GOAWAY on a draining connection (HCM `drain_timeout`). */
  readonly drainTimeout: Duration;
  /** HTTP/2 PING on upstream connections (router, agents): a peer gone without a FIN is noticed within interval + timeout. */
  readonly upstreamKeepalive: { readonly interval: Duration; readonly timeout: Duration };
  readonly circuitBreakers: CircuitBreakerLimits;
  readonly routerHealthCheck: RouterHealthCheck;
  /** Envoy's node id and cluster, sent to the xDS server. */
  readonly nodeId: string;
  readonly nodeCluster: string;
}

export const DEFAULT_ENVOY_INPUT: EnvoyConfigInput = {
  mode: "router",
  listenPort: A2A_PORT,
  adminSocket: ENVOY_ADMIN_SOCKET,
  readyPort: ENVOY_READY_PORT,
  readyPath: ENVOY_READY_PATH,
  router: { host: "127.0.0.1", port: ROUTER_PORT },
  routerAdminPort: ROUTER_ADMIN_PORT,
  xdsSocket: XDS_SOCKET,
  // Envoy's edge guide says 100; A2A callers hold long streaming calls, and a caller with more
  // than 100 open on one channel would see its next call wait. 256 still bounds what one connection
  // can take of the router cluster (max_requests 16384) and of Envoy's heap.
  maxConcurrentStreams: 256,
  streamIdleTimeout: "3600s",
  // Loopback connects finish in the kernel; only a full accept backlog (a wedged agent) holds one up.
  connectTimeout: "2s",
  keepaliveInterval: "60s",
  maxConnectionDuration: `${shutdownPlan().maxConnectionDurationSeconds}s`,
  drainTimeout: `${shutdownPlan().drainTimeoutSeconds}s`,
  // A dead peer is noticed in 30 s at most, instead of hanging new streams until stream_idle_timeout (1 h).
  upstreamKeepalive: { interval: "20s", timeout: "10s" },
  circuitBreakers: { maxConnections: 4096, maxPendingRequests: 4096, maxRequests: 16384, maxRetries: 3 },
  routerHealthCheck: { interval: "5s", timeout: "2s", unhealthyThreshold: 2, healthyThreshold: 1 },
  nodeId: "pixell-a2a-envoy",
  nodeCluster: "pixell-a2a",
};

/** What is wrong with an input, one readable line per problem (empty when it is fine). */
export function validateEnvoyInput(input: EnvoyConfigInput): string[] {
  const problems: string[] = [];
  if (!ENVOY_MODES.includes(input.mode)) problems.push(`mode ${JSON.stringify(input.mode)} is not one of ${ENVOY_MODES.join(", ")}`);
  const ports: [string, number][] = [
    ["listenPort", input.listenPort], ["readyPort", input.readyPort],
    ["router.port", input.router.port], ["routerAdminPort", input.routerAdminPort],
  ];
  for (const [name, port] of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push(`${name} ${port} is not a TCP port (1-65535)`);
  }
  if (input.listenPort === input.readyPort) problems.push(`listenPort and readyPort must differ (got ${input.listenPort} for both)`);
  for (const [name, socketPath] of [["adminSocket", input.adminSocket], ["xdsSocket", input.xdsSocket]] as const) {
    const problem = socketPathProblem(socketPath);
    if (problem !== undefined) problems.push(`${name} ${JSON.stringify(socketPath)} ${problem}`);
  }
  if (input.adminSocket === input.xdsSocket) problems.push("adminSocket and xdsSocket must differ");
  if (!Number.isInteger(input.maxConcurrentStreams) || input.maxConcurrentStreams < 1) problems.push(`maxConcurrentStreams ${input.maxConcurrentStreams} must be a positive integer`);
  if (!input.readyPath.startsWith("/")) problems.push(`readyPath ${JSON.stringify(input.readyPath)} must start with "/"`);
  for (const [name, value] of Object.entries(input.circuitBreakers)) {
    if (!Number.isInteger(value) || value < 1) problems.push(`circuitBreakers.${name} ${value} must be a positive integer`);
  }
  const routerProblem = routerHostProblem(input.router.host);
  if (routerProblem !== undefined) problems.push(routerProblem);
  if (durationSeconds(input.drainTimeout) >= durationSeconds(input.maxConnectionDuration)) {
    problems.push(`drainTimeout ${input.drainTimeout} must be below maxConnectionDuration ${input.maxConnectionDuration}`);
  }
  return problems;
}

/**
 * Why a Unix socket path would not keep other processes out, or undefined when it does. Envoy reads
 * a leading "@" as Linux's abstract namespace (address.proto, Pipe.path), which has no file
 * permissions and belongs to the network namespace: every process of the task could connect.
 * Linux limits socket paths to 107 bytes (sun_path is 108 with its terminating NUL, unix(7)).
 */
export function socketPathProblem(socketPath: string): string | undefined {
  if (socketPath.startsWith("@")) return "is in the abstract namespace, which every process sharing the task's network can reach: use a file path";
  if (!socketPath.startsWith("/")) return "must be an absolute path";
  if (Buffer.byteLength(socketPath) > 107) return "is longer than the 107 bytes a Unix socket path may have";
  return undefined;
}

/**
 * Envoy takes only IP literals for STATIC and EDS endpoints (a host name there is rejected, and
 * with it the whole update), so the router's address must be one.
 */
export function routerHostProblem(host: string): string | undefined {
  if (isIP(host) !== 0) return undefined;
  return `router.host ${JSON.stringify(host)} is not an IP address: Envoy's endpoints take IP literals only. `
    + "Set it to the router's IP (127.0.0.1 inside the task); for the router's xDS server, make the router listen on an IP "
    + "(ROUTER_LISTEN / --listen, e.g. 0.0.0.0:50052 or 127.0.0.1:50052)";
}

function durationSeconds(d: Duration): number {
  return Number(d.slice(0, -1));
}

// ---------------------------------------------------------------------------------------------
// Building blocks

const ROUTER_FILTER: Filter = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
};

/**
 * The A2A listener's router filter: adds no `x-envoy-*` headers of its own to requests (agents)
 * or responses (callers). This does not strip headers a caller sends: that is the connection
 * manager's sanitizing of external requests (see `buildListener`).
 */
const EDGE_ROUTER_FILTER: Filter = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", suppress_envoy_headers: true },
};

const ADS: ConfigSource = { ads: {}, resource_api_version: "V3" };

function socketAddress(host: string, port: number): SocketAddress {
  return { socket_address: { address: host, port_value: port } };
}

function pipeAddress(socketPath: string, mode?: number): PipeAddress {
  return { pipe: { path: socketPath, ...(mode === undefined ? {} : { mode }) } };
}

/** One JSON object per call on stdout: what an operator greps for when a call failed. */
export const ACCESS_LOG_FORMAT: Readonly<Record<string, string>> = {
  start_time: "%START_TIME%",
  deployment_id: "%REQ(X-DEPLOYMENT-ID)%",
  method: "%REQ(:PATH)%",
  grpc_status: "%GRPC_STATUS%",
  grpc_status_code: "%GRPC_STATUS_NUMBER%",
  response_code: "%RESPONSE_CODE%",
  response_flags: "%RESPONSE_FLAGS%",
  upstream_cluster: "%UPSTREAM_CLUSTER%",
  upstream_host: "%UPSTREAM_HOST%",
  duration_ms: "%DURATION%",
  bytes_received: "%BYTES_RECEIVED%",
  bytes_sent: "%BYTES_SENT%",
  request_id: "%REQ(X-REQUEST-ID)%",
  downstream_remote_address: "%DOWNSTREAM_REMOTE_ADDRESS%",
};

/** Set by the router only (router/auth/forward.ts): in Option B Envoy routes around the router, so Envoy drops a caller's. */
export const CALLER_HEADER = "x-pixell-caller";

/**
 * Removed from every request by the route configuration (`request_headers_to_remove`): the
 * caller-set `x-pixell-caller`, and the headers that would let a caller switch on retries (never
 * for non-idempotent Invoke) or change timeouts. Envoy itself already strips the `x-envoy-*` ones
 * from external requests (`buildListener`); this list is the second line, and the only one for
 * the retry headers Envoy does not sanitize (`x-envoy-retriable-*`). Route-level removal runs
 * when the router filter finalizes the request: after it has read the timeout headers, before it
 * reads the retry ones (Envoy's router.cc: `finalTimeout`, then `finalizeRequestHeaders`, then
 * `createRetryState`).
 */
export const STRIPPED_REQUEST_HEADERS = [
  CALLER_HEADER,
  "x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-max-retries", "x-envoy-retriable-status-codes",
  "x-envoy-retriable-header-names", "x-envoy-upstream-rq-timeout-ms", "x-envoy-upstream-rq-per-try-timeout-ms",
  "x-envoy-expected-rq-timeout-ms", "x-envoy-hedge-on-per-try-timeout", "x-envoy-upstream-alt-stat-name",
  "x-envoy-upstream-stream-duration-ms", "x-envoy-upstream-rq-timeout-alt-response",
] as const;

/**
 * HTTP/2 upstream with PING keepalive (`KeepaliveSettings`, config/core/v3/protocol.proto): without
 * it a pooled connection to a peer that vanished without a FIN takes new streams that hang until
 * `stream_idle_timeout`. Envoy aborts the connection when a PING goes unanswered for `timeout`.
 */
function http2ProtocolOptions(keepalive?: EnvoyConfigInput["upstreamKeepalive"]): TypedConfig {
  return {
    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    explicit_http_config: {
      http2_protocol_options: keepalive ? { connection_keepalive: { interval: keepalive.interval, timeout: keepalive.timeout } } : {},
    },
  };
}

function circuitBreakers(limits: CircuitBreakerLimits): { thresholds: CircuitBreakerThresholds[] } {
  return {
    thresholds: [{
      priority: "DEFAULT",
      max_connections: limits.maxConnections,
      max_pending_requests: limits.maxPendingRequests,
      max_requests: limits.maxRequests,
      max_retries: limits.maxRetries,
    }],
  };
}

/** No route timeout (0s): a call lives until the client's own gRPC deadline, which Envoy honours via grpc-timeout. */
function routeAction(cluster: string): RouteAction {
  return { cluster, timeout: "0s", max_stream_duration: { grpc_timeout_header_max: "0s" } };
}

// ---------------------------------------------------------------------------------------------
// xDS resources (also used inline in the bootstrap)

/**
 * Routes: one per valid deployment id, matching the exact `x-deployment-id` value, then a
 * catch-all to the router. A missing, malformed or unknown id never matches a deployment
 * route, so it reaches the router, which answers INVALID_ARGUMENT or NOT_FOUND.
 */
export function buildRouteConfiguration(deployments: readonly DeploymentRecord[], routerCluster: string = ROUTER_CLUSTER, name: string = ROUTE_CONFIG_NAME): RouteConfiguration {
  const routes: Route[] = routableDeployments(deployments).map((d) => ({
    name: `deployment/${d.id}`,
    match: { prefix: "/", headers: [{ name: DEPLOYMENT_HEADER, string_match: { exact: d.id } }] },
    route: routeAction(deploymentClusterName(d.id)),
  }));
  routes.push({ name: "router", match: { prefix: "/" }, route: routeAction(routerCluster) });
  return {
    name,
    virtual_hosts: [{ name: "a2a", domains: ["*"], routes }],
    request_headers_to_remove: [...STRIPPED_REQUEST_HEADERS],
  };
}

/**
 * Why Envoy will not route a record directly (it still reaches the router), or undefined when it may.
 * EDS endpoints must be IP literals: Envoy and gRPC clients reject a host name there, and one
 * rejected endpoint would make them reject the whole update.
 */
export function whyNotRoutable(d: DeploymentRecord): string | undefined {
  if (!isValidDeploymentId(d.id)) return "malformed deployment id";
  if (!Number.isInteger(d.port) || d.port < 1 || d.port > 65535) return `port ${d.port} is not a TCP port`;
  if (isIP(d.host) === 0) return `host ${JSON.stringify(d.host)} is not an IP address`;
  return undefined;
}

/** Deployments Envoy may route to directly (see `whyNotRoutable`); first record of a duplicated id wins; sorted for stable output. */
export function routableDeployments(deployments: readonly DeploymentRecord[]): DeploymentRecord[] {
  const byId = new Map<string, DeploymentRecord>();
  for (const d of deployments) {
    if (whyNotRoutable(d) === undefined && !byId.has(d.id)) byId.set(d.id, d);
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface HttpConnectionManagerOptions {
  readonly statPrefix: string;
  /** Inline routes (mode router) or the name of a route configuration fetched over ADS (RDS). */
  readonly routes: { readonly inline: RouteConfiguration } | { readonly rds: string };
  readonly streamIdleTimeout?: Duration;
  readonly keepaliveInterval?: Duration;
  readonly accessLog?: boolean;
  /** `HTTP2` for the gRPC listener (prior-knowledge h2c, no HTTP/1.1 upgrade); Envoy's `AUTO` otherwise. */
  readonly codec?: "HTTP2";
  /** HTTP filters before the router filter. */
  readonly filters?: readonly Filter[];
  /** SETTINGS_MAX_CONCURRENT_STREAMS on each downstream connection (with keepaliveInterval, the edge settings). */
  readonly maxConcurrentStreams?: number;
  /** Every connection drains (GOAWAY) this long after it opened (`common_http_protocol_options.max_connection_duration`). */
  readonly maxConnectionDuration?: Duration;
  readonly drainTimeout?: Duration;
  /**
   * The listener faces untrusted callers: trust the peer address, not `x-forwarded-for`, and count
   * only loopback as internal, so every request from the NLB is external and Envoy sanitizes it.
   */
  readonly edge?: boolean;
}

/**
 * Only loopback is internal. Envoy's default (no `internal_address_config`) treats RFC 1918
 * addresses as internal ("If unset, then RFC1918 / RFC4193 IP addresses will be considered
 * internal", http_connection_manager.proto), and every A2A connection comes from the NLB's
 * private address (client IP preservation is off), so callers' `x-envoy-*` headers would pass
 * unsanitized (Envoy's CVE-2024-45806; Envoy's header_sanitizing docs list what it strips from
 * external requests).
 */
export const INTERNAL_ADDRESSES = [
  { address_prefix: "127.0.0.1", prefix_len: 32 },
  { address_prefix: "::1", prefix_len: 128 },
] as const;

export function buildHttpConnectionManager(opts: HttpConnectionManagerOptions): TypedConfig {
  const routeSpecifier = "inline" in opts.routes
    ? { route_config: opts.routes.inline }
    : { rds: { route_config_name: opts.routes.rds, config_source: ADS } };
  return {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: opts.statPrefix,
    ...(opts.codec ? { codec_type: opts.codec } : {}),
    ...routeSpecifier,
    http_filters: [...(opts.filters ?? []), opts.edge ? EDGE_ROUTER_FILTER : ROUTER_FILTER],
    ...(opts.streamIdleTimeout ? { stream_idle_timeout: opts.streamIdleTimeout } : {}),
    ...(opts.maxConnectionDuration ? { common_http_protocol_options: { max_connection_duration: opts.maxConnectionDuration } } : {}),
    ...(opts.drainTimeout ? { drain_timeout: opts.drainTimeout } : {}),
    ...(opts.edge
      ? { use_remote_address: true, internal_address_config: { cidr_ranges: INTERNAL_ADDRESSES.map((r) => ({ ...r })) } }
      : {}),
    ...(opts.keepaliveInterval
      ? {
        http2_protocol_options: {
          // Envoy's edge recommendations: bound what one client can make Envoy buffer (defaults are 256 MiB)
          // and how many streams one connection may hold (default 2^31-1).
          ...(opts.maxConcurrentStreams !== undefined ? { max_concurrent_streams: opts.maxConcurrentStreams } : {}),
          initial_stream_window_size: 65536,
          initial_connection_window_size: 1048576,
          connection_keepalive: { interval: opts.keepaliveInterval, timeout: "20s" },
        },
      }
      : {}),
    ...(opts.accessLog
      ? {
        access_log: [{
          name: "envoy.access_loggers.stdout",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            log_format: { json_format: ACCESS_LOG_FORMAT },
          },
        }],
      }
      : {}),
  };
}

/**
 * Envoy's A2A socket listener: gRPC over cleartext HTTP/2 from the NLB, an edge listener (see
 * `HttpConnectionManagerOptions.edge`), every connection drained after `maxConnectionDuration`.
 */
export function buildListener(input: Pick<EnvoyConfigInput, "listenPort" | "streamIdleTimeout" | "keepaliveInterval" | "maxConnectionDuration" | "drainTimeout" | "maxConcurrentStreams">, routes: HttpConnectionManagerOptions["routes"], name: string = A2A_LISTENER): Listener {
  const hcm = buildHttpConnectionManager({
    statPrefix: "a2a",
    routes,
    streamIdleTimeout: input.streamIdleTimeout,
    keepaliveInterval: input.keepaliveInterval,
    maxConcurrentStreams: input.maxConcurrentStreams,
    maxConnectionDuration: input.maxConnectionDuration,
    drainTimeout: input.drainTimeout,
    edge: true,
    accessLog: true,
    codec: "HTTP2",
  });
  return {
    name,
    address: socketAddress("0.0.0.0", input.listenPort),
    filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }],
  };
}

/** The in-process listener a gRPC xDS client asks for by name; routes come over RDS like Envoy's. */
export function buildApiListener(name: string = DEFAULT_API_LISTENER, routeConfigName: string = ROUTE_CONFIG_NAME): Listener {
  return { name, api_listener: { api_listener: buildHttpConnectionManager({ statPrefix: name, routes: { rds: routeConfigName } }) } };
}

/**
 * The router cluster: HTTP/2 to the router, actively health-checked over HTTP/1 on the
 * router's admin `/readyz` (the endpoint's `health_check_config.port_value` redirects the
 * check to the admin port; `HealthCheck.alt_port` is "not implemented" in Envoy's v3 API).
 * `STATIC` in the bootstrap; `EDS` over xDS (gRPC clients only accept EDS clusters).
 */
export function buildRouterCluster(input: Pick<EnvoyConfigInput, "router" | "routerAdminPort" | "connectTimeout" | "circuitBreakers" | "routerHealthCheck" | "upstreamKeepalive">, discovery: "STATIC" | "EDS"): Cluster {
  const hc = input.routerHealthCheck;
  const healthCheck: HealthCheck = {
    timeout: hc.timeout,
    interval: hc.interval,
    unhealthy_threshold: hc.unhealthyThreshold,
    healthy_threshold: hc.healthyThreshold,
    // Keep checking when idle so readiness reflects the router before traffic arrives.
    no_traffic_interval: hc.interval,
    http_health_check: { path: ROUTER_READY_PATH, codec_client_type: "HTTP1" },
  };
  return {
    name: ROUTER_CLUSTER,
    type: discovery,
    connect_timeout: input.connectTimeout,
    lb_policy: "ROUND_ROBIN",
    ...(discovery === "STATIC"
      ? { load_assignment: routerLoadAssignment(input) }
      : { eds_cluster_config: { eds_config: ADS } }),
    typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": http2ProtocolOptions(input.upstreamKeepalive) },
    circuit_breakers: circuitBreakers(input.circuitBreakers),
    health_checks: [healthCheck],
  };
}

/** Every endpoint is in the task itself: one locality. gRPC xDS clients need it named and weighted. */
const LOCAL_LOCALITY = { locality: {}, load_balancing_weight: 1 } as const;

function routerLoadAssignment(input: Pick<EnvoyConfigInput, "router" | "routerAdminPort">): ClusterLoadAssignment {
  return {
    cluster_name: ROUTER_CLUSTER,
    endpoints: [{
      ...LOCAL_LOCALITY,
      lb_endpoints: [{
        endpoint: { address: socketAddress(input.router.host, input.router.port), health_check_config: { port_value: input.routerAdminPort } },
      }],
    }],
  };
}

/**
 * Clusters over CDS: the router (EDS) and one EDS cluster per deployment. Deployment
 * clusters are not health-checked by Envoy: the router and the probe own agent health, and
 * a dead agent answers UNAVAILABLE straight away.
 */
export function buildClusters(deployments: readonly DeploymentRecord[], input: Pick<EnvoyConfigInput, "router" | "routerAdminPort" | "connectTimeout" | "circuitBreakers" | "routerHealthCheck" | "upstreamKeepalive"> = DEFAULT_ENVOY_INPUT): Cluster[] {
  return [
    buildRouterCluster(input, "EDS"),
    ...routableDeployments(deployments).map((d): Cluster => ({
      name: deploymentClusterName(d.id),
      alt_stat_name: deploymentStatName(d.id),
      type: "EDS",
      connect_timeout: input.connectTimeout,
      lb_policy: "ROUND_ROBIN",
      eds_cluster_config: { eds_config: ADS },
      typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": http2ProtocolOptions(input.upstreamKeepalive) },
      circuit_breakers: circuitBreakers(input.circuitBreakers),
    })),
  ];
}

/** Endpoints over EDS: each deployment's host:port from the registry, and the router's. */
export function buildEndpoints(deployments: readonly DeploymentRecord[], input: Pick<EnvoyConfigInput, "router" | "routerAdminPort"> = DEFAULT_ENVOY_INPUT): ClusterLoadAssignment[] {
  return [
    routerLoadAssignment(input),
    ...routableDeployments(deployments).map((d) => ({
      cluster_name: deploymentClusterName(d.id),
      endpoints: [{ ...LOCAL_LOCALITY, lb_endpoints: [{ endpoint: { address: socketAddress(d.host, d.port) } }] }],
    })),
  ];
}

/** The readiness listener the NLB's target group checks: 200 on readyPath only while the router cluster is 100 % healthy. */
export function buildReadyListener(input: Pick<EnvoyConfigInput, "readyPort" | "readyPath">): Listener {
  const healthCheckFilter: Filter = {
    name: "envoy.filters.http.health_check",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck",
      // Answer here (never forwarded), 503 when Envoy is draining or the router is unhealthy.
      pass_through_mode: false,
      headers: [{ name: ":path", string_match: { exact: input.readyPath } }],
      cluster_min_healthy_percentages: { [ROUTER_CLUSTER]: { value: 100 } },
    },
  };
  const hcm = buildHttpConnectionManager({
    statPrefix: "ready",
    routes: {
      inline: {
        name: "ready",
        virtual_hosts: [{ name: "ready", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 404 } }] }],
      },
    },
    filters: [healthCheckFilter],
  });
  return {
    name: READY_LISTENER,
    address: socketAddress("0.0.0.0", input.readyPort),
    filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }],
    // The NLB's health checks still get in when A2A connections are at the overload manager's cap:
    // a task that is full is busy, not broken, and must not be deregistered (and its calls cut) for it.
    ignore_global_conn_limit: true,
  };
}

// ---------------------------------------------------------------------------------------------
// Bootstrap

/** The complete bootstrap for `input.mode`. Throws when the input is invalid, listing every problem. */
export function buildBootstrap(input: EnvoyConfigInput = DEFAULT_ENVOY_INPUT): Bootstrap {
  const problems = validateEnvoyInput(input);
  if (problems.length > 0) throw new Error(`invalid Envoy config input:\n  ${problems.join("\n  ")}`);
  const base = {
    node: { id: input.nodeId, cluster: input.nodeCluster },
    admin: { address: pipeAddress(input.adminSocket, ENVOY_ADMIN_SOCKET_MODE) },
  };
  if (input.mode === "router") {
    return {
      ...base,
      static_resources: {
        listeners: [buildListener(input, { inline: buildRouteConfiguration([]) }), buildReadyListener(input)],
        clusters: [buildRouterCluster(input, "STATIC")],
      },
    };
  }
  // Option B: the A2A listener, its routes and every cluster (the router's too) come over ADS;
  // only the readiness listener and the xDS server's cluster are static.
  const xdsCluster: Cluster = {
    name: XDS_CLUSTER,
    type: "STATIC",
    connect_timeout: input.connectTimeout,
    load_assignment: {
      cluster_name: XDS_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: pipeAddress(input.xdsSocket) } }] }],
    },
    typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": http2ProtocolOptions() },
  };
  return {
    ...base,
    static_resources: { listeners: [buildReadyListener(input)], clusters: [xdsCluster] },
    dynamic_resources: {
      ads_config: {
        api_type: "GRPC",
        transport_api_version: "V3",
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
        set_node_on_first_message_only: true,
      },
      lds_config: ADS,
      cds_config: ADS,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// xDS snapshot

export const TYPE_URLS = {
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  route: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  endpoint: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
} as const;
export type ResourceKind = keyof typeof TYPE_URLS;

/** A named resource in JSON form, with the name a client subscribes to. */
export interface NamedResource {
  readonly name: string;
  readonly resource: object;
  /** Sent to named subscribers only, never on a wildcard subscription (Envoy rejects API listeners over LDS). */
  readonly namedOnly?: boolean;
}

export type XdsSnapshot = Readonly<Record<ResourceKind, readonly NamedResource[]>>;

export interface XdsSnapshotOptions {
  /** Listener names served as gRPC API listeners. */
  readonly apiListeners?: readonly string[];
  /** Clusters of deployments that just left the registry: kept (without routes) so no route ever names a missing cluster. */
  readonly lingering?: readonly DeploymentRecord[];
  readonly envoy?: EnvoyConfigInput;
}

/** Everything the xDS server serves for a list of deployments. */
export function buildXdsSnapshot(deployments: readonly DeploymentRecord[], opts: XdsSnapshotOptions = {}): XdsSnapshot {
  const input = opts.envoy ?? DEFAULT_ENVOY_INPUT;
  const routerProblem = routerHostProblem(input.router.host);
  if (routerProblem !== undefined) throw new Error(`invalid Envoy config input: ${routerProblem}`);
  const routed = routableDeployments(deployments);
  const routedIds = new Set(routed.map((d) => d.id));
  const withLingering = [...routed, ...(opts.lingering ?? []).filter((d) => !routedIds.has(d.id))];
  const listeners: NamedResource[] = [
    { name: A2A_LISTENER, resource: buildListener(input, { rds: ROUTE_CONFIG_NAME }) },
    ...(opts.apiListeners ?? [DEFAULT_API_LISTENER]).map((name) => ({ name, resource: buildApiListener(name), namedOnly: true })),
  ];
  return {
    listener: listeners,
    route: [{ name: ROUTE_CONFIG_NAME, resource: buildRouteConfiguration(routed) }],
    cluster: buildClusters(withLingering, input).map((c) => ({ name: c.name, resource: c })),
    endpoint: buildEndpoints(withLingering, input).map((e) => ({ name: e.cluster_name, resource: e })),
  };
}

/**
 * Every port of the data path, in one place: the Envoy config, the task definition,
 * the security groups and the router's defaults all read these.
 */

/** Public A2A gRPC port: NLB listener, Envoy listener. */
export const A2A_PORT = 50051;
/** The router's gRPC listener (task-local: Envoy sends to it). */
export const ROUTER_PORT = 50052;
/** The router's admin HTTP server: /healthz, /readyz, /deployments, /metrics. */
export const ROUTER_ADMIN_PORT = 9902;
/** The router's xDS (ADS) server over TCP: local runs and tests. In the task it is on XDS_SOCKET. */
export const XDS_PORT = 18000;
/**
 * Envoy's admin port in earlier releases: the admin is now on a Unix socket (ENVOY_ADMIN_SOCKET).
 * Kept out of the agents' port range all the same, so an older image cannot collide with an agent.
 */
export const ENVOY_ADMIN_PORT = 9901;
/** Envoy's readiness listener the NLB's A2A target group checks over HTTP. */
export const ENVOY_READY_PORT = 15021;
export const ENVOY_READY_PATH = "/ready";
/** PAR's REST API. */
export const PAR_REST_PORT = 8080;
/** Agents listen on consecutive ports from here, one per deployment. */
export const AGENT_PORT_FIRST = 50054;
export const AGENT_PORT_LAST = 50153;

/**
 * Control traffic inside the task goes over Unix sockets, not the loopback: every process in the
 * task (agents' code too) shares the loopback, but only containers that mount a socket's volume
 * can reach the socket. Paths start with "/": a path starting with "@" would be Linux's abstract
 * namespace, which belongs to the network namespace and so to every process in the task.
 */
/** Envoy's admin (drain, config dump, log levels): in a volume only the Envoy container mounts. */
export const ENVOY_ADMIN_SOCKET_DIR = "/var/run/envoy-admin";
export const ENVOY_ADMIN_SOCKET = `${ENVOY_ADMIN_SOCKET_DIR}/admin.sock`;
/** Owner (Envoy's uid 101, which the entrypoint shares) read and write only. */
export const ENVOY_ADMIN_SOCKET_MODE = 0o600;
/** The router's xDS server for Envoy in Option B: in a volume only the router and Envoy mount. */
export const XDS_SOCKET_DIR = "/var/run/pixell-xds";
export const XDS_SOCKET = `${XDS_SOCKET_DIR}/xds.sock`;

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
/** The router's xDS (ADS) server for Envoy in Option B. */
export const XDS_PORT = 18000;
/** Envoy's admin interface: bound to 127.0.0.1 only. */
export const ENVOY_ADMIN_PORT = 9901;
/** Envoy's readiness listener the NLB's A2A target group checks over HTTP. */
export const ENVOY_READY_PORT = 15021;
export const ENVOY_READY_PATH = "/ready";
/** PAR's REST API. */
export const PAR_REST_PORT = 8080;
/** Agents listen on consecutive ports from here, one per deployment. */
export const AGENT_PORT_FIRST = 50054;
export const AGENT_PORT_LAST = 50153;

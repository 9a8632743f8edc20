/**
 * The A2A router: reads `x-deployment-id`, resolves it to an agent, forwards the call as raw HTTP/2.
 *
 * - server.ts   startRouter(): listener, admin server, draining
 * - call-policy.ts what a call must pass before it is forwarded, and every refusal: one policy both engines run
 * - refusal-log.ts, refusal-limiter.ts  refused calls logged at info, rate-limited per source and code
 * - h2/         the `frames` engine (default): HTTP/2 frames relayed between raw sockets (the hot path)
 * - http2/      the `http2` engine: per-call forwarding and pooled sessions with Node's http2 module
 * - routing.ts  pure request parsing: deployment id, hop count, grpc-timeout, status codes
 * - auth/       caller authentication and authorization
 * - xds/        the xDS server that drives Envoy in Option B
 * - admin.ts    /healthz /readyz /deployments /deployments/{id}/health /metrics
 * - metrics.ts  Prometheus metrics
 * - config.ts   flags and environment variables
 * - main.ts     the process: config, signals, exit codes
 * Where deployments are found (file, PAR REST API, Cloud Map) is registry/, shared with the probe and the CLI.
 */
export { startRouter, type RouterOptions, type RunningRouter } from "./server";
export { parseRouterConfig, ConfigError, ROUTER_SETTINGS, type RouterConfig } from "./config";

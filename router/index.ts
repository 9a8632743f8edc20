/**
 * The A2A router: reads `x-deployment-id`, resolves it to an agent, forwards the call as raw HTTP/2.
 *
 * - server.ts   startRouter(): listener, admin server, draining
 * - call-policy.ts what a call must pass before it is forwarded, and every refusal: one policy both engines run
 * - h2/         the `frames` engine (default): HTTP/2 frames relayed between raw sockets (the hot path)
 * - proxy.ts    the `http2` engine: per-call forwarding with Node's http2 module
 * - routing.ts  pure request parsing: deployment id, hop count, grpc-timeout, status codes
 * - upstream.ts pooled HTTP/2 sessions to agents
 * - registry/   where deployments are found: file, PAR REST API, Cloud Map; chained in order
 * - admin.ts    /healthz /readyz /deployments /deployments/{id}/health /metrics
 * - metrics.ts  Prometheus metrics
 * - config.ts   flags and environment variables
 * - main.ts     the process: config, signals, exit codes
 */
export { startRouter, createSources, type RouterOptions, type RunningRouter } from "./server";
export { parseRouterConfig, ConfigError, ROUTER_SETTINGS, type RouterConfig } from "./config";
export { parseRegistryFile, FileSource } from "./registry/file";
export { ParSource } from "./registry/par";
export { RegistryChain, parseRegistrySpec, type SourceSpec } from "./registry/chain";
export type { RegistrySource, Target, DeploymentRecord } from "./registry/types";

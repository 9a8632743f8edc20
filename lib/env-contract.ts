/**
 * The environment contract between the stack and the programs it runs: every variable the stack
 * writes into a container or into the probe Lambda, named once. The writers in infra/ are typed by
 * these names, so they cannot set one nobody reads; the readers (router/config.ts,
 * router/auth/config.ts, probe-lambda/config.ts, envoy/entrypoint.sh) read them from here, and
 * test/unit/env-contract.test.ts checks that both ends agree on names and on values.
 */

/** The router's settings (router/config.ts: each also a `--flag`). */
export const ROUTER_ENV = {
  listen: "ROUTER_LISTEN",
  admin: "ROUTER_ADMIN",
  registry: "ROUTER_REGISTRY",
  drainMs: "ROUTER_DRAIN_MS",
  maxHops: "ROUTER_MAX_HOPS",
  idleTimeoutMs: "ROUTER_IDLE_TIMEOUT_MS",
  agentKeepaliveMs: "ROUTER_AGENT_KEEPALIVE_MS",
  agentKeepaliveTimeoutMs: "ROUTER_AGENT_KEEPALIVE_TIMEOUT_MS",
  agentConnectTimeoutMs: "ROUTER_AGENT_CONNECT_TIMEOUT_MS",
  cloudMapPollMs: "ROUTER_CLOUDMAP_POLL_MS",
  xds: "ROUTER_XDS",
  logLevel: "LOG_LEVEL",
  engine: "ROUTER_ENGINE",
  emfNamespace: "ROUTER_EMF_NAMESPACE",
  emfDimensions: "ROUTER_EMF_DIMENSIONS",
  emfIntervalMs: "ROUTER_EMF_INTERVAL_MS",
} as const;

/** The router's caller authentication (router/auth/config.ts). */
export const ROUTER_AUTH_ENV = {
  mode: "ROUTER_AUTH",
  tokens: "ROUTER_AUTH_TOKENS",
  refreshMs: "ROUTER_AUTH_REFRESH_MS",
  jwksUrl: "ROUTER_AUTH_JWKS_URL",
  issuer: "ROUTER_AUTH_ISSUER",
  audience: "ROUTER_AUTH_AUDIENCE",
  allowClaim: "ROUTER_AUTH_ALLOW_CLAIM",
  jwtCacheSize: "ROUTER_AUTH_JWT_CACHE_SIZE",
} as const;

/** The probe Lambda (probe-lambda/config.ts). */
export const PROBE_ENV = {
  endpoint: "PROBE_ENDPOINT",
  tls: "PROBE_TLS",
  cloudMapNamespace: "CLOUDMAP_NAMESPACE",
  cloudMapService: "CLOUDMAP_SERVICE",
  cloudMapServiceId: "CLOUDMAP_SERVICE_ID",
  metricsNamespace: "METRICS_NAMESPACE",
  timeoutMs: "PROBE_TIMEOUT_MS",
  concurrency: "PROBE_CONCURRENCY",
  reserveMs: "PROBE_RESERVE_MS",
  authTokenSecret: "PROBE_AUTH_TOKEN_SECRET",
  targetGroupArn: "PROBE_TARGET_GROUP_ARN",
  endpointSample: "PROBE_ENDPOINT_SAMPLE",
  platformPercent: "PROBE_PLATFORM_PERCENT",
  logLevel: "LOG_LEVEL",
} as const;

/** Envoy's entrypoint (envoy/entrypoint.sh, a shell script: the test reads it for these names). */
export const ENVOY_ENV = {
  drainSeconds: "ENVOY_DRAIN_SECONDS",
  bootstrapOverride: "ENVOY_BOOTSTRAP_OVERRIDE",
  adminSocket: "ENVOY_ADMIN_SOCKET",
  config: "ENVOY_CONFIG",
} as const;

/**
 * PAR's own variables: PAR reads them, not this project (its registration into Cloud Map). Named
 * here so the task definition spells them once; only a real deploy confirms PAR's spelling.
 */
export const PAR_ENV = {
  cloudMapNamespace: "SERVICE_DISCOVERY_NAMESPACE",
  cloudMapService: "SERVICE_DISCOVERY_SERVICE",
  region: "AWS_REGION",
} as const;

type ValueOf<T> = T[keyof T];
export type RouterEnvName = ValueOf<typeof ROUTER_ENV> | ValueOf<typeof ROUTER_AUTH_ENV>;
export type ProbeEnvName = ValueOf<typeof PROBE_ENV>;
export type EnvoyEnvName = ValueOf<typeof ENVOY_ENV>;
export type ParEnvName = ValueOf<typeof PAR_ENV>;

/** One variable of a container's environment, its name from one of the sets above. */
export interface EnvVar<N extends string> {
  readonly name: N;
  readonly value: string;
}

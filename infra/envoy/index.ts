/**
 * The Envoy sidecar's configuration, generated from typed code.
 * - config.ts   pure builders: the bootstrap for mode `router` (Option A) or `xds` (Option B), and
 *               the xDS resources (listener, routes, clusters, endpoints) the router's xDS server serves
 * - types.ts    TypeScript shapes for the subset of Envoy's v3 API we write
 * - proto.ts    Envoy's v3 protos (from @grpc/grpc-js-xds): strict checking and encoding
 * - overload.ts the overload manager sized from the task's memory (passed to --config-yaml at start-up)
 * - cli.ts      `npm run envoy-config -- --mode router|xds`, `--all` rewrites envoy.*.yaml
 * - Dockerfile, entrypoint.sh   the image: official Envoy, the baked bootstrap, drain on SIGTERM
 */
export {
  buildBootstrap, buildListener, buildApiListener, buildRouteConfiguration, buildClusters, buildEndpoints,
  buildReadyListener, buildRouterCluster, buildXdsSnapshot, routableDeployments, whyNotRoutable, validateEnvoyInput, socketPathProblem,
  deploymentClusterName, DEFAULT_ENVOY_INPUT, ENVOY_MODES, TYPE_URLS,
  A2A_LISTENER, READY_LISTENER, ROUTER_CLUSTER, XDS_CLUSTER, ROUTE_CONFIG_NAME, DEFAULT_API_LISTENER, DEPLOYMENT_HEADER,
  type EnvoyMode, type EnvoyConfigInput, type XdsSnapshot, type ResourceKind, type NamedResource,
} from "./config";
export { overloadPlan, buildOverloadManager, bootstrapOverride, type OverloadPlan, type OverloadManager } from "./overload";
export { toProtoObject, encodeMessage, encodeAny, envoyRoot, messageType, EnvoyConfigError, ENVOY_PROTO_FILES } from "./proto";
export { renderBootstrapYaml, committedBootstrapPath, BOOTSTRAP_TYPE } from "./cli";
export type * from "./types";

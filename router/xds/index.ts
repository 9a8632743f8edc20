/**
 * The router's xDS server (Option B): Envoy and gRPC xDS clients get listeners, routes,
 * clusters and endpoints built from the registry.
 * - `startXdsServer` (server.ts): ADS over grpc-js, coalesced pushes on registry changes.
 * - `AdsStreamState` (protocol.ts): the per-stream protocol (versions, nonces, ACK/NACK), pure.
 * - `startXdsIfConfigured` (attach.ts): the router main's wiring for ROUTER_XDS / --xds.
 * - The resources themselves are built in infra/envoy/config.ts, shared with the bootstrap.
 */
export { startXdsServer, ADS_METHOD_PATH, ADS_SERVICE, type XdsServer, type XdsServerOptions } from "./server";
export { AdsStreamState, PUSH_ORDER, kindOfTypeUrl, nextVersions, type AdsEvent, type AdsRequest, type AdsResponse, type VersionedSnapshot } from "./protocol";
export { startXdsIfConfigured, xdsOptionsFor } from "./attach";

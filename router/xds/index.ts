/**
 * The router's xDS server (Option B): Envoy and gRPC xDS clients get listeners, routes,
 * clusters and endpoints built from the registry.
 * - `startXdsServer` (server.ts): ADS over grpc-js, coalesced pushes on registry changes.
 * - `SnapshotCache` (snapshot.ts): registry records -> one versioned, encoded, consistent snapshot.
 * - `snapshotProblems` (consistency.ts): the check a snapshot passes before any client sees it.
 * - `AdsStreamState` (protocol.ts): the per-stream protocol (subscriptions, nonces, ACK/NACK,
 *   warming and ordering), pure; `ClusterHistory` (history.ts) lets a reconnecting client keep its clusters.
 * - `XdsMetrics` (metrics.ts): counters on the router's /metrics.
 * - `startXdsIfConfigured` (attach.ts): the router main's wiring for ROUTER_XDS / --xds.
 * - The resources themselves are built in envoy/config.ts, shared with the bootstrap.
 */
export { startXdsServer, ADS_METHOD_PATH, ADS_SERVICE, type XdsServer, type XdsServerOptions } from "./server";
export { AdsStreamState, PUSH_ORDER, kindOfTypeUrl, nextVersions, type AdsEvent, type AdsRequest, type AdsResponse, type VersionedSnapshot } from "./protocol";
export { SnapshotCache, type AnyMessage, type BuildResult } from "./snapshot";
export { snapshotProblems, routeClusterNames } from "./consistency";
export { ClusterHistory } from "./history";
export { startXdsIfConfigured, xdsOptionsFor } from "./attach";

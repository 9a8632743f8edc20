/**
 * The check a snapshot passes before any client sees it, after go-control-plane's
 * `Snapshot.Consistent()` (pkg/cache/v3/snapshot.go: every referenced route and endpoint
 * resource exists): every listener's RDS name has a route configuration, every route names a
 * cluster of the same snapshot, every EDS cluster has a ClusterLoadAssignment, and no type holds
 * a name twice (xds_protocol.rst, "Duplicate Resource Names": "It is an error for a server to
 * send a single response that contains the same resource name twice").
 */
import type { Cluster, Listener, RouteConfiguration } from "../../envoy/types";
import type { ResourceKind, XdsSnapshot } from "../../envoy/config";

/** The clusters a route configuration sends traffic to (plain and weighted cluster actions). */
export function routeClusterNames(rc: RouteConfiguration): string[] {
  const out = new Set<string>();
  for (const vh of rc.virtual_hosts ?? []) {
    for (const r of vh.routes ?? []) {
      const action = r.route as ({ cluster?: string; weighted_clusters?: { clusters?: readonly { name: string }[] } } | undefined);
      if (action?.cluster) out.add(action.cluster);
      for (const w of action?.weighted_clusters?.clusters ?? []) out.add(w.name);
    }
  }
  return [...out];
}

type HcmLike = { rds?: { route_config_name?: string } };

/** The RDS names a listener's HTTP connection managers fetch (socket listeners and API listeners). */
export function listenerRouteNames(l: Listener): string[] {
  const managers: HcmLike[] = [];
  const api = (l as { api_listener?: { api_listener?: HcmLike } }).api_listener?.api_listener;
  if (api) managers.push(api);
  for (const chain of l.filter_chains ?? []) {
    for (const f of chain.filters ?? []) managers.push((f as { typed_config?: HcmLike }).typed_config ?? {});
  }
  return managers.map((m) => m.rds?.route_config_name).filter((n): n is string => typeof n === "string");
}

/** The ClusterLoadAssignment an EDS cluster waits for (its service_name, else its own name); undefined for other types. */
export function edsServiceName(c: Cluster): string | undefined {
  if (c.type !== "EDS") return undefined;
  return (c.eds_cluster_config as { service_name?: string } | undefined)?.service_name || c.name;
}

/** Every reason the snapshot must not be served; empty when it is consistent. */
export function snapshotProblems(s: XdsSnapshot): string[] {
  const problems: string[] = [];
  for (const kind of ["listener", "route", "cluster", "endpoint"] as ResourceKind[]) {
    const seen = new Set<string>();
    for (const r of s[kind]) {
      if (seen.has(r.name)) problems.push(`${kind} ${JSON.stringify(r.name)} appears twice`);
      seen.add(r.name);
    }
  }
  const routes = new Set(s.route.map((r) => r.name));
  const clusters = new Set(s.cluster.map((r) => r.name));
  const assignments = new Set(s.endpoint.map((r) => r.name));
  for (const l of s.listener) {
    for (const rds of listenerRouteNames(l.resource as Listener)) {
      if (!routes.has(rds)) problems.push(`listener ${JSON.stringify(l.name)} fetches route configuration ${JSON.stringify(rds)}, which the snapshot does not have`);
    }
  }
  for (const r of s.route) {
    for (const c of routeClusterNames(r.resource as RouteConfiguration)) {
      if (!clusters.has(c)) problems.push(`route configuration ${JSON.stringify(r.name)} routes to cluster ${JSON.stringify(c)}, which the snapshot does not have`);
    }
  }
  for (const c of s.cluster) {
    const service = edsServiceName(c.resource as Cluster);
    if (service !== undefined && !assignments.has(service)) problems.push(`EDS cluster ${JSON.stringify(c.name)} has no ClusterLoadAssignment ${JSON.stringify(service)}`);
  }
  return problems;
}

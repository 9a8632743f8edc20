/**
 * A model of Envoy's ADS client (state of the world), to drive the xDS server the way Envoy does
 * and to see what Envoy would route. It decodes the bytes the server sends (Envoy's v3 protos)
 * and follows these Envoy behaviours (Envoy's api-docs/xds_protocol.rst unless noted):
 * - CDS and LDS are wildcard subscriptions ("Client Behavior": "Envoy will always use wildcard
 *   subscriptions for Listener and Cluster resources"); RDS and EDS are named.
 * - A CDS response is applied with EDS paused; then the client asks for every EDS cluster it
 *   knows, with the last EDS nonce it saw (Envoy's GrpcMuxImpl pause/resume of EDS during CDS).
 * - A new or changed cluster warms until a ClusterLoadAssignment for it arrives ("Resource
 *   warming"); a changed cluster's old version serves meanwhile. A cluster missing from a CDS
 *   response is removed ("Deleting Resources").
 * - Routes are applied at once, not warmed ("Eventual consistency considerations").
 * - A call matching a route whose cluster is not active is a 503 with flag NC (no cluster).
 * - NACKs carry the last accepted version and error_detail ("ACK and NACK semantics summary").
 * - A reconnect keeps everything applied and re-sends every subscription with the versions it has.
 */
import { TYPE_URLS, type ResourceKind } from "../../infra/envoy/config";
import { messageType } from "../../infra/envoy/proto";

export interface WireResponse {
  readonly type_url: string;
  readonly version_info: string;
  readonly nonce: string;
  readonly resources: readonly { readonly type_url: string; readonly value: Uint8Array }[];
}
export interface WireRequest {
  type_url: string;
  version_info: string;
  resource_names: string[];
  response_nonce: string;
  error_detail?: { code: number; message: string };
}

const KINDS = Object.keys(TYPE_URLS) as ResourceKind[];
const kindOf = (url: string): ResourceKind => {
  const k = KINDS.find((x) => TYPE_URLS[x] === url);
  if (!k) throw new Error(`model got an unknown type ${url}`);
  return k;
};
type Obj = Record<string, unknown>;
const decode = (kind: ResourceKind, value: Uint8Array): Obj => {
  const t = messageType(TYPE_URLS[kind].split("/")[1]!);
  return t.toObject(t.decode(value), { defaults: false }) as Obj;
};
const sameBytes = (a: Uint8Array | undefined, b: Uint8Array): boolean => !!a && Buffer.from(a).equals(Buffer.from(b));

interface AppliedRoute { readonly deploymentId?: string; readonly cluster: string }

export class EnvoyAdsModel {
  readonly active = new Map<string, Uint8Array>();
  readonly warming = new Map<string, Uint8Array>();
  readonly endpoints = new Map<string, Uint8Array>();
  /** Applied route configurations: routes in order. */
  readonly routes = new Map<string, AppliedRoute[]>();
  readonly listenerRoutes = new Map<string, string[]>();
  readonly accepted: Partial<Record<ResourceKind, string>> = {};
  private nonces: Partial<Record<ResourceKind, string>> = {};
  private edsNames: string[] = [];
  private rdsNames: string[] = [];
  /** Types whose next response this client rejects. */
  readonly nackNext = new Set<ResourceKind>();
  /** Every moment an applied route named a cluster that was not active. */
  readonly violations: string[] = [];
  /** Calls counted by `call`. */
  readonly outcomes = { ok: 0, nc503: 0 };

  /** The first requests on a (new) stream: CDS, EDS, LDS, RDS, as Envoy re-subscribes its watches. */
  connect(): WireRequest[] {
    this.nonces = {};
    const out = [this.req("cluster", []), this.req("listener", [])];
    if (this.edsNames.length > 0) out.splice(1, 0, this.req("endpoint", this.edsNames));
    if (this.rdsNames.length > 0) out.push(this.req("route", this.rdsNames));
    return out;
  }

  onResponse(r: WireResponse): WireRequest[] {
    const kind = kindOf(r.type_url);
    this.nonces[kind] = r.nonce;
    if (this.nackNext.delete(kind)) {
      return [{ ...this.req(kind, this.namesFor(kind)), error_detail: { code: 3, message: `model rejected ${kind} ${r.version_info}` } }];
    }
    const out: WireRequest[] = [];
    if (kind === "cluster") {
      const seen = new Set<string>();
      for (const res of r.resources) {
        const name = String(decode("cluster", res.value).name);
        seen.add(name);
        if (sameBytes(this.active.get(name), res.value) && !this.warming.has(name)) continue;
        if (sameBytes(this.warming.get(name), res.value)) continue;
        this.warming.set(name, res.value);
      }
      for (const name of [...this.active.keys(), ...this.warming.keys()]) {
        if (!seen.has(name)) { this.active.delete(name); this.warming.delete(name); this.endpoints.delete(name); }
      }
      this.accepted.cluster = r.version_info;
      out.push(this.req("cluster", []));
      this.edsNames = [...new Set([...this.active.keys(), ...this.warming.keys()])].sort();
      out.push(this.req("endpoint", this.edsNames));
    } else if (kind === "endpoint") {
      for (const res of r.resources) {
        const name = String(decode("endpoint", res.value).cluster_name);
        if (!this.edsNames.includes(name)) continue;
        this.endpoints.set(name, res.value);
        const w = this.warming.get(name);
        if (w) { this.active.set(name, w); this.warming.delete(name); }
      }
      this.accepted.endpoint = r.version_info;
      out.push(this.req("endpoint", this.edsNames));
    } else if (kind === "listener") {
      this.listenerRoutes.clear();
      for (const res of r.resources) {
        const l = decode("listener", res.value) as { name: string; filter_chains?: { filters?: { typed_config?: { value?: Uint8Array; type_url?: string } }[] }[] };
        this.listenerRoutes.set(l.name, rdsNamesOf(l));
      }
      this.accepted.listener = r.version_info;
      out.push(this.req("listener", []));
      const names = [...new Set([...this.listenerRoutes.values()].flat())].sort();
      if (names.join() !== this.rdsNames.join()) { this.rdsNames = names; out.push(this.req("route", names)); }
    } else {
      for (const res of r.resources) {
        const rc = decode("route", res.value) as { name: string; virtual_hosts?: { routes?: { match?: { headers?: { name: string; string_match?: { exact?: string } }[] }; route?: { cluster?: string } }[] }[] };
        if (!this.rdsNames.includes(rc.name)) continue;
        const applied: AppliedRoute[] = [];
        for (const vh of rc.virtual_hosts ?? []) {
          for (const route of vh.routes ?? []) {
            const id = route.match?.headers?.find((h) => h.name === "x-deployment-id")?.string_match?.exact;
            if (route.route?.cluster) applied.push({ deploymentId: id, cluster: route.route.cluster });
          }
        }
        this.routes.set(rc.name, applied);
      }
      this.accepted.route = r.version_info;
      out.push(this.req("route", this.rdsNames));
    }
    this.check(`after ${kind} ${r.version_info}`);
    return out;
  }

  /** Clusters named by applied routes that are not active: each is a 503 NC for its callers. */
  inactiveRouted(): string[] {
    const out: string[] = [];
    for (const routes of this.routes.values()) for (const r of routes) if (!this.active.has(r.cluster)) out.push(r.cluster);
    return [...new Set(out)];
  }

  /** What a call with this x-deployment-id gets: the cluster it reaches, or "503 NC". */
  call(deploymentId: string, routeConfig = "a2a_routes"): string {
    const route = (this.routes.get(routeConfig) ?? []).find((r) => r.deploymentId === undefined || r.deploymentId === deploymentId);
    if (!route || !this.active.has(route.cluster)) { this.outcomes.nc503++; return "503 NC"; }
    this.outcomes.ok++;
    return route.cluster;
  }

  /** The cluster each applied route sends a deployment to (catch-all under ""). */
  routeTable(routeConfig = "a2a_routes"): Record<string, string> {
    return Object.fromEntries((this.routes.get(routeConfig) ?? []).map((r) => [r.deploymentId ?? "", r.cluster]));
  }

  private check(when: string): void {
    const bad = this.inactiveRouted();
    if (bad.length > 0) this.violations.push(`${when}: routes name ${bad.join(", ")}, not active (active: ${[...this.active.keys()].join(", ")})`);
  }

  private namesFor(kind: ResourceKind): string[] {
    return kind === "endpoint" ? this.edsNames : kind === "route" ? this.rdsNames : [];
  }

  private req(kind: ResourceKind, names: string[]): WireRequest {
    return { type_url: TYPE_URLS[kind], version_info: this.accepted[kind] ?? "", resource_names: [...names], response_nonce: this.nonces[kind] ?? "" };
  }
}

/** RDS names of a decoded listener: its HTTP connection managers' rds.route_config_name. */
function rdsNamesOf(l: { filter_chains?: { filters?: { typed_config?: { value?: Uint8Array; type_url?: string } }[] }[] }): string[] {
  const hcm = messageType("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager");
  const out: string[] = [];
  for (const chain of l.filter_chains ?? []) {
    for (const f of chain.filters ?? []) {
      if (!f.typed_config?.value || !f.typed_config.type_url?.endsWith("HttpConnectionManager")) continue;
      const m = hcm.toObject(hcm.decode(f.typed_config.value), { defaults: false }) as { rds?: { route_config_name?: string } };
      if (m.rds?.route_config_name) out.push(m.rds.route_config_name);
    }
  }
  return out;
}

/**
 * TypeScript shapes for the subset of Envoy's v3 API this project writes, in Envoy's
 * JSON/YAML form (snake_case, durations as "5s", `@type` on typed configs). The types
 * catch typos at compile time; `proto.ts` checks the result against the real protos.
 */

export type Duration = `${number}s`;

export interface SocketAddress {
  readonly socket_address: { readonly address: string; readonly port_value: number; readonly protocol?: "TCP" };
}

/** A Unix domain socket (config/core/v3/address.proto, Pipe): `mode` only where Envoy creates it (listeners, admin). */
export interface PipeAddress {
  readonly pipe: { readonly path: string; readonly mode?: number };
}

/** config/core/v3/address.proto's Address oneof, so either member can be read without a cast. */
export type Address = (SocketAddress & { readonly pipe?: undefined }) | (PipeAddress & { readonly socket_address?: undefined });

/** A `google.protobuf.Any` in JSON form. */
export interface TypedConfig {
  readonly "@type": string;
  readonly [field: string]: unknown;
}

export interface StringMatcher {
  readonly exact?: string;
  readonly prefix?: string;
}

export interface HeaderMatcher {
  readonly name: string;
  readonly string_match?: StringMatcher;
  readonly present_match?: boolean;
}

export interface RouteAction {
  readonly cluster: string;
  /** "0s" disables the route timeout (long streams live as long as the client's deadline). */
  readonly timeout?: Duration;
  readonly max_stream_duration?: { readonly grpc_timeout_header_max?: Duration };
}

export interface Route {
  readonly name?: string;
  readonly match: { readonly prefix: string; readonly headers?: readonly HeaderMatcher[]; readonly grpc?: Record<string, never> };
  readonly route?: RouteAction;
  readonly direct_response?: { readonly status: number };
}

export interface VirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly Route[];
}

export interface RouteConfiguration {
  readonly name: string;
  readonly virtual_hosts: readonly VirtualHost[];
  readonly request_headers_to_remove?: readonly string[];
}

export interface ConfigSource {
  readonly ads: Record<string, never>;
  readonly resource_api_version: "V3";
}

export interface Filter {
  readonly name: string;
  readonly typed_config: TypedConfig;
}

export interface Listener {
  readonly name: string;
  readonly address?: SocketAddress;
  readonly filter_chains?: readonly { readonly filters: readonly Filter[] }[];
  /** Only for gRPC xDS clients: an HttpConnectionManager they use in-process, no socket. */
  readonly api_listener?: { readonly api_listener: TypedConfig };
  /** Not counted against (nor refused by) the overload manager's global connection limit. */
  readonly ignore_global_conn_limit?: boolean;
}

export interface LbEndpoint {
  readonly endpoint: {
    readonly address: Address;
    /** Health checks go to this port instead of the traffic port (the router's admin server). */
    readonly health_check_config?: { readonly port_value: number };
  };
}

export interface ClusterLoadAssignment {
  readonly cluster_name: string;
  /** gRPC xDS clients reject a locality group without `locality` and skip one without `load_balancing_weight`. */
  readonly endpoints: readonly {
    readonly locality?: { readonly region?: string; readonly zone?: string };
    readonly lb_endpoints: readonly LbEndpoint[];
    readonly load_balancing_weight?: number;
  }[];
}

export interface CircuitBreakerThresholds {
  readonly priority: "DEFAULT" | "HIGH";
  readonly max_connections: number;
  readonly max_pending_requests: number;
  readonly max_requests: number;
  readonly max_retries: number;
}

export interface HealthCheck {
  readonly timeout: Duration;
  readonly interval: Duration;
  readonly unhealthy_threshold: number;
  readonly healthy_threshold: number;
  readonly no_traffic_interval?: Duration;
  readonly http_health_check: { readonly path: string; readonly codec_client_type: "HTTP1" | "HTTP2" };
}

export interface Cluster {
  readonly name: string;
  /** The name in Envoy's stats (cluster.<alt_stat_name>.*) when `name` would break stats tag extraction. */
  readonly alt_stat_name?: string;
  readonly type: "STATIC" | "EDS" | "STRICT_DNS";
  readonly connect_timeout: Duration;
  readonly lb_policy?: "ROUND_ROBIN";
  readonly eds_cluster_config?: { readonly eds_config: ConfigSource };
  readonly load_assignment?: ClusterLoadAssignment;
  readonly typed_extension_protocol_options?: Readonly<Record<string, TypedConfig>>;
  readonly circuit_breakers?: { readonly thresholds: readonly CircuitBreakerThresholds[] };
  readonly health_checks?: readonly HealthCheck[];
}

export interface Bootstrap {
  readonly node: { readonly id: string; readonly cluster: string };
  readonly admin: { readonly address: PipeAddress };
  /** Merged in at start-up from the entrypoint's --config-yaml (overload.ts), never baked. */
  readonly overload_manager?: OverloadManager;
  readonly static_resources: { readonly listeners: readonly Listener[]; readonly clusters: readonly Cluster[] };
  readonly dynamic_resources?: {
    readonly ads_config: {
      readonly api_type: "GRPC";
      readonly transport_api_version: "V3";
      readonly grpc_services: readonly { readonly envoy_grpc: { readonly cluster_name: string } }[];
      readonly set_node_on_first_message_only?: boolean;
    };
    readonly lds_config: ConfigSource;
    readonly cds_config: ConfigSource;
  };
}

/** bootstrap `overload_manager` (config.overload.v3.OverloadManager): its monitors and actions are built by overload.ts. */
export interface OverloadManager {
  readonly refresh_interval: Duration;
  readonly resource_monitors: readonly { readonly name: string; readonly typed_config: TypedConfig }[];
  readonly actions: readonly { readonly name: string; readonly triggers: readonly { readonly name: string; readonly threshold: { readonly value: number } }[] }[];
}

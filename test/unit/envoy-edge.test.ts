/**
 * Envoy's edge hygiene and upstream liveness (envoy/config.ts), checked on the generated
 * bootstrap (Option A) and the xDS resources (Option B), each also against Envoy's v3 protos.
 * Sources:
 * - Envoy sanitizes `x-envoy-*` and other headers on external requests, internal/external decided
 *   by `use_remote_address` and `internal_address_config` (Envoy docs, HTTP header sanitizing);
 *   with no `internal_address_config`, "RFC1918 / RFC4193 IP addresses will be considered
 *   internal" (http_connection_manager.proto), which the NLB's private source addresses are.
 * - `KeepaliveSettings { interval, timeout }` under `Http2ProtocolOptions.connection_keepalive`
 *   (config/core/v3/protocol.proto), inside `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`.
 * - `suppress_envoy_headers` only stops headers the router filter adds (router.proto).
 */
import { strict as assert } from "node:assert";
import { BlockList } from "node:net";
import {
  A2A_LISTENER, buildBootstrap, buildXdsSnapshot, CALLER_HEADER, DEFAULT_ENVOY_INPUT, deploymentClusterName, INTERNAL_ADDRESSES,
  READY_LISTENER, ROUTER_CLUSTER, STRIPPED_REQUEST_HEADERS, validateEnvoyInput,
} from "../../envoy/config";
import type { Cluster, Listener, RouteConfiguration } from "../../envoy/types";
import { startXdsServer } from "../../router/xds";
import { silentLogger } from "../../lib/log";
import { MemoryRegistry } from "../helpers/memory-registry";
import { assertValidEnvoyConfig, envoyConfigProblems } from "../helpers/envoy-validate";

type Json = Record<string, unknown>;
const deployments = [{ id: "alpha", host: "10.0.0.7", port: 50054 }, { id: "beta", host: "127.0.0.1", port: 50055 }];

const hcmOf = (listener: Listener): Json => listener.filter_chains![0]!.filters[0]!.typed_config as Json;
const routerBootstrap = buildBootstrap();
const snapshot = buildXdsSnapshot(deployments);
const a2aListeners: [string, Listener][] = [
  ["mode router", routerBootstrap.static_resources.listeners.find((l) => l.name === A2A_LISTENER)!],
  ["mode xds", snapshot.listener.find((l) => l.name === A2A_LISTENER)!.resource as Listener],
];
const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const keepaliveOf = (c: Cluster): Json | undefined =>
  ((c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.explicit_http_config as Json)?.http2_protocol_options as Json)?.connection_keepalive as Json | undefined;
const seconds = (d: unknown): number => Number(String(d).replace(/s$/, ""));

describe("envoy edge: callers are external, their control headers never reach routing", () => {
  for (const [mode, listener] of a2aListeners) {
    it(`${mode}: the A2A listener trusts the peer address and counts only loopback as internal`, () => {
      const hcm = hcmOf(listener);
      assert.equal(hcm.use_remote_address, true);
      assert.deepEqual(hcm.internal_address_config, { cidr_ranges: INTERNAL_ADDRESSES.map((r) => ({ ...r })) });
      assert.equal(hcm.xff_num_trusted_hops, undefined, "no hop of x-forwarded-for is trusted");
      assertValidEnvoyConfig("envoy.config.listener.v3.Listener", listener);
    });
  }

  it("every address the NLB can connect from (RFC 1918, RFC 4193) is external; only loopback is internal", () => {
    const internal = new BlockList();
    for (const r of INTERNAL_ADDRESSES) internal.addSubnet(r.address_prefix, r.prefix_len, r.address_prefix.includes(":") ? "ipv6" : "ipv4");
    for (const nlb of ["10.0.12.34", "172.16.0.9", "172.31.255.1", "192.168.1.1", "100.64.0.1"]) assert.ok(!internal.check(nlb, "ipv4"), nlb);
    assert.ok(!internal.check("fd00::1", "ipv6"));
    assert.ok(internal.check("127.0.0.1", "ipv4") && internal.check("::1", "ipv6"));
  });

  it("the A2A router filter adds no x-envoy-* headers; the readiness listener is left as it was", () => {
    const routerFilter = (l: Listener): Json => ((hcmOf(l).http_filters as Json[]).at(-1)!.typed_config as Json);
    for (const [, listener] of a2aListeners) assert.equal(routerFilter(listener).suppress_envoy_headers, true);
    const ready = routerBootstrap.static_resources.listeners.find((l) => l.name === READY_LISTENER)!;
    assert.equal(routerFilter(ready).suppress_envoy_headers, undefined);
    assert.equal(hcmOf(ready).use_remote_address, undefined);
  });

  it("both modes' routes remove a caller-sent x-pixell-caller and the retry and timeout headers", () => {
    const inline = (hcmOf(a2aListeners[0]![1]).route_config as RouteConfiguration);
    const rds = snapshot.route[0]!.resource as RouteConfiguration;
    for (const routes of [inline, rds]) {
      const removed = routes.request_headers_to_remove ?? [];
      assert.ok(removed.includes(CALLER_HEADER), "x-pixell-caller is only the router's to set");
      for (const h of ["x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-max-retries", "x-envoy-retriable-status-codes", "x-envoy-retriable-header-names", "x-envoy-upstream-rq-timeout-ms"]) {
        assert.ok(removed.includes(h), h);
      }
      assert.deepEqual(removed, [...STRIPPED_REQUEST_HEADERS]);
      assertValidEnvoyConfig("envoy.config.route.v3.RouteConfiguration", routes);
    }
    assert.equal(CALLER_HEADER, "x-pixell-caller");
  });
});

describe("envoy upstream liveness: HTTP/2 PING keepalive and connect timeouts", () => {
  const clusters: [string, Cluster][] = [
    ["the router cluster (mode router, STATIC)", routerBootstrap.static_resources.clusters.find((c) => c.name === ROUTER_CLUSTER)!],
    ...snapshot.cluster.map((c): [string, Cluster] => [`${c.name} (mode xds, EDS)`, c.resource as Cluster]),
  ];

  it("covers the router cluster and every deployment cluster", () => {
    assert.deepEqual(clusters.map(([, c]) => c.name).sort(), [ROUTER_CLUSTER, ROUTER_CLUSTER, deploymentClusterName("alpha"), deploymentClusterName("beta")].sort());
  });

  for (const [what, cluster] of clusters) {
    it(`${what}: notices a peer gone without a FIN within 30 s, and connects within a few seconds`, () => {
      const keepalive = keepaliveOf(cluster);
      assert.deepEqual(keepalive, { interval: DEFAULT_ENVOY_INPUT.upstreamKeepalive.interval, timeout: DEFAULT_ENVOY_INPUT.upstreamKeepalive.timeout });
      assert.ok(seconds(keepalive!.interval) + seconds(keepalive!.timeout) <= 30);
      assert.ok(seconds(cluster.connect_timeout) >= 1 && seconds(cluster.connect_timeout) <= 5, cluster.connect_timeout);
      assertValidEnvoyConfig("envoy.config.cluster.v3.Cluster", cluster);
    });
  }

  it("the strict proto check would catch a misspelt keepalive field", () => {
    const [, cluster] = clusters[0]!;
    const bad = JSON.parse(JSON.stringify(cluster).replace('"connection_keepalive"', '"connection_keep_alive"')) as Cluster;
    assert.ok(envoyConfigProblems("envoy.config.cluster.v3.Cluster", bad).some((p) => p.includes("connection_keep_alive")));
    const noTimeout = JSON.parse(JSON.stringify(cluster).replace(',"timeout":"10s"', "")) as Cluster;
    assert.notDeepEqual(envoyConfigProblems("envoy.config.cluster.v3.Cluster", noTimeout), [], "KeepaliveSettings.timeout is required");
  });
});

describe("envoy config: the router's address must be an IP", () => {
  it("the bootstrap builder refuses a host name and says what to set", () => {
    const input = { ...DEFAULT_ENVOY_INPUT, router: { host: "localhost", port: 50052 } };
    assert.match(validateEnvoyInput(input).join("\n"), /router\.host "localhost" is not an IP address: .*127\.0\.0\.1 inside the task.*ROUTER_LISTEN/);
    assert.throws(() => buildBootstrap(input), /router\.host "localhost" is not an IP address/);
    assert.deepEqual(validateEnvoyInput({ ...DEFAULT_ENVOY_INPUT, router: { host: "::1", port: 50052 } }), []);
  });

  it("the xDS snapshot builder refuses one too", () => {
    assert.throws(() => buildXdsSnapshot(deployments, { envoy: { ...DEFAULT_ENVOY_INPUT, router: { host: "router.internal", port: 50052 } } }), /router\.host "router\.internal" is not an IP address/);
  });

  it("so the router's xDS server fails at start, naming ROUTER_LISTEN, rather than serve endpoints Envoy rejects", async () => {
    await assert.rejects(
      startXdsServer({ listen: "127.0.0.1:0", registry: new MemoryRegistry(deployments), routerTarget: { host: "localhost", port: 50052 }, logger: silentLogger }),
      /router\.host "localhost" is not an IP address: .*ROUTER_LISTEN/,
    );
  });
});

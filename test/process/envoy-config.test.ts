import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { isIP } from "node:net";
import fc from "fast-check";
import YAML from "yaml";
import {
  A2A_LISTENER, buildBootstrap, buildXdsSnapshot, DEFAULT_API_LISTENER, DEFAULT_ENVOY_INPUT, deploymentClusterName,
  ENVOY_MODES, ROUTER_CLUSTER, ROUTE_CONFIG_NAME, TYPE_URLS, validateEnvoyInput, whyNotRoutable, type ResourceKind,
} from "../../envoy/config";
import { BOOTSTRAP_TYPE, committedBootstrapPath, renderBootstrapYaml } from "../../envoy/cli";
import type { Bootstrap, Listener, RouteConfiguration, ClusterLoadAssignment } from "../../envoy/types";
import type { DeploymentRecord } from "../../registry/types";
import { isValidDeploymentId } from "../../registry/types";
import { assertValidEnvoyConfig, envoyConfigProblems } from "../helpers/envoy-validate";
import { ENVOY_ADMIN_SOCKET, ENVOY_READY_PATH, ENVOY_READY_PORT, ROUTER_ADMIN_PORT, ROUTER_PORT, XDS_SOCKET } from "../../lib/ports";

type Json = Record<string, unknown>;
const typeName = (kind: ResourceKind): string => TYPE_URLS[kind].split("/")[1]!;

/** Every object in a config tree, depth first (to assert "nowhere in the config"). */
function* objects(value: unknown): Generator<Json> {
  if (Array.isArray(value)) for (const v of value) yield* objects(v);
  else if (value && typeof value === "object") {
    yield value as Json;
    for (const v of Object.values(value)) yield* objects(v);
  }
}

function hcmOf(listener: Listener): Json {
  const filter = listener.filter_chains![0]!.filters[0]!;
  assert.equal(filter.typed_config["@type"], "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager");
  return filter.typed_config as Json;
}

const deployments: DeploymentRecord[] = [
  { id: "beta", host: "127.0.0.1", port: 50055 },
  { id: "alpha", host: "10.0.0.7", port: 50054 },
];

describe("envoy config: bootstrap", () => {
  for (const mode of ENVOY_MODES) {
    it(`mode ${mode} parses strictly against Envoy's v3 Bootstrap proto`, () => {
      assertValidEnvoyConfig(BOOTSTRAP_TYPE, buildBootstrap({ ...DEFAULT_ENVOY_INPUT, mode }));
    });

    it(`mode ${mode}: the committed envoy.${mode}.yaml is what the generator prints, and it parses`, () => {
      const committed = fs.readFileSync(committedBootstrapPath(mode), "utf8");
      assert.equal(committed, renderBootstrapYaml(mode), `envoy/envoy.${mode}.yaml is stale: run npm run envoy-config -- --all`);
      assertValidEnvoyConfig(BOOTSTRAP_TYPE, YAML.parse(committed));
    });
  }

  it("mode router: one listener on 50051 sends every call to the router over HTTP/2, with no route timeout and no retries", () => {
    const b = buildBootstrap({ ...DEFAULT_ENVOY_INPUT, mode: "router" });
    const a2a = b.static_resources.listeners.find((l) => l.name === A2A_LISTENER)!;
    assert.equal(a2a.address!.socket_address.port_value, 50051);
    const hcm = hcmOf(a2a);
    assert.equal(hcm.codec_type, "HTTP2");
    assert.equal(hcm.stream_idle_timeout, "3600s");
    const routes = (hcm.route_config as RouteConfiguration).virtual_hosts.flatMap((v) => v.routes);
    assert.deepEqual(routes.map((r) => [r.match.prefix, r.route?.cluster, r.route?.timeout]), [["/", ROUTER_CLUSTER, "0s"]]);
    const router = b.static_resources.clusters.find((c) => c.name === ROUTER_CLUSTER)!;
    const ep = router.load_assignment!.endpoints[0]!.lb_endpoints[0]!.endpoint;
    assert.deepEqual(ep.address.socket_address, { address: "127.0.0.1", port_value: ROUTER_PORT });
    assert.ok(router.typed_extension_protocol_options!["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]);
    for (const o of objects(b)) {
      assert.equal(o.retry_policy, undefined, "no retry policy anywhere");
      assert.equal(o.hedge_policy, undefined);
    }
    assert.ok((hcm.route_config as RouteConfiguration).request_headers_to_remove!.includes("x-envoy-retry-grpc-on"));
  });

  it("the router cluster is health-checked over HTTP on the router's admin /readyz, and circuit breakers are above Envoy's defaults", () => {
    const router = buildBootstrap().static_resources.clusters.find((c) => c.name === ROUTER_CLUSTER)!;
    assert.equal(router.health_checks![0]!.http_health_check.path, "/readyz");
    assert.equal(router.load_assignment!.endpoints[0]!.lb_endpoints[0]!.endpoint.health_check_config!.port_value, ROUTER_ADMIN_PORT);
    const t = router.circuit_breakers!.thresholds[0]!;
    assert.ok(t.max_requests > 1024 && t.max_pending_requests > 1024 && t.max_connections > 1024);
  });

  it("readiness answers on 15021 /ready from the health_check filter (no pass-through) and requires the router cluster healthy", () => {
    for (const mode of ENVOY_MODES) {
      const b = buildBootstrap({ ...DEFAULT_ENVOY_INPUT, mode });
      const ready = b.static_resources.listeners.find((l) => l.address?.socket_address.port_value === ENVOY_READY_PORT)!;
      const filters = hcmOf(ready).http_filters as { typed_config: Json }[];
      const hc = filters[0]!.typed_config;
      assert.equal(hc["@type"], "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck");
      assert.equal(hc.pass_through_mode, false);
      assert.deepEqual(hc.headers, [{ name: ":path", string_match: { exact: ENVOY_READY_PATH } }]);
      assert.deepEqual(hc.cluster_min_healthy_percentages, { [ROUTER_CLUSTER]: { value: 100 } });
    }
  });

  it("admin is on a Unix socket file (mode 0600, not the abstract namespace), never on a port; the A2A listener logs JSON to stdout with deployment id, gRPC status, upstream and duration", () => {
    const b = buildBootstrap();
    // Envoy's Pipe: "paths starting with '@' will use the abstract namespace" (config/core/v3/address.proto),
    // which belongs to the network namespace every process in the task shares.
    assert.deepEqual(b.admin.address, { pipe: { path: ENVOY_ADMIN_SOCKET, mode: 0o600 } });
    assert.ok(ENVOY_ADMIN_SOCKET.startsWith("/"));
    const log = (hcmOf(b.static_resources.listeners[0]!).access_log as { typed_config: Json }[])[0]!.typed_config;
    assert.equal(log["@type"], "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog");
    const format = (log.log_format as { json_format: Record<string, string> }).json_format;
    assert.equal(format.deployment_id, "%REQ(X-DEPLOYMENT-ID)%");
    assert.equal(format.grpc_status, "%GRPC_STATUS%");
    assert.equal(format.upstream_host, "%UPSTREAM_HOST%");
    assert.equal(format.duration_ms, "%DURATION%");
  });

  it("mode xds: listeners and clusters come over ADS from the router's xDS socket; only readiness and the xDS cluster are static", () => {
    const b: Bootstrap = buildBootstrap({ ...DEFAULT_ENVOY_INPUT, mode: "xds" });
    assert.deepEqual(b.static_resources.listeners.map((l) => l.name), ["ready"]);
    assert.equal(b.static_resources.clusters.length, 1);
    const xds = b.static_resources.clusters[0]!;
    assert.deepEqual(xds.load_assignment!.endpoints[0]!.lb_endpoints[0]!.endpoint.address, { pipe: { path: XDS_SOCKET } });
    assert.equal(b.dynamic_resources!.ads_config.grpc_services[0]!.envoy_grpc.cluster_name, xds.name);
    assert.deepEqual(b.dynamic_resources!.lds_config, { ads: {}, resource_api_version: "V3" });
    assert.deepEqual(b.dynamic_resources!.cds_config, { ads: {}, resource_api_version: "V3" });
  });

  it("npm run envoy-config prints the same YAML, and refuses an unknown mode with exit code 2", function () {
    this.timeout(20000);
    const cli = path.join(__dirname, "..", "..", "envoy", "cli.ts");
    const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", cli, ...args], { encoding: "utf8" });
    const ok = run("--mode", "xds");
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, renderBootstrapYaml("xds"));
    const bad = run("--mode", "mesh");
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--mode must be one of router, xds \(got "mesh"\)/);
  });

  it("rejects an input with a bad port or clashing ports, naming each problem", () => {
    const problems = validateEnvoyInput({ ...DEFAULT_ENVOY_INPUT, listenPort: 70000, readyPort: 70000 });
    assert.equal(problems.length, 3);
    assert.match(problems[0]!, /listenPort 70000 is not a TCP port/);
    assert.match(problems[2]!, /listenPort and readyPort must differ/);
    const sockets = validateEnvoyInput({ ...DEFAULT_ENVOY_INPUT, adminSocket: "@envoy-admin", xdsSocket: "run/xds.sock" });
    assert.deepEqual(sockets, [
      `adminSocket "@envoy-admin" is in the abstract namespace, which every process sharing the task's network can reach: use a file path`,
      `xdsSocket "run/xds.sock" must be an absolute path`,
    ]);
    assert.throws(() => buildBootstrap({ ...DEFAULT_ENVOY_INPUT, mode: "mesh" as never }), /mode "mesh" is not one of router, xds/);
  });

  it("the Dockerfile pins an official Envoy image tag and picks the baked file with ENVOY_MODE", () => {
    const dockerfile = fs.readFileSync(path.join(__dirname, "..", "..", "envoy", "Dockerfile"), "utf8");
    assert.match(dockerfile, /^ARG ENVOY_IMAGE=envoyproxy\/envoy:v\d+\.\d+\.\d+$/m);
    assert.match(dockerfile, /^COPY envoy\.\$\{ENVOY_MODE\}\.yaml \/etc\/envoy\/envoy\.yaml$/m);
    assert.match(dockerfile, /^ENTRYPOINT \["\/usr\/local\/bin\/pixell-envoy-entrypoint"\]$/m);
    assert.match(dockerfile, /^USER 101:101$/m, "runs unprivileged");
  });
});

describe("envoy config: the strict validator really rejects bad configs", () => {
  const good = (): Json => JSON.parse(JSON.stringify(buildBootstrap())) as Json;
  const hcm = (b: Json): Json => ((b.static_resources as Json).listeners as Listener[])[0]!.filter_chains![0]!.filters[0]!.typed_config as Json;
  const cases: [string, (b: Json) => void, RegExp][] = [
    ["an unknown top-level field", (b) => { b.statz = {}; }, /statz: unknown field "statz" in envoy\.config\.bootstrap\.v3\.Bootstrap/],
    ["an unknown field inside a typed_config", (b) => { hcm(b).stat_prefixx = "x"; }, /unknown field "stat_prefixx" in envoy\.extensions\.filters\.network\.http_connection_manager\.v3\.HttpConnectionManager/],
    ["an @type that names no loaded message", (b) => { hcm(b)["@type"] = "type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope"; }, /does not name a loaded message type/],
    ["an unknown enum name", (b) => { hcm(b).codec_type = "HTTP4"; }, /"HTTP4" is not a value of enum CodecType/],
    ["a malformed duration", (b) => { hcm(b).stream_idle_timeout = "1h"; }, /"1h" is not a duration/],
    ["a string where a number belongs", (b) => { (b.admin as { address: { pipe: Json } }).address.pipe.mode = "0600"; }, /"0600" is not a valid uint32/],
    ["a socket mode above 0777 (Pipe.mode lte 511)", (b) => { (b.admin as { address: { pipe: Json } }).address.pipe.mode = 0o1777; }, /admin\.address\.pipe\.mode: must be <= 511/],
    ["an admin on both a pipe and a port (Address is a oneof)", (b) => { (b.admin as { address: Json }).address.socket_address = { address: "127.0.0.1", port_value: 9901 }; }, /only one of address/],
    ["two members of a oneof", (b) => { hcm(b).rds = { route_config_name: "x", config_source: { ads: {}, resource_api_version: "V3" } }; }, /only one of route_specifier/],
    ["a missing required field (protoc-gen-validate)", (b) => { ((b.static_resources as Json).clusters as Json[])[0]!.health_checks = [{ timeout: "1s", interval: "1s", healthy_threshold: 1, http_health_check: { path: "/readyz" } }]; }, /unhealthy_threshold: required/],
    ["an empty required string (min_len)", (b) => { hcm(b).stat_prefix = ""; }, /stat_prefix: must have at least 1 character/],
    ["a duration outside its range (connect_timeout must be > 0)", (b) => { ((b.static_resources as Json).clusters as Json[])[0]!.connect_timeout = "0s"; }, /connect_timeout: must be longer than 0s/],
    ["an invalid HTTP header name", (b) => { (hcm(b).route_config as Json).request_headers_to_remove = ["x bad"]; }, /request_headers_to_remove\[0\]: "x bad" is not a valid HTTP_HEADER_NAME/],
    ["a deprecated field", (b) => { ((b.static_resources as Json).clusters as Json[])[0]!.max_requests_per_connection = 100; }, /max_requests_per_connection: field is deprecated/],
  ];
  for (const [what, mutate, expected] of cases) {
    it(`rejects ${what}`, () => {
      const b = good();
      mutate(b);
      const problems = envoyConfigProblems(BOOTSTRAP_TYPE, b);
      assert.ok(problems.some((p) => expected.test(p)), `expected a problem matching ${expected}, got:\n  ${problems.join("\n  ")}`);
    });
  }
});

describe("envoy config: xDS resources (Option B)", () => {
  it("every listener, route configuration, cluster and endpoint parses strictly", () => {
    const snapshot = buildXdsSnapshot(deployments);
    for (const kind of Object.keys(TYPE_URLS) as ResourceKind[]) {
      assert.ok(snapshot[kind].length > 0);
      for (const r of snapshot[kind]) assertValidEnvoyConfig(typeName(kind), r.resource);
    }
  });

  it("one exact x-deployment-id route per deployment to its own cluster, then the catch-all to the router", () => {
    const snapshot = buildXdsSnapshot(deployments);
    const rc = snapshot.route[0]!.resource as RouteConfiguration;
    assert.equal(rc.name, ROUTE_CONFIG_NAME);
    const routes = rc.virtual_hosts[0]!.routes;
    assert.deepEqual(routes.map((r) => [r.match.headers?.[0]?.string_match?.exact, r.route!.cluster]), [
      ["alpha", deploymentClusterName("alpha")],
      ["beta", deploymentClusterName("beta")],
      [undefined, ROUTER_CLUSTER],
    ]);
    assert.ok(routes.every((r) => r.match.headers === undefined || r.match.headers[0]!.name === "x-deployment-id"));
    const eps = snapshot.endpoint.map((e) => e.resource as ClusterLoadAssignment);
    const alpha = eps.find((e) => e.cluster_name === deploymentClusterName("alpha"))!;
    assert.deepEqual(alpha.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address!, { address: "10.0.0.7", port_value: 50054 });
  });

  it("serves Envoy's socket listener to everyone and the gRPC API listener only by name, both on the same routes", () => {
    const listeners = buildXdsSnapshot(deployments).listener;
    const envoy = listeners.find((l) => l.name === A2A_LISTENER)!;
    const api = listeners.find((l) => l.name === DEFAULT_API_LISTENER)!;
    assert.equal(envoy.namedOnly, undefined);
    assert.equal(api.namedOnly, true);
    assert.equal(((hcmOf(envoy.resource as Listener).rds as Json).route_config_name), ROUTE_CONFIG_NAME);
    const apiHcm = (api.resource as Listener).api_listener!.api_listener as Json;
    assert.equal((apiHcm.rds as Json).route_config_name, ROUTE_CONFIG_NAME);
  });

  it("gives no direct route to a record Envoy would reject (host name, bad port, bad id), saying why", () => {
    assert.equal(whyNotRoutable({ id: "ok", host: "10.0.0.1", port: 50054 }), undefined);
    assert.equal(whyNotRoutable({ id: "ok", host: "::1", port: 50054 }), undefined);
    assert.equal(whyNotRoutable({ id: "ok", host: "localhost", port: 50054 }), 'host "localhost" is not an IP address');
    assert.equal(whyNotRoutable({ id: "ok", host: "10.0.0.1", port: 0 }), "port 0 is not a TCP port");
    assert.equal(whyNotRoutable({ id: "a/b", host: "10.0.0.1", port: 1 }), "malformed deployment id");
    const snapshot = buildXdsSnapshot([{ id: "named", host: "agent.local", port: 50054 }, ...deployments]);
    assert.ok(!snapshot.cluster.some((c) => c.name === deploymentClusterName("named")));
  });

  it("keeps the clusters of just-removed deployments (lingering) without routing to them", () => {
    const snapshot = buildXdsSnapshot([deployments[0]!], { lingering: [deployments[1]!] });
    const clusterNames = snapshot.cluster.map((c) => c.name);
    assert.ok(clusterNames.includes(deploymentClusterName("alpha")));
    const routed = (snapshot.route[0]!.resource as RouteConfiguration).virtual_hosts[0]!.routes.map((r) => r.route!.cluster);
    assert.ok(!routed.includes(deploymentClusterName("alpha")));
  });

  it("property: whatever the registry holds, only valid ids get a route, each route names a served cluster, the router route is last", () => {
    const record = fc.record({
      id: fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/), fc.string({ maxLength: 12 }), fc.constantFrom("", "a/b", "../x", "a b", "x,y")),
      host: fc.constantFrom("127.0.0.1", "10.1.2.3", "::1", "localhost", "", "agent.local"),
      port: fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(0, -1, 70000)),
    });
    fc.assert(fc.property(fc.array(record, { maxLength: 15 }), (records) => {
      const snapshot = buildXdsSnapshot(records);
      const routes = (snapshot.route[0]!.resource as RouteConfiguration).virtual_hosts[0]!.routes;
      const clusters = new Set(snapshot.cluster.map((c) => c.name));
      const endpoints = new Set(snapshot.endpoint.map((e) => e.name));
      assert.equal(routes[routes.length - 1]!.route!.cluster, ROUTER_CLUSTER);
      assert.equal(routes[routes.length - 1]!.match.headers, undefined);
      for (const r of routes.slice(0, -1)) {
        const id = r.match.headers![0]!.string_match!.exact!;
        assert.ok(isValidDeploymentId(id), `route for invalid id ${JSON.stringify(id)}`);
        assert.ok(records.some((d) => d.id === id && whyNotRoutable(d) === undefined));
      }
      for (const e of snapshot.endpoint) {
        const addr = (e.resource as ClusterLoadAssignment).endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address!.address;
        assert.notEqual(isIP(addr), 0, `EDS endpoint ${addr} is not an IP literal`);
      }
      for (const r of routes) {
        assert.ok(clusters.has(r.route!.cluster) && endpoints.has(r.route!.cluster), `route names missing cluster ${r.route!.cluster}`);
      }
    }), { numRuns: 200 });
  });
});

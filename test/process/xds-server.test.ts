/**
 * The xDS server on the wire, driven by a raw ADS client that behaves like Envoy
 * (wildcard LDS/CDS, named RDS/EDS, explicit ACKs and NACKs).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import * as prom from "prom-client";
import { buildXdsSnapshot, deploymentClusterName, ROUTE_CONFIG_NAME, ROUTER_CLUSTER, TYPE_URLS, type ResourceKind } from "../../envoy/config";
import { encodeMessage, messageType } from "../../envoy/proto";
import { ADS_METHOD_PATH, startXdsIfConfigured, startXdsServer, xdsOptionsFor, type XdsServer } from "../../router/xds";
import type { ClusterLoadAssignment, RouteConfiguration } from "../../envoy/types";
import { startRouter } from "../../router";
import { parseRouterConfig } from "../../router/config";
import { silentLogger } from "../../lib/log";
import { assertValidEnvoyConfig } from "../helpers/envoy-validate";
import { MemoryRegistry } from "../helpers/memory-registry";

interface Response { version_info: string; type_url: string; nonce: string; resources: { type_url: string; value: Uint8Array }[] }
type Decoded = Record<string, unknown>;

const REQ = messageType("envoy.service.discovery.v3.DiscoveryRequest");
const RES = messageType("envoy.service.discovery.v3.DiscoveryResponse");
const typeName = (kind: ResourceKind): string => TYPE_URLS[kind].split("/")[1]!;
const kindOf = (typeUrl: string): ResourceKind => (Object.keys(TYPE_URLS) as ResourceKind[]).find((k) => TYPE_URLS[k] === typeUrl)!;

/** One ADS stream, with the responses queued in arrival order. */
class AdsTestClient {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<object, Response>;
  private readonly queue: Response[] = [];
  private waiter: (() => void) | undefined;

  /** A TCP port on 127.0.0.1, or a grpc-js target such as `unix:/path`. */
  constructor(target: number | string, readonly nodeId: string) {
    this.client = new grpc.Client(typeof target === "number" ? `127.0.0.1:${target}` : target, grpc.credentials.createInsecure());
    this.call = this.client.makeBidiStreamRequest(
      ADS_METHOD_PATH,
      (v: object) => Buffer.from(REQ.encode(REQ.fromObject(v)).finish()),
      (b: Buffer) => RES.toObject(RES.decode(b), { defaults: true, arrays: true }) as Response,
    );
    this.call.on("data", (r: Response) => { this.queue.push(r); this.waiter?.(); });
    this.call.on("error", () => { /* the server closing the stream at the end of a test */ });
  }

  request(kind: ResourceKind, fields: { names?: string[]; version?: string; nonce?: string; error?: string } = {}): void {
    this.call.write({
      node: { id: this.nodeId, cluster: "test" },
      type_url: TYPE_URLS[kind],
      resource_names: fields.names ?? [],
      version_info: fields.version ?? "",
      response_nonce: fields.nonce ?? "",
      ...(fields.error ? { error_detail: { code: 3, message: fields.error } } : {}),
    });
  }

  ack(r: Response): void {
    this.request(kindOf(r.type_url), { version: r.version_info, nonce: r.nonce, names: this.namesFor(r) });
  }

  /** What this Envoy-like client subscribes to: wildcard LDS/CDS, named RDS/EDS. */
  namesFor(r: Response): string[] {
    const kind = kindOf(r.type_url);
    return kind === "route" ? [ROUTE_CONFIG_NAME] : kind === "endpoint" ? this.edsNames : [];
  }
  edsNames: string[] = [];

  async next(timeoutMs = 2000): Promise<Response> {
    const started = Date.now();
    while (this.queue.length === 0) {
      const left = timeoutMs - (Date.now() - started);
      if (left <= 0) throw new Error(`no xDS response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => { const t = setTimeout(resolve, left); this.waiter = () => { clearTimeout(t); resolve(); }; });
      this.waiter = undefined;
    }
    return this.queue.shift()!;
  }

  /** Responses that arrive within `ms` (to assert that nothing else comes). */
  async drain(ms: number): Promise<Response[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.splice(0);
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}

const decode = (kind: ResourceKind, r: { type_url: string; value: Uint8Array }): Decoded => {
  assert.equal(r.type_url, TYPE_URLS[kind]);
  const t = messageType(typeName(kind));
  return t.toObject(t.decode(r.value), { defaults: false }) as Decoded;
};
const names = (kind: ResourceKind, r: Response): string[] =>
  r.resources.map((x) => { const d = decode(kind, x); return String(kind === "endpoint" ? d.cluster_name : d.name); });

describe("xds server: the ADS protocol on the wire", function () {
  this.timeout(15000);
  let registry: MemoryRegistry;
  let server: XdsServer;
  let client: AdsTestClient;
  let logs: Record<string, unknown>[];
  let metricsRegistry: prom.Registry;

  beforeEach(async () => {
    metricsRegistry = new prom.Registry();
    logs = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } });
    registry = new MemoryRegistry([{ id: "alpha", host: "127.0.0.1", port: 50054 }]);
    server = await startXdsServer({ listen: "127.0.0.1:0", registry, routerTarget: { host: "127.0.0.1", port: 50052 }, logger, metricsRegistry });
    client = new AdsTestClient(server.port, "envoy-like");
  });
  afterEach(async () => {
    client.close();
    await server.close();
  });

  /** Subscribes like Envoy does: CDS, then EDS for the clusters, then LDS, then RDS; ACKs everything. */
  async function subscribeAll(): Promise<Response> {
    client.request("cluster");
    const cds = await client.next();
    client.ack(cds);
    client.edsNames = names("cluster", cds);
    client.request("endpoint", { names: client.edsNames });
    const eds = await client.next();
    client.ack(eds);
    client.request("listener");
    client.ack(await client.next());
    client.request("route", { names: [ROUTE_CONFIG_NAME] });
    client.ack(await client.next());
    assert.deepEqual(await client.drain(150), [], "ACKs are not answered");
    return eds;
  }

  it("sends exactly the resources it validated: every byte decodes as its type and equals the strictly checked JSON", async () => {
    // The server was started with the default router address and admin port, so this is what it serves.
    const snapshot = buildXdsSnapshot(registry.list());
    const fresh = new AdsTestClient(server.port, "fresh");
    try {
      const got: Partial<Record<ResourceKind, Response>> = {};
      fresh.request("cluster");
      got.cluster = await fresh.next();
      // Routes only go out once the clusters they name are ACKed and warm (R1 in router/xds/protocol.ts).
      fresh.ack(got.cluster);
      fresh.edsNames = snapshot.endpoint.map((e) => e.name);
      fresh.request("endpoint", { names: fresh.edsNames });
      got.endpoint = await fresh.next();
      fresh.ack(got.endpoint);
      fresh.request("listener");
      got.listener = await fresh.next();
      fresh.request("route", { names: [ROUTE_CONFIG_NAME] });
      got.route = await fresh.next();
      for (const kind of Object.keys(got) as ResourceKind[]) {
        const sent = got[kind]!.resources;
        const expected = snapshot[kind].filter((r) => !r.namedOnly);
        assert.equal(sent.length, expected.length, `${kind} count`);
        expected.forEach((r, i) => {
          assertValidEnvoyConfig(typeName(kind), r.resource);
          assert.deepEqual(Buffer.from(sent[i]!.value), Buffer.from(encodeMessage(typeName(kind), r.resource)), `${kind} ${r.name} bytes`);
        });
      }
      assert.deepEqual(names("listener", got.listener), ["a2a"], "Envoy's wildcard LDS never gets the gRPC API listener");
    } finally {
      fresh.close();
    }
  });

  /** What Envoy does after a CDS response: ACK it, then ask for every EDS cluster it knows (with the last EDS nonce). */
  function afterCds(cds: Response, edsNonce: string, edsVersion: string): void {
    client.ack(cds);
    client.edsNames = names("cluster", cds);
    client.request("endpoint", { names: client.edsNames, nonce: edsNonce, version: edsVersion });
  }

  it("pushes a new deployment as CDS, then (once ACKed and asked for) its endpoints, then the route: never a route first", async () => {
    const eds0 = await subscribeAll();
    registry.add({ id: "beta", host: "127.0.0.1", port: 50055 });
    const cds = await client.next(1000);
    assert.equal(kindOf(cds.type_url), "cluster");
    assert.ok(names("cluster", cds).includes(deploymentClusterName("beta")));
    assert.deepEqual(await client.drain(150), [], "no EDS (unchanged for this client) and no route before the cluster is ACKed and warm");
    afterCds(cds, eds0.nonce, eds0.version_info);
    const eds = await client.next(1000);
    assert.equal(kindOf(eds.type_url), "endpoint");
    assert.deepEqual(await client.drain(100), [], "the route waits for the endpoints' ACK");
    client.ack(eds);
    const rds = await client.next(1000);
    assert.equal(kindOf(rds.type_url), "route");
    assert.ok(names("endpoint", eds).includes(deploymentClusterName("beta")));
    const routes = (decode("route", rds.resources[0]!) as unknown as RouteConfiguration).virtual_hosts[0]!.routes;
    assert.deepEqual(routes.map((r) => r.route!.cluster), [deploymentClusterName("alpha"), deploymentClusterName("beta"), ROUTER_CLUSTER]);
  });

  it("coalesces a burst of changes into one push per type, and a steady stream still pushes within a second", async () => {
    const eds0 = await subscribeAll();
    for (let i = 0; i < 50; i++) registry.add({ id: `burst-${i}`, host: "127.0.0.1", port: 51000 + i });
    const first = await client.next(1000);
    assert.deepEqual((await client.drain(400)).map((r) => kindOf(r.type_url)), [], "one CDS push for the burst");
    assert.equal(kindOf(first.type_url), "cluster");
    assert.equal(names("cluster", first).length, 1 + 1 + 50);
    afterCds(first, eds0.nonce, eds0.version_info);
    const eds = await client.next();
    client.ack(eds);
    const rds = await client.next();
    assert.deepEqual([eds, rds].map((r) => kindOf(r.type_url)), ["endpoint", "route"]);
    client.ack(rds);

    // One change every 40 ms never lets the 100 ms debounce expire; the 1 s ceiling must still push.
    const started = Date.now();
    let i = 0;
    const ticker = setInterval(() => registry.add({ id: `steady-${i++}`, host: "127.0.0.1", port: 52000 + i }), 40);
    try {
      // 1 s ceiling plus slack for a loaded machine; without the ceiling nothing would come until the ticker stops.
      const pushed = await client.next(1500);
      assert.equal(kindOf(pushed.type_url), "cluster");
      assert.ok(names("cluster", pushed).some((n) => n.startsWith(deploymentClusterName("steady-"))), `pushed after ${Date.now() - started} ms with the steady changes so far`);
    } finally {
      clearInterval(ticker);
    }
  });

  it("logs a NACK with its error detail, records the version as rejected and does not send it again", async () => {
    await subscribeAll();
    registry.add({ id: "beta", host: "127.0.0.1", port: 50055 });
    const cds = await client.next();
    const accepted = server.streams().find((s) => s.node === "envoy-like")!.types.cluster!.acceptedVersion;
    client.request("cluster", { version: accepted, nonce: cds.nonce, error: "cluster deployment_beta: bad connect_timeout" });
    const after = (await client.drain(300)).filter((r) => kindOf(r.type_url) === "cluster");
    assert.deepEqual(after, [], "the NACKed version is not re-sent");
    const status = server.streams().find((s) => s.node === "envoy-like")!.types.cluster!;
    assert.equal(status.rejectedVersion, cds.version_info);
    assert.equal(status.acceptedVersion, accepted);
    const nack = logs.find((l) => l.level === 40 && String(l.msg).includes("NACK"));
    assert.ok(nack, "a warning was logged");
    assert.equal(nack.errorDetail, "cluster deployment_beta: bad connect_timeout");
    assert.equal(nack.version, cds.version_info);
  });

  it("a removed deployment loses its route at once and its cluster only once the client ACKed routes without it (no timer)", async () => {
    await subscribeAll();
    registry.remove("alpha");
    // First only the route changes: its cluster stays, so no route ever names a missing cluster.
    const route = await client.next();
    assert.equal(kindOf(route.type_url), "route");
    const routes = (decode("route", route.resources[0]!) as unknown as RouteConfiguration).virtual_hosts[0]!.routes;
    assert.deepEqual(routes.map((r) => r.route!.cluster), [ROUTER_CLUSTER]);
    assert.deepEqual(await client.drain(300), [], "the cluster stays for as long as the route is not ACKed");
    client.ack(route);
    const cds = await client.next(1000);
    assert.equal(kindOf(cds.type_url), "cluster");
    assert.deepEqual(names("cluster", cds), [ROUTER_CLUSTER]);
  });

  it("counts NACKs and stale requests in the router's /metrics registry", async () => {
    const eds0 = await subscribeAll();
    client.request("endpoint", { names: client.edsNames, nonce: "no-such-nonce", version: eds0.version_info });
    registry.add({ id: "beta", host: "127.0.0.1", port: 50055 });
    const cds = await client.next();
    client.request("cluster", { version: "", nonce: cds.nonce, error: "rejected for the test" });
    await client.drain(100);
    const text = await metricsRegistry.metrics();
    assert.match(text, /pixell_router_xds_nacks_total\{type="cluster"\} 1/);
    assert.match(text, /pixell_router_xds_stale_requests_total\{type="endpoint"\} 1/);
    assert.match(text, /pixell_router_xds_inconsistent_snapshots_total 0/);
    assert.ok(logs.some((l) => l.level === 20 && l.msg === "xds request with a stale nonce ignored" && l.nonce === "no-such-nonce"), "stale requests are logged at debug");
  });

  it("ignores a request with a stale nonce, and close() unsubscribes from the registry and ends streams", async () => {
    client.request("cluster");
    const first = await client.next();
    registry.add({ id: "beta", host: "127.0.0.1", port: 50055 });
    const second = await client.next();
    client.request("cluster", { version: first.version_info, nonce: first.nonce, error: "stale complaint" });
    await client.drain(200);
    assert.equal(server.streams()[0]!.types.cluster!.rejectedVersion, undefined);
    assert.ok(second.version_info !== first.version_info);
    assert.equal(registry.listenerCount, 1);
    await server.close();
    assert.equal(registry.listenerCount, 0);
    assert.deepEqual(server.streams(), []);
  });
});

describe("xds server: wiring into the router process", () => {
  it("is off without ROUTER_XDS, and points Envoy at the router over loopback when the router listens on a wildcard", () => {
    const bound = { port: 50052, adminPort: 9902, registry: new MemoryRegistry() };
    assert.equal(xdsOptionsFor({ listen: { host: "0.0.0.0", port: 50052 }, xds: undefined }, bound, silentLogger), undefined);
    const opts = xdsOptionsFor({ listen: { host: "0.0.0.0", port: 50052 }, xds: { host: "127.0.0.1", port: 18000 } }, bound, silentLogger)!;
    assert.equal(opts.listen, "127.0.0.1:18000");
    assert.deepEqual(opts.routerTarget, { host: "127.0.0.1", port: 50052 });
    assert.equal(opts.routerAdminPort, 9902);
    assert.equal(opts.registry, bound.registry);
    assert.equal(xdsOptionsFor({ listen: { host: "10.0.0.5", port: 50052 }, xds: { host: "::1", port: 18000 } }, bound, silentLogger)!.listen, "[::1]:18000");
  });

  it("parses unix:/PATH for ROUTER_XDS and passes it to grpc-js as is; refuses relative, abstract and over-long paths", () => {
    const bound = { port: 50052, adminPort: 9902, registry: new MemoryRegistry() };
    const config = parseRouterConfig([], { ROUTER_REGISTRY: "file:/r.json", ROUTER_XDS: "unix:/var/run/pixell-xds/xds.sock" });
    assert.deepEqual(config.xds, { socketPath: "/var/run/pixell-xds/xds.sock" });
    assert.equal(xdsOptionsFor(config, bound, silentLogger)!.listen, "unix:/var/run/pixell-xds/xds.sock");
    // unix(7): sun_path is 108 bytes with the terminating NUL.
    for (const bad of ["unix:run/xds.sock", "unix:@xds", `unix:/${"x".repeat(107)}`]) {
      assert.throws(() => parseRouterConfig([], { ROUTER_REGISTRY: "file:/r.json", ROUTER_XDS: bad }), /--xds \(ROUTER_XDS\) must be HOST:PORT or unix:\/ABSOLUTE\/PATH of at most 107 bytes/);
    }
  });

  it("serves on a Unix socket that Envoy's uid can connect to (0666), replacing a socket left by an earlier run", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xds-sock-"));
    const socketPath = path.join(dir, "xds.sock");
    // A socket file from a process that was killed before it could remove it.
    spawnSync(process.execPath, ["-e", `require("node:net").createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, "SIGKILL"))`], { timeout: 10000 });
    assert.ok(fs.lstatSync(socketPath).isSocket(), "the stale socket is there");
    const xds = await startXdsServer({ listen: `unix:${socketPath}`, registry: new MemoryRegistry([{ id: "alpha", host: "127.0.0.1", port: 50054 }]), routerTarget: { host: "127.0.0.1", port: 50052 }, logger: silentLogger });
    const client = new AdsTestClient(`unix:${socketPath}`, "unix-client");
    try {
      assert.equal(xds.address, `unix:${socketPath}`);
      assert.equal(fs.statSync(socketPath).mode & 0o777, 0o666);
      client.request("cluster");
      const cds = await client.next();
      assert.deepEqual(cds.resources.map((r) => (decode("cluster", r) as { name: string }).name).sort(), [deploymentClusterName("alpha"), ROUTER_CLUSTER].sort());
    } finally {
      client.close();
      await xds.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("will not remove a file that is not a socket, and says where it could not listen", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xds-sock-"));
    const notASocket = path.join(dir, "xds.sock");
    fs.writeFileSync(notASocket, "keep me");
    try {
      await assert.rejects(
        startXdsServer({ listen: `unix:${notASocket}`, registry: new MemoryRegistry(), routerTarget: { host: "127.0.0.1", port: 50052 }, logger: silentLogger }),
        new RegExp(`xDS server cannot listen on unix:${notASocket.replace(/[/.]/g, "\\$&")}: .*unix:/PATH in a directory the router may write`));
      assert.equal(fs.readFileSync(notASocket, "utf8"), "keep me");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("starts next to a real router, serving the router's own registry", async () => {
    const registry = new MemoryRegistry([{ id: "alpha", host: "127.0.0.1", port: 50054 }]);
    const router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry, logger: silentLogger });
    const xds = await startXdsIfConfigured({ listen: { host: "0.0.0.0", port: router.port }, xds: { host: "127.0.0.1", port: 0 } }, router, silentLogger);
    const client = new AdsTestClient(xds!.port, "wired");
    try {
      client.request("endpoint", { names: [ROUTER_CLUSTER, deploymentClusterName("alpha")] });
      const eds = await client.next();
      const byName = Object.fromEntries(eds.resources.map((r) => {
        const d = decode("endpoint", r) as unknown as ClusterLoadAssignment;
        return [d.cluster_name, d.endpoints[0]!.lb_endpoints[0]!.endpoint];
      }));
      assert.deepEqual(byName[ROUTER_CLUSTER]!.address.socket_address!, { address: "127.0.0.1", port_value: router.port });
      assert.equal(byName[ROUTER_CLUSTER]!.health_check_config!.port_value, router.adminPort);
      assert.equal(byName[deploymentClusterName("alpha")]!.address.socket_address!.port_value, 50054);
    } finally {
      client.close();
      await xds?.close();
      await router.close();
    }
  });
});

/**
 * The xDS server exercised by a real xDS client: @grpc/grpc-js-xds resolving
 * `xds:///pixell-a2a` from the router's ADS. grpc-js-xds registers its resolver for the
 * whole process and caches its bootstrap on first use, so everything xDS lives in this file.
 */
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { startDemoAgent, type DemoAgent } from "../local/demo-agent";
import { agentServiceDefinition, type Pong } from "../proto";
import { startXdsServer, type XdsServer } from "../router/xds";
import type { TypeStatus } from "../router/xds/protocol";
import { DEFAULT_API_LISTENER } from "../infra/envoy/config";
import { MemoryRegistry } from "./helpers/memory-registry";

type PingClient = grpc.Client & {
  Ping(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Pong) => void): void;
};

const record = (a: DemoAgent) => ({ id: a.deploymentId, host: a.host, port: a.port });

describe("xds server with a real gRPC xDS client (@grpc/grpc-js-xds)", function () {
  this.timeout(30000);
  let agents: Record<"alpha" | "beta" | "gamma", DemoAgent>;
  /** Stands in for the router: the catch-all route's target. It answers with its own id, so we can see what fell through. */
  let routerStandIn: DemoAgent;
  let registry: MemoryRegistry;
  let xds: XdsServer;
  let client: PingClient;
  const savedBootstrap = process.env.GRPC_XDS_BOOTSTRAP_CONFIG;

  before(async () => {
    const [alpha, beta, gamma] = await Promise.all(["alpha", "beta", "gamma"].map((id) => startDemoAgent({ deploymentId: id })));
    agents = { alpha: alpha!, beta: beta!, gamma: gamma! };
    routerStandIn = await startDemoAgent({ deploymentId: "router" });
    registry = new MemoryRegistry([record(agents.alpha), record(agents.beta)]);
    xds = await startXdsServer({ listen: "127.0.0.1:0", registry, routerTarget: { host: routerStandIn.host, port: routerStandIn.port } });
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: `127.0.0.1:${xds.port}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
      node: { id: "xds-client-test", cluster: "test", locality: {} },
    });
    grpcXds.register();
    const Ctor = grpc.makeGenericClientConstructor(agentServiceDefinition(), "AgentService");
    client = new Ctor(`xds:///${DEFAULT_API_LISTENER}`, grpc.credentials.createInsecure()) as unknown as PingClient;
  });

  after(async () => {
    client?.close();
    await xds?.close();
    await Promise.all([...Object.values(agents ?? {}), routerStandIn].filter(Boolean).map((a) => a.stop(true)));
    if (savedBootstrap === undefined) delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
    else process.env.GRPC_XDS_BOOTSTRAP_CONFIG = savedBootstrap;
  });

  const ping = (deploymentId: string | undefined): Promise<Pong> => {
    const md = new grpc.Metadata();
    if (deploymentId !== undefined) md.set("x-deployment-id", deploymentId);
    return new Promise((resolve, reject) =>
      client.Ping({}, md, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res!))));
  };

  /** Polls until `ping(id)` is answered by `expected` (xDS updates are asynchronous); returns how long it took. */
  const routedTo = async (id: string, expected: string, withinMs = 3000): Promise<number> => {
    const started = Date.now();
    let last = "";
    while (Date.now() - started < withinMs) {
      try {
        last = (await ping(id)).message;
        if (last === `pong from ${expected}`) return Date.now() - started;
      } catch (err) {
        last = String(err);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.fail(`calls for ${id} did not reach ${expected} within ${withinMs} ms (last answer: ${last})`);
  };

  it("routes calls with different x-deployment-id values straight to different agents", async () => {
    assert.equal((await ping("alpha")).message, "pong from alpha");
    assert.equal((await ping("beta")).message, "pong from beta");
    assert.equal((await ping("alpha")).message, "pong from alpha");
    assert.equal(agents.alpha.calls.get("Ping"), 2);
    assert.equal(agents.beta.calls.get("Ping"), 1);
    assert.equal(routerStandIn.calls.get("Ping"), undefined, "nothing known went through the router");
  });

  it("sends missing, malformed and unknown ids to the router, never to an agent", async () => {
    const before = { alpha: agents.alpha.calls.get("Ping") ?? 0, beta: agents.beta.calls.get("Ping") ?? 0 };
    for (const id of [undefined, "", "alpha,beta", "ALPHA", "alpha ", "../alpha", "nobody"]) {
      assert.equal((await ping(id)).message, "pong from router", `id ${JSON.stringify(id)}`);
    }
    assert.equal(agents.alpha.calls.get("Ping") ?? 0, before.alpha);
    assert.equal(agents.beta.calls.get("Ping") ?? 0, before.beta);
  });

  it("a deployment added to the registry becomes routable without restarts", async () => {
    assert.equal((await ping("gamma")).message, "pong from router");
    registry.add(record(agents.gamma));
    await routedTo("gamma", "gamma");
    assert.ok((agents.gamma.calls.get("Ping") ?? 0) >= 1);
  });

  it("a removed deployment stops being routed to its agent (the router answers for it)", async () => {
    registry.remove("beta");
    await routedTo("beta", "router");
    const betaCalls = agents.beta.calls.get("Ping") ?? 0;
    for (let i = 0; i < 3; i++) assert.equal((await ping("beta")).message, "pong from router");
    assert.equal(agents.beta.calls.get("Ping") ?? 0, betaCalls);
    assert.equal((await ping("alpha")).message, "pong from alpha", "the others are untouched");
  });

  it("the client ACKed every type it subscribed to, at the server's current versions, and NACKed nothing", async () => {
    // ACKs travel asynchronously after the last push: give them a moment.
    const settled = (): boolean => {
      const s = xds.streams().find((x) => x.node === "xds-client-test");
      return !!s && (["listener", "route", "cluster", "endpoint"] as const).every((k) => s.types[k]?.acceptedVersion === xds.versions()[k]);
    };
    for (let i = 0; i < 40 && !settled(); i++) await new Promise((r) => setTimeout(r, 50));
    const stream = xds.streams().find((s) => s.node === "xds-client-test");
    assert.ok(stream, "the client's ADS stream is connected");
    const versions = xds.versions();
    for (const kind of ["listener", "route", "cluster", "endpoint"] as const) {
      const t = stream.types[kind] as TypeStatus | undefined;
      assert.ok(t, `subscribed to ${kind}`);
      assert.equal(t.rejectedVersion, undefined, `${kind} was NACKed`);
      assert.equal(t.acceptedVersion, versions[kind], `${kind} accepted version`);
    }
  });
});

/**
 * The xDS server exercised by a real xDS client: @grpc/grpc-js-xds resolving
 * `xds:///pixell-a2a` from the router's ADS, with the real router (sharing the registry, as
 * in production) as the catch-all. grpc-js-xds registers its resolver for the whole process
 * and caches its bootstrap on first use, so everything xDS lives in this file.
 */
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { agentServiceDefinition, type Pong } from "../../proto";
import { startXdsServer, type XdsServer } from "../../router/xds";
import type { TypeStatus } from "../../router/xds/protocol";
import { DEFAULT_API_LISTENER } from "../../envoy/config";
import { MemoryRegistry } from "../helpers/memory-registry";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger } from "../../lib/log";

type PingClient = grpc.Client & {
  Ping(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Pong) => void): void;
};

const record = (a: DemoAgent) => ({ id: a.deploymentId, host: a.host, port: a.port });

describe("xds server with a real gRPC xDS client (@grpc/grpc-js-xds)", function () {
  this.timeout(30000);
  let agents: Record<"alpha" | "beta" | "gamma", DemoAgent>;
  /**
   * The real router, the catch-all route's target: answers INVALID_ARGUMENT / NOT_FOUND for what it
   * cannot route. In production it shares the xDS server's registry; here it gets an empty one, so
   * an answer from an agent proves the call went straight there over xDS, not through the router.
   */
  let router: RunningRouter;
  let registry: MemoryRegistry;
  let xds: XdsServer;
  let client: PingClient;
  const savedBootstrap = process.env.GRPC_XDS_BOOTSTRAP_CONFIG;

  before(async () => {
    const [alpha, beta, gamma] = await Promise.all(["alpha", "beta", "gamma"].map((id) => startDemoAgent({ deploymentId: id })));
    agents = { alpha: alpha!, beta: beta!, gamma: gamma! };
    registry = new MemoryRegistry([record(agents.alpha), record(agents.beta)]);
    router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: new MemoryRegistry(), logger: silentLogger });
    xds = await startXdsServer({ listen: "127.0.0.1:0", registry, routerTarget: { host: "127.0.0.1", port: router.port }, routerAdminPort: router.adminPort });
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
    await router?.close();
    await Promise.all(Object.values(agents ?? {}).map((a) => a.stop(true)));
    if (savedBootstrap === undefined) delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
    else process.env.GRPC_XDS_BOOTSTRAP_CONFIG = savedBootstrap;
  });

  const ping = (deploymentId: string | undefined): Promise<Pong> => {
    const md = new grpc.Metadata();
    if (deploymentId !== undefined) md.set("x-deployment-id", deploymentId);
    return new Promise((resolve, reject) =>
      client.Ping({}, md, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res!))));
  };

  /** The gRPC status of a Ping for `id` (0 when it was answered). */
  const pingCode = (id: string | undefined): Promise<{ code: number; text: string }> =>
    ping(id).then((r) => ({ code: 0, text: r.message }), (err: grpc.ServiceError) => ({ code: err.code, text: err.details }));

  /** Polls until `ping(id)` gives `expected` (xDS updates are asynchronous); returns how long it took. */
  const eventually = async (id: string, expected: { code: number; text?: RegExp }, withinMs = 3000): Promise<number> => {
    const started = Date.now();
    let last = { code: -1, text: "" };
    while (Date.now() - started < withinMs) {
      last = await pingCode(id);
      if (last.code === expected.code && (!expected.text || expected.text.test(last.text))) return Date.now() - started;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.fail(`calls for ${id} did not give ${JSON.stringify(String(expected.text ?? expected.code))} within ${withinMs} ms (last: ${JSON.stringify(last)})`);
  };


  it("routes calls with different x-deployment-id values straight to different agents", async () => {
    assert.equal((await ping("alpha")).message, "pong from alpha");
    assert.equal((await ping("beta")).message, "pong from beta");
    assert.equal((await ping("alpha")).message, "pong from alpha");
    assert.equal(agents.alpha.calls.get("Ping"), 2);
    assert.equal(agents.beta.calls.get("Ping"), 1);
  });

  it("sends missing, malformed and unknown ids to the router, which answers INVALID_ARGUMENT / NOT_FOUND; never to an agent", async () => {
    const before = { alpha: agents.alpha.calls.get("Ping") ?? 0, beta: agents.beta.calls.get("Ping") ?? 0 };
    for (const id of [undefined, "", "alpha,beta", "../alpha", "alpha beta"]) {
      const r = await pingCode(id);
      assert.equal(r.code, grpc.status.INVALID_ARGUMENT, `id ${JSON.stringify(id)}: ${r.text}`);
      assert.match(r.text, /x-deployment-id/);
    }
    for (const id of ["ALPHA", "nobody"]) {
      const r = await pingCode(id);
      assert.equal(r.code, grpc.status.NOT_FOUND, `id ${JSON.stringify(id)}: ${r.text}`);
    }
    assert.equal(agents.alpha.calls.get("Ping") ?? 0, before.alpha);
    assert.equal(agents.beta.calls.get("Ping") ?? 0, before.beta);
  });

  it("a deployment added to the registry becomes routable without restarts", async () => {
    assert.equal((await pingCode("gamma")).code, grpc.status.NOT_FOUND);
    registry.add(record(agents.gamma));
    await eventually("gamma", { code: 0, text: /^pong from gamma$/ });
    assert.equal((await ping("gamma")).message, "pong from gamma");
  });

  it("a removed deployment stops being routed to its agent (the router answers NOT_FOUND for it)", async () => {
    registry.remove("beta");
    await eventually("beta", { code: grpc.status.NOT_FOUND });
    const betaCalls = agents.beta.calls.get("Ping") ?? 0;
    for (let i = 0; i < 3; i++) assert.equal((await pingCode("beta")).code, grpc.status.NOT_FOUND);
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

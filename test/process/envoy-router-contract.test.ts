/**
 * What the Envoy config assumes about the router, checked against the real router:
 * Envoy's active health check (HTTP/1 GET on the admin port) drives readiness on :15021.
 */
import { strict as assert } from "node:assert";
import * as http from "node:http";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger } from "../../lib/log";
import { buildBootstrap, DEFAULT_ENVOY_INPUT, ROUTER_CLUSTER } from "../../envoy/config";
import { ROUTER_ADMIN_PORT, ROUTER_PORT } from "../../lib/ports";
import { MemoryRegistry } from "../helpers/memory-registry";
import * as grpc from "@grpc/grpc-js";
import { startDemoAgent } from "../../fixtures/demo-agent";
import { checkHealth } from "../../lib/health";

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
  });
}

describe("envoy config: the router contract it relies on", function () {
  this.timeout(10000);
  let router: RunningRouter | undefined;
  afterEach(async () => {
    await router?.close();
    router = undefined;
  });

  const healthCheck = () => {
    const cluster = buildBootstrap({ ...DEFAULT_ENVOY_INPUT, mode: "router" }).static_resources.clusters.find((c) => c.name === ROUTER_CLUSTER)!;
    const endpoint = cluster.load_assignment!.endpoints[0]!.lb_endpoints[0]!.endpoint;
    return { path: cluster.health_checks![0]!.http_health_check.path, port: endpoint.health_check_config!.port_value, trafficPort: endpoint.address.socket_address!.port_value };
  };

  it("targets the router's default ports: traffic on 50052, health check on the admin port", () => {
    const hc = healthCheck();
    assert.equal(hc.trafficPort, ROUTER_PORT);
    assert.equal(hc.port, ROUTER_ADMIN_PORT);
  });

  it("the health-check path answers 200 on a ready router and 503 while it drains (so Envoy's readiness fails)", async () => {
    // A call held open by a hung agent keeps the router draining long enough to look at /readyz.
    const agent = await startDemoAgent({ deploymentId: "slow", hang: true });
    let viaRouter: grpc.Client | undefined;
    try {
      router = await startRouter({
        listen: "127.0.0.1:0", admin: "127.0.0.1:0", logger: silentLogger, drainMs: 3000,
        registry: new MemoryRegistry([{ id: "slow", host: agent.host, port: agent.port }]),
      });
      const { path } = healthCheck();
      assert.equal(await get(router.adminPort, path), 200);
      viaRouter = new grpc.Client(`127.0.0.1:${router.port}`, grpc.credentials.createInsecure());
      const pending = checkHealth(viaRouter, "slow", 1000);
      while (router.activeCalls() === 0) await new Promise((r) => setTimeout(r, 10));
      const drained = router.drain();
      assert.equal(await get(router.adminPort, path), 503);
      await pending;
      await drained;
    } finally {
      viaRouter?.close();
      await agent.stop(true);
    }
  });
});

/**
 * The xDS server never makes an Envoy-like client route to a cluster it does not have active.
 * `EnvoyAdsModel` (fixtures/envoy-ads-model.ts) behaves as Envoy does (wildcard CDS/LDS,
 * EDS paused during CDS, clusters warming until their ClusterLoadAssignment, routes applied at
 * once); the stream's two directions are delivered in random interleavings.
 * Rules: Envoy's api-docs/xds_protocol.rst, "Eventual consistency considerations" ("the management
 * plane must ensure that clusters referenced by a route are in place, before pushing the updates
 * for a route") and "Resource warming" ("Warming of Cluster is completed only when a
 * ClusterLoadAssignment response is supplied").
 */
import { strict as assert } from "node:assert";
import fc from "fast-check";
import { deploymentClusterName, ROUTER_CLUSTER } from "../../envoy/config";
import type { DeploymentRecord } from "../../registry/types";
import { AdsLoopback } from "../../fixtures/ads-loopback";

const rec = (id: string, port = 50054, host = "127.0.0.1"): DeploymentRecord => ({ id, host, port });
const IDS = ["a", "b", "c.d", "e"] as const;

type Op =
  | { op: "add"; id: string; port: number }
  | { op: "remove"; id: string }
  | { op: "port"; id: string; port: number }
  | { op: "unroutable"; id: string }
  | { op: "reconnect" }
  | { op: "nack"; type: "cluster" | "endpoint" | "listener" | "route" }
  | { op: "toServer" }
  | { op: "toClient" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("add" as const), id: fc.constantFrom(...IDS), port: fc.integer({ min: 50054, max: 50060 }) }),
  fc.record({ op: fc.constant("remove" as const), id: fc.constantFrom(...IDS) }),
  fc.record({ op: fc.constant("port" as const), id: fc.constantFrom(...IDS), port: fc.integer({ min: 50054, max: 50060 }) }),
  fc.record({ op: fc.constant("unroutable" as const), id: fc.constantFrom(...IDS) }),
  fc.record({ op: fc.constant("reconnect" as const) }),
  fc.record({ op: fc.constant("nack" as const), type: fc.constantFrom("cluster" as const, "endpoint" as const, "listener" as const, "route" as const) }),
  // Message deliveries dominate, so changes land while earlier ones are still on the wire.
  { arbitrary: fc.constant({ op: "toServer" as const }), weight: 6 },
  { arbitrary: fc.constant({ op: "toClient" as const }), weight: 6 },
);

function run(ops: readonly Op[]): { loop: AdsLoopback; registry: Map<string, DeploymentRecord> } {
  const registry = new Map<string, DeploymentRecord>([["a", rec("a")]]);
  const loop = new AdsLoopback([...registry.values()]);
  loop.settle();
  for (const o of ops) {
    switch (o.op) {
      case "add": registry.set(o.id, rec(o.id, o.port)); loop.change([...registry.values()]); break;
      case "remove": registry.delete(o.id); loop.change([...registry.values()]); break;
      case "port": if (registry.has(o.id)) { registry.set(o.id, { ...registry.get(o.id)!, port: o.port }); loop.change([...registry.values()]); } break;
      case "unroutable": if (registry.has(o.id)) { registry.set(o.id, { ...registry.get(o.id)!, host: `${o.id}.agents.internal` }); loop.change([...registry.values()]); } break;
      case "reconnect": loop.connect(); break;
      case "nack": loop.model.nackNext.add(o.type); break;
      case "toServer": loop.deliverToServer(); break;
      case "toClient": loop.deliverToClient(); break;
    }
  }
  return { loop, registry };
}

describe("xds ordering: an Envoy-like client never routes to an inactive cluster", function () {
  this.timeout(120_000);

  it("random registry changes, reconnects and NACKs in random interleavings (fast-check)", () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
      const { loop, registry } = run(ops);
      loop.model.nackNext.clear();
      loop.settle();
      assert.deepEqual(loop.model.violations, [], "no moment where an applied route named an inactive or missing cluster");
      // Liveness: one more change (a NACK may rightly hold routes until the next one) and the
      // client converges on the registry: every routable deployment routed to its own cluster.
      registry.set("z", rec("z"));
      loop.change([...registry.values()]);
      loop.settle();
      assert.deepEqual(loop.model.violations, []);
      const expected: Record<string, string> = { "": ROUTER_CLUSTER };
      for (const d of registry.values()) if (!d.host.endsWith(".internal")) expected[d.id] = deploymentClusterName(d.id);
      assert.deepEqual(loop.model.routeTable(), expected);
      assert.deepEqual(loop.stream.heldRoutes(), []);
      // And removed clusters went away once no applied route named them (R2 is not a leak).
      assert.deepEqual([...loop.model.active.keys()].sort(), Object.values(expected).sort());
    }), { numRuns: Number(process.env.XDS_RUNS ?? 150) });
  });

  // The six scenarios of issue 14 that dropped calls before, each as a fixed sequence.
  const scenarios: Record<string, Op[]> = {
    "add: CDS, then EDS and RDS while the new cluster warms": [{ op: "add", id: "b", port: 50055 }, { op: "toClient" }, { op: "toClient" }, { op: "toClient" }],
    "a record becoming unroutable while registered": [{ op: "unroutable", id: "a" }, { op: "toClient" }, { op: "toClient" }, { op: "toServer" }],
    "reconnect after an add": [{ op: "add", id: "b", port: 50055 }, { op: "reconnect" }, { op: "toServer" }, { op: "toServer" }, { op: "toServer" }, { op: "toServer" }, { op: "toClient" }, { op: "toClient" }, { op: "toClient" }],
    "reconnect after a remove": [{ op: "remove", id: "a" }, { op: "reconnect" }, { op: "toServer" }, { op: "toClient" }, { op: "toServer" }, { op: "toClient" }],
    "a NACKed CDS": [{ op: "nack", type: "cluster" }, { op: "add", id: "b", port: 50055 }, { op: "toClient" }, { op: "toServer" }, { op: "toClient" }, { op: "toClient" }],
    "a NACKed route update": [{ op: "nack", type: "route" }, { op: "remove", id: "a" }, { op: "toClient" }, { op: "toServer" }, { op: "toClient" }],
    // Found by the property (seed 72504104): a route sent after an EDS response the client then NACKed.
    "a NACKed EDS response for a new cluster": [{ op: "add", id: "b", port: 50054 }, { op: "toClient" }, { op: "toServer" }, { op: "toServer" }, { op: "nack", type: "endpoint" }, { op: "toClient" }, { op: "toClient" }],
  };
  for (const [name, ops] of Object.entries(scenarios)) {
    it(`scenario: ${name}`, () => {
      const { loop } = run(ops);
      assert.deepEqual(loop.model.violations, []);
      loop.model.nackNext.clear();
      loop.settle();
      assert.deepEqual(loop.model.violations, []);
    });
  }

  it("a NACKed CDS holds the route to the rejected cluster: calls keep going through the router, none get 503 NC", () => {
    const { loop } = run([{ op: "nack", type: "cluster" }, { op: "add", id: "b", port: 50055 }]);
    loop.settle();
    assert.equal(loop.model.call("b"), ROUTER_CLUSTER, "the route to b was never sent");
    assert.deepEqual(loop.stream.heldRoutes(), ["a2a_routes"]);
    assert.equal(loop.model.outcomes.nc503, 0);
    assert.equal(loop.stream.status().cluster!.acceptedVersion, loop.model.accepted.cluster);
  });

  it("a NACKed route update keeps the removed deployment's cluster until a route version without it is ACKed", () => {
    const { loop } = run([{ op: "nack", type: "route" }, { op: "remove", id: "a" }]);
    loop.settle();
    assert.equal(loop.model.call("a"), deploymentClusterName("a"), "the client still uses its old routes");
    assert.ok(loop.model.active.has(deploymentClusterName("a")), "so the cluster stays");
    loop.change([rec("b")]);
    loop.settle();
    assert.equal(loop.model.call("a"), ROUTER_CLUSTER);
    assert.equal(loop.model.active.has(deploymentClusterName("a")), false, "gone once a route version without it was ACKed");
  });
});

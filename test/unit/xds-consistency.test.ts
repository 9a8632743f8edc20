/**
 * The consistency check a snapshot passes before it is served, after go-control-plane's
 * Snapshot.Consistent() (pkg/cache/v3/snapshot.go: every resource a route or cluster references
 * exists), and alt_stat_name on deployment clusters (Envoy's cluster.proto: "the name used for
 * emitting stats for the cluster"; stat tag extraction splits on ".").
 */
import { strict as assert } from "node:assert";
import { buildXdsSnapshot, deploymentClusterName, ROUTER_CLUSTER, type XdsSnapshot } from "../../envoy/config";
import type { Cluster } from "../../envoy/types";
import { routeClusterNames, snapshotProblems } from "../../router/xds/consistency";
import { SnapshotCache } from "../../router/xds/snapshot";
import { DEFAULT_API_LISTENER, DEFAULT_ENVOY_INPUT } from "../../envoy/config";
import { assertValidEnvoyConfig } from "../helpers/envoy-validate";

const records = [{ id: "alpha", host: "127.0.0.1", port: 50054 }, { id: "team.beta", host: "127.0.0.1", port: 50055 }];

describe("xds consistency check", () => {
  const good = buildXdsSnapshot(records);

  it("a snapshot built from the registry is consistent", () => {
    assert.deepEqual(snapshotProblems(good), []);
    assert.deepEqual(routeClusterNames(good.route[0]!.resource as never).sort(), [deploymentClusterName("alpha"), deploymentClusterName("team.beta"), ROUTER_CLUSTER].sort());
  });

  it("finds a route naming a missing cluster, an EDS cluster without endpoints, a missing route configuration and a duplicate", () => {
    const broken: XdsSnapshot = {
      listener: good.listener,
      route: [],
      cluster: [...good.cluster, good.cluster[1]!],
      endpoint: good.endpoint.filter((e) => e.name !== deploymentClusterName("alpha")),
    };
    const problems = snapshotProblems(broken);
    assert.ok(problems.some((p) => /listener "a2a" fetches route configuration "a2a_routes"/.test(p)), problems.join("\n"));
    assert.ok(problems.some((p) => /EDS cluster "deployment_alpha" has no ClusterLoadAssignment/.test(p)));
    assert.ok(problems.some((p) => /cluster "deployment_alpha" appears twice/.test(p)));
    const noCluster: XdsSnapshot = { ...good, cluster: good.cluster.filter((c) => c.name !== deploymentClusterName("alpha")) };
    assert.ok(snapshotProblems(noCluster).some((p) => /routes to cluster "deployment_alpha", which the snapshot does not have/.test(p)));
  });

  it("the cache publishes only consistent snapshots, and reuses encodings of unchanged resources", () => {
    const cache = new SnapshotCache({ apiListeners: [DEFAULT_API_LISTENER], envoy: DEFAULT_ENVOY_INPUT, versionPrefix: "t" });
    const first = cache.build(records);
    assert.ok(first.ok);
    const second = cache.build([...records, { id: "gamma", host: "127.0.0.1", port: 50056 }]);
    assert.ok(second.ok);
    assert.deepEqual(second.changed, ["cluster", "endpoint", "route"]);
    assert.equal(second.stats.encoded, 3, "only the new cluster, its endpoints and the route configuration are encoded");
    assert.equal(second.snapshot.resources.listener[0]!.payload, first.snapshot.resources.listener[0]!.payload);
  });

  it("deployment clusters carry alt_stat_name with dots replaced, and still parse strictly", () => {
    const c = good.cluster.find((x) => x.name === deploymentClusterName("team.beta"))!.resource as Cluster;
    assert.equal(c.alt_stat_name, "deployment_team_beta");
    assertValidEnvoyConfig("envoy.config.cluster.v3.Cluster", c);
  });
});

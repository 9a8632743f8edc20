/**
 * A registry past 1,000 deployments: one Cloud Map service per shard (docs/decisions/registry-shards.md),
 * read by the one listing (router/registry/cloudmap-listing.ts) in the router, `a2a check` and the probe.
 * Against the local Cloud Map endpoint (fixtures/fake-cloudmap.ts, real SDK client, AWS JSON 1.1).
 *
 * AWS rules these tests hold the code to:
 * - DiscoverInstances: MaxResults 1-1000, no NextToken, a randomized list
 *   (https://docs.aws.amazon.com/cloud-map/latest/api/API_DiscoverInstances.html).
 * - DiscoverInstancesRevision: changes when instances register or deregister
 *   (https://docs.aws.amazon.com/cloud-map/latest/api/API_DiscoverInstancesRevision.html).
 * - 1,000 instances per service, not adjustable; 2,000 per namespace, adjustable; DiscoverInstances
 *   1,000/s steady and 2,000 burst, DiscoverInstancesRevision 3,000/s, per account and Region
 *   (https://docs.aws.amazon.com/cloud-map/latest/dg/cloud-map-limits.html).
 */
import { strict as assert } from "node:assert";
import type { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { A2AClient } from "../../client";
import { runCli } from "../../client/cli";
import { EXIT } from "../../client/cli-args";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger } from "../../lib/log";
import { CloudMapSource, cloudMapSourceFactory } from "../../registry/cloudmap";
import { DISCOVER_MAX_RESULTS, listService, listServices, serviceRevision } from "../../registry/cloudmap-listing";
import { RegistryChain } from "../../registry/chain";
import { CLOUDMAP_QUOTAS, startFakeCloudMap, type FakeCloudMap, type FakeInstance } from "../../fixtures/fake-cloudmap";

const NS = "pixell-runtime.local";
const SHARDS = ["agents", "agents-1", "agents-2"];
const spec = (shards: readonly string[]): string => shards.map((s) => `cloudmap:${NS}/${s}`).join(",");

const deployments = (prefix: string, n: number, port: number): FakeInstance[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${String(i).padStart(4, "0")}`, ipv4: "127.0.0.1", port }));

describe("registry shards: the one Cloud Map listing", () => {
  let cm: FakeCloudMap;
  let sd: ServiceDiscoveryClient;
  afterEach(async () => {
    sd.destroy();
    await cm.close();
  });

  it("lists a whole service with one DiscoverInstances (HealthStatus ALL, MaxResults 1000, no NextToken)", async () => {
    cm = await startFakeCloudMap({ instances: [...deployments("d", 999, 1), { id: "sick", ipv4: "127.0.0.1", port: 2, health: "UNHEALTHY" }] });
    sd = cm.client();
    const l = await listService(sd, { namespace: NS, service: "agents" });
    assert.equal(l.instances.length, 1000);
    assert.deepEqual([l.full, l.paged, l.revision], [true, false, cm.revision]);
    assert.ok(l.instances.some((i) => i.InstanceId === "sick"), "unhealthy instances are listed");
    assert.equal(cm.requests.length, 1);
    assert.deepEqual(cm.requests[0]!.body, { NamespaceName: NS, ServiceName: "agents", HealthStatus: "ALL", MaxResults: DISCOVER_MAX_RESULTS });
    assert.equal(await serviceRevision(sd, { namespace: NS, service: "agents" }), cm.revision);
  });

  it("the fake holds the code to Cloud Map's quotas: 1,000 per service, the namespace's own quota across shards", async () => {
    cm = await startFakeCloudMap({ services: SHARDS.map((name) => ({ name })) });
    sd = cm.client();
    assert.throws(() => cm.setInstances(deployments("x", CLOUDMAP_QUOTAS.instancesPerService + 1, 1), "agents"), /1000 per service \(not adjustable\)/);
    cm.setInstances(deployments("a", 1000, 1), "agents");
    cm.setInstances(deployments("b", 1000, 1), "agents-1");
    assert.throws(() => cm.setInstances(deployments("c", 1, 1), "agents-2"), /namespace pixell-runtime\.local would hold 2001 instances; its quota is 2000/);
  });

  it("lists every shard concurrently, one call each, and names a failing shard", async () => {
    cm = await startFakeCloudMap({ instancesPerNamespace: 3000, services: SHARDS.map((name, k) => ({ name, instances: deployments(`s${k}`, 1000, k + 1) })) });
    sd = cm.client();
    const listings = await listServices(sd, SHARDS.map((service) => ({ namespace: NS, service })));
    assert.deepEqual(listings.map((l) => [l.ref.service, l.instances.length]), [["agents", 1000], ["agents-1", 1000], ["agents-2", 1000]]);
    assert.equal(cm.count("DiscoverInstances"), 3);
    await assert.rejects(listServices(sd, [{ namespace: NS, service: "agents" }, { namespace: NS, service: "agents-7" }]),
      /DiscoverInstances on Cloud Map service pixell-runtime\.local\/agents-7 failed \(ServiceNotFound/);
  });
});

describe("registry shards: a router reading every shard", function () {
  this.timeout(60_000);
  let cm: FakeCloudMap;
  let agents: DemoAgent[];
  let router: RunningRouter;
  let client: A2AClient;

  const shardSources = (): CloudMapSource[] => (router.registry as RegistryChain).sources.filter((s): s is CloudMapSource => s instanceof CloudMapSource);
  const refreshAll = (): Promise<unknown> => Promise.all(shardSources().map((s) => s.refresh()));

  before(async () => {
    // One agent per shard: the Health answer names the agent, so a call proves which shard it reached.
    agents = await Promise.all(SHARDS.map((s) => startDemoAgent({ deploymentId: `agent-of-${s}` })));
    cm = await startFakeCloudMap({
      instancesPerNamespace: 3000,
      services: SHARDS.map((name, k) => ({ name, instances: deployments(`s${k}`, k === 0 ? 1000 : 300, agents[k]!.port) })),
    });
    router = await startRouter({
      listen: "127.0.0.1:0", admin: "127.0.0.1:0", logger: silentLogger, registry: spec(SHARDS),
      // Polls are driven by the test (refresh), so nothing depends on timing.
      sourceFactory: cloudMapSourceFactory({ client: cm.client(), pollIntervalMs: 60_000 }),
    });
    client = new A2AClient({ endpoint: `127.0.0.1:${router.port}`, timeoutMs: 5000 });
  });
  after(async () => {
    client.close();
    await router.close();
    await Promise.all(agents.map((a) => a.stop(true)));
    await cm.close();
  });

  it("routes a deployment of any shard to its agent, 1,600 deployments over three shards", async () => {
    assert.equal(router.registry.list().length, 1600);
    for (const [k, id] of [[0, "s0-0999"], [1, "s1-0000"], [2, "s2-0299"]] as const) {
      const r = await client.health(id);
      assert.equal(r.ok, true, r.message);
      assert.match(r.message, new RegExp(`agent-of-${SHARDS[k]}`), `${id} reached shard ${SHARDS[k]}'s agent`);
    }
    assert.equal((await client.health("s1-0300")).codeName, "NOT_FOUND");
  });

  it("polls with one DiscoverInstancesRevision per shard and refetches only the shard that moved", async () => {
    const before = { revisions: cm.count("DiscoverInstancesRevision"), lists: cm.count("DiscoverInstances") };
    await refreshAll();
    assert.equal(cm.count("DiscoverInstancesRevision") - before.revisions, SHARDS.length);
    assert.equal(cm.count("DiscoverInstances") - before.lists, 0, "nothing moved: no listing");

    cm.setInstances([...deployments("s1", 300, agents[1]!.port), { id: "new-on-1", ipv4: "127.0.0.1", port: agents[1]!.port }], "agents-1");
    const mark = cm.requests.length;
    await refreshAll();
    const sent = cm.requests.slice(mark).map((r) => `${r.operation} ${(r.body as { ServiceName: string }).ServiceName}`).sort();
    assert.deepEqual(sent, ["DiscoverInstances agents-1", "DiscoverInstancesRevision agents", "DiscoverInstancesRevision agents-1", "DiscoverInstancesRevision agents-2"]);
    assert.match((await client.health("new-on-1")).message, /agent-of-agents-1/);
  });

  it("a shard Cloud Map cannot answer keeps serving its last snapshot; the others are unaffected", async () => {
    cm.failNext({ status: 503, type: "ServiceUnavailable", message: "shard down" }, 5, undefined, (b) => b.ServiceName === "agents-2");
    cm.setInstances(deployments("s2", 299, agents[2]!.port), "agents-2");
    await refreshAll();
    const [s0, , s2] = shardSources();
    assert.match(s2!.lastError ?? "", /shard down/);
    assert.equal(s0!.lastError, undefined);
    assert.equal((await client.health("s2-0299")).ok, true, "the stale snapshot still routes");
    assert.equal((await client.health("s0-0000")).ok, true);
  });

  it("a2a check lists every shard through the same listing", async () => {
    let stdout = "";
    let stderr = "";
    const small = await startFakeCloudMap({ services: [{ name: "agents", instances: deployments("s0", 3, agents[0]!.port) }, { name: "agents-1", instances: deployments("s1", 2, agents[1]!.port) }] });
    const sd = small.client();
    try {
      const code = await runCli(["check", "--registry", spec(["agents", "agents-1"]), "--endpoint", `127.0.0.1:${router.port}`, "--json"], {
        stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, env: {}, logger: silentLogger, serviceDiscovery: sd,
      });
      assert.equal(code, EXIT.OK, stderr);
      const doc = JSON.parse(stdout) as { healthy: number; results: { deploymentId: string }[] };
      assert.deepEqual(doc.results.map((r) => r.deploymentId), ["s0-0000", "s0-0001", "s0-0002", "s1-0000", "s1-0001"]);
      assert.equal(small.count("DiscoverInstances"), 2);
    } finally {
      sd.destroy();
      await small.close();
    }
  });
});

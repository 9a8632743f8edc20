import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiscoverInstancesRevisionCommand, type ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { discoverFromCloudMap, discoverFromFile, DiscoveryError } from "../../probe-lambda/discover";
import { CLOUDMAP_THROTTLING, startFakeCloudMap, type FakeCloudMap, type FakeInstance } from "../../fixtures/fake-cloudmap";

const instances = (n: number, prefix = "dep"): FakeInstance[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${String(i).padStart(4, "0")}`, ipv4: "10.0.0.5", port: 50054 + (i % 100) }));

describe("probe discovery: Cloud Map", () => {
  let cm: FakeCloudMap;
  let sd: ServiceDiscoveryClient;

  beforeEach(async () => {
    cm = await startFakeCloudMap();
    sd = cm.client();
  });
  afterEach(async () => {
    sd.destroy();
    await cm.close();
  });
  const target = () => ({ namespace: cm.namespace, service: cm.service });

  it("lists every instance whatever its health, with one DiscoverInstances (AWS JSON 1.1, HealthStatus ALL)", async () => {
    cm.setInstances([
      { id: "b-healthy", ipv4: "10.0.0.5", port: 50054, health: "HEALTHY" },
      { id: "a-unhealthy", ipv4: "10.0.0.5", port: 50055, health: "UNHEALTHY" },
      { id: "c-unknown", ipv4: "10.0.0.5", port: 50056, health: "UNKNOWN" },
    ]);
    assert.deepEqual(await discoverFromCloudMap(sd, target()), { ids: ["a-unhealthy", "b-healthy", "c-unknown"], truncated: false, shards: [{ service: "agents", instances: 3 }] });
    assert.equal(cm.count("DiscoverInstances"), 1);
    const req = cm.requests[0]!;
    assert.equal(req.target, "Route53AutoNaming_v20170314.DiscoverInstances");
    assert.equal(req.contentType, "application/x-amz-json-1.1");
    assert.deepEqual(req.body, { NamespaceName: "pixell-runtime.local", ServiceName: "agents", HealthStatus: "ALL", MaxResults: 1000 });
  });

  it("returns 999 instances from one call without paging", async () => {
    cm.setInstances(instances(999));
    const d = await discoverFromCloudMap(sd, { ...target(), serviceId: cm.serviceId });
    assert.equal(d.ids.length, 999);
    assert.equal(cm.count("ListInstances"), 0);
  });

  // Cloud Map caps a service at 1,000 instances, not adjustable (cloud-map-limits.html), so one
  // DiscoverInstances (MaxResults 1000) returns a whole service today. The ListInstances path runs only
  // if AWS ever lets a service hold more: the fake's quotas are lifted to reach it.
  it("completes a full page with the paginated ListInstances when the service id is known (only past today's quota)", async () => {
    await cm.close();
    cm = await startFakeCloudMap({ quotas: false });
    sd.destroy();
    sd = cm.client();
    cm.setInstances(instances(1234));
    const d = await discoverFromCloudMap(sd, { ...target(), serviceId: cm.serviceId });
    assert.deepEqual(d, { ids: instances(1234).map((i) => i.id), truncated: false, shards: [{ service: "agents", instances: 1234 }] });
    assert.equal(cm.count("DiscoverInstances"), 1);
    assert.equal(cm.count("ListInstances"), 13);
  });

  it("marks a full page as truncated when it cannot page further (only past today's quota)", async () => {
    await cm.close();
    cm = await startFakeCloudMap({ quotas: false });
    sd.destroy();
    sd = cm.client();
    cm.setInstances(instances(1500));
    const d = await discoverFromCloudMap(sd, target());
    assert.equal(d.ids.length, 1000);
    assert.equal(d.truncated, true);
  });

  it("fails with a DiscoveryError naming the service when Cloud Map refuses", async () => {
    await assert.rejects(discoverFromCloudMap(sd, { namespace: cm.namespace, service: "nope" }), (err: Error) => {
      assert.ok(err instanceof DiscoveryError);
      assert.match(err.message, /DiscoverInstances on Cloud Map service pixell-runtime.local\/nope failed \(ServiceNotFound: Service nope not found.\)/);
      return true;
    });
  });

  it("fails on throttling when retries are off, and gets through it with the SDK's retries", async () => {
    cm.setInstances(instances(3));
    cm.failNext(CLOUDMAP_THROTTLING, 1, "DiscoverInstances");
    await assert.rejects(discoverFromCloudMap(sd, target()), /RequestLimitExceeded/);
    cm.failNext(CLOUDMAP_THROTTLING, 1, "DiscoverInstances");
    const retrying = cm.client(3);
    try {
      assert.equal((await discoverFromCloudMap(retrying, target())).ids.length, 3);
      assert.equal(cm.count("DiscoverInstances"), 3);
    } finally {
      retrying.destroy();
    }
  });

  it("serves DiscoverInstancesRevision from the mutable list (for the router's Cloud Map source)", async () => {
    const before = await sd.send(new DiscoverInstancesRevisionCommand({ NamespaceName: cm.namespace, ServiceName: cm.service }));
    cm.setInstances(instances(2));
    const after = await sd.send(new DiscoverInstancesRevisionCommand({ NamespaceName: cm.namespace, ServiceName: cm.service }));
    assert.equal(after.InstancesRevision, (before.InstancesRevision ?? 0) + 1);
    assert.equal(cm.count("DiscoverInstancesRevision"), 2);
  });
});

describe("probe discovery: a sharded registry (one Cloud Map service per shard)", () => {
  let cm: FakeCloudMap;
  let sd: ServiceDiscoveryClient;
  const shardNames = ["agents", "agents-1", "agents-2"];
  afterEach(async () => {
    sd.destroy();
    await cm.close();
  });

  // 2,500 deployments need three services (1,000 each, not adjustable) and a namespace quota raised
  // above its 2,000 default (https://docs.aws.amazon.com/cloud-map/latest/dg/cloud-map-limits.html).
  it("lists every shard with one DiscoverInstances each and counts each shard's instances", async () => {
    cm = await startFakeCloudMap({
      instancesPerNamespace: 3000,
      services: shardNames.map((name, k) => ({ name, instances: instances(k === 2 ? 500 : 1000, `s${k}`) })),
    });
    sd = cm.client();
    const d = await discoverFromCloudMap(sd, shardNames.map((service) => ({ namespace: cm.namespace, service })));
    assert.equal(d.ids.length, 2500);
    assert.equal(d.truncated, true, "a shard at the quota without a service id to confirm it is reported");
    assert.deepEqual(d.shards, [{ service: "agents", instances: 1000 }, { service: "agents-1", instances: 1000 }, { service: "agents-2", instances: 500 }]);
    assert.equal(cm.count("DiscoverInstances"), 3);
    assert.deepEqual(cm.requests.map((r) => (r.body as { ServiceName: string }).ServiceName).sort(), shardNames);
  });

  it("probes a deployment registered in two shards once", async () => {
    cm = await startFakeCloudMap({ services: [{ name: "agents", instances: instances(3) }, { name: "agents-1", instances: instances(2) }] });
    sd = cm.client();
    const d = await discoverFromCloudMap(sd, [{ namespace: cm.namespace, service: "agents" }, { namespace: cm.namespace, service: "agents-1" }]);
    assert.deepEqual(d.ids, ["dep-0000", "dep-0001", "dep-0002"]);
    assert.deepEqual(d.shards, [{ service: "agents", instances: 3 }, { service: "agents-1", instances: 2 }]);
  });

  it("fails naming the shard that failed", async () => {
    cm = await startFakeCloudMap({ services: [{ name: "agents" }, { name: "agents-1" }] });
    sd = cm.client();
    await assert.rejects(discoverFromCloudMap(sd, [{ namespace: cm.namespace, service: "agents" }, { namespace: cm.namespace, service: "agents-9" }]),
      (err: Error) => err instanceof DiscoveryError && /DiscoverInstances on Cloud Map service pixell-runtime\.local\/agents-9 failed \(ServiceNotFound/.test(err.message));
  });
});

describe("probe discovery: registry file", () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), "probe-discover-")); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it("reads the router's registry file format", async () => {
    const path = join(dir, "registry.json");
    writeFileSync(path, JSON.stringify({ deployments: [{ id: "b", port: 50055 }, { id: "a", host: "127.0.0.1", port: 50054 }] }));
    assert.deepEqual(await discoverFromFile(path), { ids: ["a", "b"], truncated: false });
  });

  it("names the file and the problem when it is missing or malformed", async () => {
    await assert.rejects(discoverFromFile(join(dir, "missing.json")), (err: Error) => err instanceof DiscoveryError && /cannot read registry file .*missing\.json/.test(err.message));
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ deployments: [{ port: 1 }] }));
    await assert.rejects(discoverFromFile(bad), (err: Error) => err instanceof DiscoveryError && err.message.startsWith(`registry file ${bad} is not valid: `));
  });
});

import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiscoverInstancesRevisionCommand, type ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { discoverFromCloudMap, discoverFromFile, DiscoveryError } from "../probe-lambda/discover";
import { CLOUDMAP_THROTTLING, startFakeCloudMap, type FakeCloudMap, type FakeInstance } from "./helpers/fake-cloudmap";

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
    assert.deepEqual(await discoverFromCloudMap(sd, target()), { ids: ["a-unhealthy", "b-healthy", "c-unknown"], truncated: false });
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

  it("completes a full page with the paginated ListInstances when the service id is known", async () => {
    cm.setInstances(instances(1234));
    const d = await discoverFromCloudMap(sd, { ...target(), serviceId: cm.serviceId });
    assert.deepEqual(d, { ids: instances(1234).map((i) => i.id), truncated: false });
    assert.equal(cm.count("DiscoverInstances"), 1);
    assert.equal(cm.count("ListInstances"), 13);
  });

  it("marks a full page as truncated when it cannot page further", async () => {
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

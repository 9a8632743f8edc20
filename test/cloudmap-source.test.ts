import { strict as assert } from "node:assert";
import { CloudMapSource, instancesToRecords, parseCloudMapSpec } from "../router/registry/cloudmap";
import { startFakeCloudMap, type FakeCloudMap } from "./helpers/fake-cloudmap";

const NS = "pixell-runtime.local";
const SVC = "agents";

describe("cloudmap: instancesToRecords", () => {
  it("maps instance id and AWS_INSTANCE_* attributes to records, sorted by id", () => {
    const { records, skipped } = instancesToRecords([
      { InstanceId: "dep-b", Attributes: { AWS_INSTANCE_IPV4: "10.0.1.7", AWS_INSTANCE_PORT: "50055" } },
      { InstanceId: "dep-a", Attributes: { AWS_INSTANCE_IPV4: "10.0.1.7", AWS_INSTANCE_PORT: "50054", extra: "x" } },
    ]);
    assert.deepEqual(records, [
      { id: "dep-a", host: "10.0.1.7", port: 50054 },
      { id: "dep-b", host: "10.0.1.7", port: 50055 },
    ]);
    assert.deepEqual(skipped, []);
  });

  it("skips bad ids, bad addresses, bad ports and duplicates, saying why", () => {
    const { records, skipped } = instancesToRecords([
      { InstanceId: "../etc", Attributes: { AWS_INSTANCE_IPV4: "10.0.0.1", AWS_INSTANCE_PORT: "50054" } },
      { InstanceId: "no-ip", Attributes: { AWS_INSTANCE_PORT: "50054" } },
      { InstanceId: "host-name", Attributes: { AWS_INSTANCE_IPV4: "agents.local", AWS_INSTANCE_PORT: "50054" } },
      { InstanceId: "big-port", Attributes: { AWS_INSTANCE_IPV4: "10.0.0.1", AWS_INSTANCE_PORT: "70000" } },
      { InstanceId: "zero-port", Attributes: { AWS_INSTANCE_IPV4: "10.0.0.1", AWS_INSTANCE_PORT: "0" } },
      { InstanceId: "text-port", Attributes: { AWS_INSTANCE_IPV4: "10.0.0.1", AWS_INSTANCE_PORT: "50054abc" } },
      { InstanceId: "ok", Attributes: { AWS_INSTANCE_IPV4: "10.0.0.1", AWS_INSTANCE_PORT: "50054" } },
      { InstanceId: "ok", Attributes: { AWS_INSTANCE_IPV4: "10.0.0.2", AWS_INSTANCE_PORT: "50054" } },
    ]);
    assert.deepEqual(records, [{ id: "ok", host: "10.0.0.1", port: 50054 }]);
    assert.deepEqual(skipped.map((s) => s.instanceId), ["../etc", "no-ip", "host-name", "big-port", "zero-port", "text-port", "ok"]);
    assert.match(skipped[0]!.reason, /deployment id/);
    assert.match(skipped[3]!.reason, /AWS_INSTANCE_PORT "70000"/);
    assert.match(skipped[6]!.reason, /duplicate/);
  });

  it("parses cloudmap:NAMESPACE/SERVICE and rejects anything else with the expected form", () => {
    assert.deepEqual(parseCloudMapSpec("cloudmap:pixell-runtime.local/agents"), { namespace: NS, service: SVC });
    assert.deepEqual(parseCloudMapSpec("a/b"), { namespace: "a", service: "b" });
    for (const bad of ["cloudmap:", "cloudmap:ns", "cloudmap:/svc", "cloudmap:ns/"]) {
      assert.throws(() => parseCloudMapSpec(bad), /expected cloudmap:NAMESPACE\/SERVICE/);
    }
  });
});

describe("cloudmap: CloudMapSource against a local Cloud Map endpoint", () => {
  let fake: FakeCloudMap;
  let source: CloudMapSource | undefined;

  beforeEach(async () => {
    fake = await startFakeCloudMap();
    fake.register(NS, SVC, "dep-a", "127.0.0.1", 50054);
    fake.register(NS, SVC, "dep-b", "127.0.0.2", 50055, "UNHEALTHY");
    fake.register(NS, "other-service", "dep-z", "127.0.0.9", 50099);
  });
  afterEach(async () => {
    await source?.close();
    source = undefined;
    await fake.close();
  });

  const start = async (pollIntervalMs = 60_000): Promise<CloudMapSource> => {
    source = new CloudMapSource({ namespace: NS, service: SVC, client: fake.client(), pollIntervalMs });
    await source.start();
    return source;
  };

  it("loads the service's instances, unhealthy ones included, with one full fetch", async () => {
    const s = await start();
    assert.deepEqual(s.list(), [
      { id: "dep-a", host: "127.0.0.1", port: 50054 },
      { id: "dep-b", host: "127.0.0.2", port: 50055 },
    ]);
    assert.deepEqual(s.lookup("dep-b"), { host: "127.0.0.2", port: 50055 });
    assert.equal(s.lookup("dep-z"), undefined);
    assert.equal(fake.requests.DiscoverInstances, 1);
    const sent = fake.bodies.find((b) => b.operation === "DiscoverInstances")!.body;
    assert.deepEqual([sent.NamespaceName, sent.ServiceName, sent.HealthStatus, sent.MaxResults], [NS, SVC, "ALL", 1000]);
    assert.equal(s.lastError, undefined);
    assert.ok(s.snapshotAgeSeconds() < 60);
  });

  it("revision unchanged: polls only DiscoverInstancesRevision, no full fetch", async () => {
    const s = await start();
    await s.refresh();
    await s.refresh();
    assert.equal(fake.requests.DiscoverInstancesRevision, 2);
    assert.equal(fake.requests.DiscoverInstances, 1);
    assert.equal(s.list().length, 2);
  });

  it("a health change alone does not bump the revision, so it triggers no fetch", async () => {
    const s = await start();
    fake.instances.find((x) => x.id === "dep-a")!.health = "UNHEALTHY";
    await s.refresh();
    assert.equal(fake.requests.DiscoverInstances, 1);
    assert.ok(s.lookup("dep-a"));
  });

  it("new instance appears: the revision moves, the snapshot is refetched and listeners hear of it", async () => {
    const s = await start();
    let changes = 0;
    s.onChange(() => { changes++; });
    fake.register(NS, SVC, "dep-c", "127.0.0.3", 50056);
    await s.refresh();
    assert.deepEqual(s.lookup("dep-c"), { host: "127.0.0.3", port: 50056 });
    assert.equal(fake.requests.DiscoverInstances, 2);
    assert.equal(changes, 1);
    assert.equal(s.snapshotRevision(), fake.revision);
  });

  it("instance removed: lookups for it stop resolving", async () => {
    const s = await start();
    let changes = 0;
    const unsubscribe = s.onChange(() => { changes++; });
    fake.deregister("dep-a");
    await s.refresh();
    assert.equal(s.lookup("dep-a"), undefined);
    assert.deepEqual(s.list().map((r) => r.id), ["dep-b"]);
    assert.equal(changes, 1);
    unsubscribe();
    fake.deregister("dep-b");
    await s.refresh();
    assert.equal(changes, 1, "an unsubscribed listener is not called");
  });

  it("Cloud Map down: the last snapshot keeps serving, the error and the age are exposed, recovery clears them", async () => {
    const s = await start();
    fake.failWith = 503;
    await s.refresh();
    assert.deepEqual(s.lookup("dep-a"), { host: "127.0.0.1", port: 50054 });
    assert.equal(s.list().length, 2);
    assert.match(s.lastError ?? "", /fake Cloud Map is down|ServiceUnavailable/);
    const ageWhileDown = s.snapshotAgeSeconds();
    assert.ok(Number.isFinite(ageWhileDown) && ageWhileDown >= 0);

    fake.failWith = undefined;
    fake.register(NS, SVC, "dep-c", "127.0.0.3", 50056);
    await s.refresh();
    assert.equal(s.lastError, undefined);
    assert.ok(s.lookup("dep-c"));
  });

  it("starts empty (and does not throw) when Cloud Map is down at start, then fills in once it answers", async () => {
    fake.failWith = 500;
    const s = await start();
    assert.deepEqual(s.list(), []);
    assert.equal(s.snapshotAgeSeconds(), Infinity);
    assert.ok(s.lastError);
    fake.failWith = undefined;
    await s.refresh();
    assert.equal(s.list().length, 2);
  });

  it("polls on its own timer", async () => {
    const s = await start(100);
    fake.register(NS, SVC, "dep-c", "127.0.0.3", 50056);
    const deadline = Date.now() + 5000;
    while (!s.lookup("dep-c") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(s.lookup("dep-c"), "the poll timer picked up the new instance");
  });

  it("refuses a poll interval that would hammer Cloud Map", () => {
    assert.throws(() => new CloudMapSource({ namespace: NS, service: SVC, client: fake.client(), pollIntervalMs: 10 }), /at least 100 ms/);
  });
});

import { strict as assert } from "node:assert";
import { CloudMapSource, instancesToRecords, parseCloudMapSpec } from "../../registry/cloudmap";
import type { FakeAwsError } from "../../fixtures/fake-aws";
import { startFakeCloudMap, type FakeCloudMap, type FakeInstance } from "../../fixtures/fake-cloudmap";

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
  const DEP_A: FakeInstance = { id: "dep-a", ipv4: "127.0.0.1", port: 50054 };
  const DEP_B: FakeInstance = { id: "dep-b", ipv4: "127.0.0.2", port: 50055, health: "UNHEALTHY" };
  const DEP_C: FakeInstance = { id: "dep-c", ipv4: "127.0.0.3", port: 50056 };
  const DOWN: FakeAwsError = { status: 503, type: "ServiceUnavailable", message: "fake Cloud Map is down" };

  beforeEach(async () => {
    fake = await startFakeCloudMap({ namespace: NS, service: SVC, instances: [DEP_A, DEP_B] });
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
    assert.equal(fake.count("DiscoverInstances"), 1);
    const sent = fake.requests.find((r) => r.operation === "DiscoverInstances")!.body as Record<string, unknown>;
    assert.deepEqual([sent.NamespaceName, sent.ServiceName, sent.HealthStatus, sent.MaxResults], [NS, SVC, "ALL", 1000]);
    assert.equal(s.lastError, undefined);
    assert.ok(s.snapshotAgeSeconds() < 60);
  });

  it("revision unchanged: polls only DiscoverInstancesRevision, no full fetch", async () => {
    const s = await start();
    await s.refresh();
    await s.refresh();
    assert.equal(fake.count("DiscoverInstancesRevision"), 2);
    assert.equal(fake.count("DiscoverInstances"), 1);
    assert.equal(s.list().length, 2);
  });

  it("new instance appears: the revision moves, the snapshot is refetched and listeners hear of it", async () => {
    const s = await start();
    let changes = 0;
    s.onChange(() => { changes++; });
    fake.setInstances([DEP_A, DEP_B, DEP_C]);
    await s.refresh();
    assert.deepEqual(s.lookup("dep-c"), { host: "127.0.0.3", port: 50056 });
    assert.equal(fake.count("DiscoverInstances"), 2);
    assert.equal(changes, 1);
    assert.equal(s.snapshotRevision(), fake.revision);
  });

  it("instance removed: lookups for it stop resolving", async () => {
    const s = await start();
    let changes = 0;
    const unsubscribe = s.onChange(() => { changes++; });
    fake.setInstances([DEP_B]);
    await s.refresh();
    assert.equal(s.lookup("dep-a"), undefined);
    assert.deepEqual(s.list().map((r) => r.id), ["dep-b"]);
    assert.equal(changes, 1);
    unsubscribe();
    fake.setInstances([]);
    await s.refresh();
    assert.deepEqual(s.list(), []);
    assert.equal(changes, 1, "an unsubscribed listener is not called");
  });

  it("skips (and does not route to) an instance with a bad port, keeping the others", async () => {
    fake.setInstances([DEP_A, { id: "dep-bad", ipv4: "127.0.0.9", port: 0 }]);
    const s = await start();
    assert.deepEqual(s.list().map((r) => r.id), ["dep-a"]);
    assert.equal(s.lookup("dep-bad"), undefined);
  });

  it("Cloud Map down: the last snapshot keeps serving, the error and the age are exposed, recovery clears them", async () => {
    const s = await start();
    fake.failNext(DOWN, 1);
    await s.refresh();
    assert.deepEqual(s.lookup("dep-a"), { host: "127.0.0.1", port: 50054 });
    assert.equal(s.list().length, 2);
    assert.match(s.lastError ?? "", /fake Cloud Map is down/);
    const ageWhileDown = s.snapshotAgeSeconds();
    assert.ok(Number.isFinite(ageWhileDown) && ageWhileDown >= 0);

    fake.setInstances([DEP_A, DEP_B, DEP_C]);
    await s.refresh();
    assert.equal(s.lastError, undefined);
    assert.ok(s.lookup("dep-c"));
  });

  it("a failed full fetch after a revision change also keeps the last snapshot", async () => {
    const s = await start();
    fake.setInstances([DEP_C]);
    fake.failNext(DOWN, 1, "DiscoverInstances");
    await s.refresh();
    assert.deepEqual(s.list().map((r) => r.id), ["dep-a", "dep-b"]);
    assert.ok(s.lastError);
    await s.refresh();
    assert.deepEqual(s.list().map((r) => r.id), ["dep-c"], "the next poll sees the revision still differs and refetches");
  });

  it("starts empty (and does not throw) when Cloud Map is down at start, then fills in once it answers", async () => {
    fake.failNext(DOWN, 1);
    const s = await start();
    assert.deepEqual(s.list(), []);
    assert.equal(s.snapshotAgeSeconds(), Infinity);
    assert.ok(s.lastError);
    assert.throws(() => s.lookup("dep-a"), /cloudmap:pixell-runtime.local\/agents has not answered yet/, "unknown, not NOT_FOUND");
    await s.refresh();
    assert.deepEqual(s.lookup("dep-a"), { host: "127.0.0.1", port: 50054 });
    assert.equal(s.list().length, 2);
  });

  it("a wrong service name is reported as Cloud Map's error", async () => {
    source = new CloudMapSource({ namespace: NS, service: "nope", client: fake.client(), pollIntervalMs: 60_000 });
    await source.start();
    assert.match(source.lastError ?? "", /ServiceNotFound/);
  });

  it("polls on its own timer", async () => {
    const s = await start(100);
    fake.setInstances([DEP_A, DEP_B, DEP_C]);
    const deadline = Date.now() + 5000;
    while (!s.lookup("dep-c") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(s.lookup("dep-c"), "the poll timer picked up the new instance");
  });

  it("refuses a poll interval that would hammer Cloud Map", () => {
    assert.throws(() => new CloudMapSource({ namespace: NS, service: SVC, client: fake.client(), pollIntervalMs: 10 }), /at least 100 ms/);
  });
});

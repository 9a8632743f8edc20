import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { A2AClient, A2AError, methodPath, parseEndpoint, type DeploymentResolver } from "../../client";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { agentServiceDefinition, type ActionResult } from "../../proto";
import { startRecordingServer } from "../helpers/recording-server";
import { makeSelfSigned } from "../helpers/self-signed";

describe("client: pure helpers", () => {
  it("parseEndpoint accepts HOST:PORT and explains what it expected otherwise", () => {
    assert.deepEqual(parseEndpoint("127.0.0.1:50051"), { host: "127.0.0.1", port: 50051 });
    assert.deepEqual(parseEndpoint("a2a-nlb-123.elb.us-east-2.amazonaws.com:50051"), { host: "a2a-nlb-123.elb.us-east-2.amazonaws.com", port: 50051 });
    assert.deepEqual(parseEndpoint("[::1]:50051"), { host: "[::1]", port: 50051 });
    for (const bad of ["", "localhost", "localhost:", ":50051", "host:0", "host:65536", "http://host:50051", "host:50051/x"]) {
      assert.throws(() => parseEndpoint(bad), /endpoint must be HOST:PORT/, bad);
    }
  });

  it("methodPath expands AgentService short names and checks full paths", () => {
    assert.equal(methodPath("Invoke"), "/pixell.agent.AgentService/Invoke");
    assert.equal(methodPath("/grpc.health.v1.Health/Check"), "/grpc.health.v1.Health/Check");
    assert.throws(() => methodPath("/no-method"), /expected \/package.Service\/Method/);
    assert.throws(() => methodPath("In voke"), /invalid method name/);
  });
});

describe("client: A2AClient on loopback", () => {
  let agentA: DemoAgent;
  let agentB: DemoAgent;
  let client: A2AClient | undefined;

  beforeEach(async () => {
    agentA = await startDemoAgent({ deploymentId: "dep-a" });
    agentB = await startDemoAgent({ deploymentId: "dep-b" });
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    await Promise.all([agentA.stop(true), agentB.stop(true)]);
  });

  it("makes the four typed calls through the external endpoint", async () => {
    client = new A2AClient({ endpoint: `127.0.0.1:${agentA.port}`, timeoutMs: 5000 });
    const health = await client.health("dep-a");
    assert.deepEqual([health.ok, health.code, health.message, health.path], [true, 0, "deployment dep-a is healthy", "external"]);
    assert.equal((await client.ping("dep-a")).message, "pong from dep-a");
    const caps = await client.describeCapabilities("dep-a");
    assert.deepEqual(caps.methods, ["Health", "DescribeCapabilities", "Invoke", "Ping"]);
    const res = await client.invoke("dep-a", { action: "summarize", parameters: { lang: "en" }, requestId: "r-1" });
    assert.deepEqual([res.success, res.requestId], [true, "r-1"]);
    assert.deepEqual(JSON.parse(res.result), { deploymentId: "dep-a", action: "summarize", parameters: { lang: "en" } });
    assert.equal(client.channelCount, 1, "one channel reused for every call to the same address");
  });

  it("sends x-deployment-id on every call, and keeps the server's status code and details", async () => {
    const rec = await startRecordingServer();
    try {
      client = new A2AClient({ endpoint: `127.0.0.1:${rec.port}` });
      await client.health("dep-one");
      await client.invoke("dep-two", { action: "x" });
      const err = await client.ping("dep-three").then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof A2AError);
      assert.deepEqual([err.code, err.codeName, err.details, err.deploymentId], [grpc.status.NOT_FOUND, "NOT_FOUND", "deployment nope is not registered", "dep-three"]);
      assert.match(err.message, /Ping on deployment dep-three via 127\.0\.0\.1:\d+ failed: NOT_FOUND/);
      assert.deepEqual(rec.seen, ["dep-one", "dep-two", "dep-three"]);
    } finally {
      rec.stop();
    }
  });

  it("sends the bearer token to the external endpoint only, never straight to an agent", async () => {
    const router = await startRecordingServer();
    const agent = await startRecordingServer();
    try {
      let token = "token-one";
      const resolver: DeploymentResolver = { lookup: (id) => (id === "dep-internal" ? { host: "127.0.0.1", port: agent.port } : undefined) };
      client = new A2AClient({ endpoint: `127.0.0.1:${router.port}`, resolver, token: () => token });
      await client.health("dep-external");
      token = "token-two";
      await client.invoke("dep-external", { action: "x" });
      await client.health("dep-internal");
      await client.invoke("dep-internal", { action: "x" });
      assert.deepEqual(router.auth, ["Bearer token-one", "Bearer token-two"], "a rotated token is used from the next call");
      assert.deepEqual(agent.auth, ["(none)", "(none)"]);
    } finally {
      router.stop();
      agent.stop();
    }
  });

  it("TLS to the external endpoint, plaintext to agents on the internal path", async function () {
    const cert = makeSelfSigned();
    if (!cert) this.skip();
    const router = await startRecordingServer(grpc.ServerCredentials.createSsl(null, [{ private_key: cert!.keyPem, cert_chain: cert!.certPem }]));
    try {
      const resolver: DeploymentResolver = { lookup: (id) => (id === "dep-a" ? { host: "127.0.0.1", port: agentA.port } : undefined) };
      client = new A2AClient({ endpoint: `127.0.0.1:${router.port}`, credentials: grpc.credentials.createSsl(cert!.certPem), resolver, token: "t-1" });
      const external = await client.health("dep-x");
      assert.deepEqual([external.ok, external.path], [true, "external"], external.message);
      assert.equal((await client.ping("dep-a")).message, "pong from dep-a");
      assert.deepEqual(router.auth, ["Bearer t-1"]);
    } finally {
      router.stop();
      cert!.remove();
    }
  });

  it("generic call: raw bytes in and out, for any method path", async () => {
    client = new A2AClient({ endpoint: `127.0.0.1:${agentB.port}` });
    const def = agentServiceDefinition().Invoke!;
    const bytes = def.requestSerialize({ action: "raw", parameters: {}, requestId: "r-raw" });
    const out = await client.call("dep-b", "/pixell.agent.AgentService/Invoke", bytes);
    assert.ok(Buffer.isBuffer(out));
    const decoded = def.responseDeserialize(out) as ActionResult;
    assert.deepEqual([decoded.success, decoded.requestId, JSON.parse(decoded.result).action], [true, "r-raw", "raw"]);

    const unimplemented = await client.call("dep-b", "/pixell.agent.AgentService/NoSuchMethod", Buffer.alloc(0)).then(() => undefined, (e: unknown) => e);
    assert.ok(unimplemented instanceof A2AError);
    assert.equal(unimplemented.codeName, "UNIMPLEMENTED");
  });

  it("prefers the internal path when the resolver knows the id, and uses the endpoint when it does not", async () => {
    const resolver: DeploymentResolver = { lookup: (id) => (id === "dep-a" ? { host: "127.0.0.1", port: agentA.port } : undefined) };
    client = new A2AClient({ endpoint: `127.0.0.1:${agentB.port}`, resolver });
    assert.deepEqual(await client.route("dep-a"), { address: `127.0.0.1:${agentA.port}`, path: "internal" });
    assert.equal((await client.ping("dep-a")).message, "pong from dep-a");
    assert.equal((await client.ping("dep-other")).message, "pong from dep-b", "unknown to the resolver: the external endpoint answered");
    assert.equal(agentA.calls.get("Ping"), 1);
    assert.equal(agentB.calls.get("Ping"), 1);
    assert.equal(client.channelCount, 2);
  });

  it("keeps at most maxChannels channels, closing the least recently used", async () => {
    const resolver: DeploymentResolver = { lookup: (id) => ({ host: "127.0.0.1", port: id === "dep-a" ? agentA.port : agentB.port }) };
    client = new A2AClient({ endpoint: `127.0.0.1:${agentB.port}`, resolver, maxChannels: 1 });
    assert.equal((await client.ping("dep-a")).message, "pong from dep-a");
    assert.equal((await client.ping("dep-b")).message, "pong from dep-b");
    assert.equal(client.channelCount, 1);
    assert.equal((await client.ping("dep-a")).message, "pong from dep-a", "a closed channel is reopened on demand");
    assert.throws(() => new A2AClient({ maxChannels: 0 }), /invalid maxChannels/);
  });

  it("an async resolver that throws means the external path", async () => {
    const resolver: DeploymentResolver = { lookup: () => Promise.reject(new Error("Cloud Map throttled")) };
    client = new A2AClient({ endpoint: `127.0.0.1:${agentB.port}`, resolver });
    assert.equal((await client.ping("dep-a")).message, "pong from dep-b");
  });

  it("a stale internal address: side-effect-free calls retry through the endpoint, Invoke does not", async () => {
    const gone = await startDemoAgent({ deploymentId: "dep-gone" });
    await gone.stop(true);
    const resolver: DeploymentResolver = { lookup: () => ({ host: "127.0.0.1", port: gone.port }) };
    client = new A2AClient({ endpoint: `127.0.0.1:${agentB.port}`, resolver, timeoutMs: 5000 });
    assert.equal((await client.ping("dep-b")).message, "pong from dep-b");
    const health = await client.health("dep-b");
    assert.deepEqual([health.ok, health.path], [true, "external"]);
    const err = await client.invoke("dep-b", { action: "once" }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof A2AError);
    assert.equal(err.codeName, "UNAVAILABLE");
    assert.equal(agentB.calls.get("Invoke") ?? 0, 0, "Invoke is never sent twice");
  });

  it("enforces deadlines with DEADLINE_EXCEEDED", async () => {
    const hung = await startDemoAgent({ deploymentId: "dep-hung", hang: true });
    try {
      client = new A2AClient({ endpoint: `127.0.0.1:${hung.port}`, timeoutMs: 10_000 });
      const err = await client.invoke("dep-hung", { action: "slow" }, { timeoutMs: 200 }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof A2AError);
      assert.equal(err.codeName, "DEADLINE_EXCEEDED");
      const health = await client.health("dep-hung", { timeoutMs: 200 });
      assert.deepEqual([health.ok, health.codeName], [false, "DEADLINE_EXCEEDED"]);
    } finally {
      await hung.stop(true);
    }
  });

  it("reports an unhealthy agent as data, not as an exception", async () => {
    const sick = await startDemoAgent({ deploymentId: "dep-sick", unhealthy: true });
    try {
      client = new A2AClient({ endpoint: `127.0.0.1:${sick.port}` });
      const h = await client.health("dep-sick");
      assert.deepEqual([h.ok, h.code, h.message], [false, 0, "deployment dep-sick is unhealthy"]);
    } finally {
      await sick.stop(true);
    }
  });

  it("rejects an invalid deployment id before sending anything, and refuses calls after close()", async () => {
    client = new A2AClient({ endpoint: `127.0.0.1:${agentA.port}` });
    const err = await client.ping("../../etc/passwd").then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof A2AError);
    assert.equal(err.codeName, "INVALID_ARGUMENT");
    assert.equal(agentA.calls.get("Ping") ?? 0, 0);
    assert.equal(client.channelCount, 0);
    client.close();
    await assert.rejects(client.ping("dep-a"), /closed/);
  });

  it("takes its endpoint from PAR_A2A_ENDPOINT and validates options", () => {
    const saved = process.env.PAR_A2A_ENDPOINT;
    try {
      process.env.PAR_A2A_ENDPOINT = "10.1.2.3:50051";
      const c = new A2AClient();
      assert.equal(c.endpoint, "10.1.2.3:50051");
      c.close();
      delete process.env.PAR_A2A_ENDPOINT;
      const d = new A2AClient();
      assert.equal(d.endpoint, "127.0.0.1:50051");
      d.close();
      assert.throws(() => new A2AClient({ endpoint: "nlb" }), /endpoint must be HOST:PORT.*got "nlb"/);
      assert.throws(() => new A2AClient({ endpoint: "h:1", timeoutMs: 0 }), /invalid timeout/);
    } finally {
      if (saved === undefined) delete process.env.PAR_A2A_ENDPOINT;
      else process.env.PAR_A2A_ENDPOINT = saved;
    }
  });
});

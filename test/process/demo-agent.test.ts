import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { agentServiceDefinition } from "../../proto";
import { checkHealth } from "../../lib/health";

type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Record<string, unknown>) => void) => void;

describe("demo agent", () => {
  let agent: DemoAgent;
  let client: grpc.Client & Record<string, Unary>;

  beforeEach(async () => {
    agent = await startDemoAgent({ deploymentId: "demo-a" });
    const Ctor = grpc.makeGenericClientConstructor(agentServiceDefinition(), "AgentService");
    client = new Ctor(`127.0.0.1:${agent.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Unary>;
  });
  afterEach(async () => {
    client.close();
    await agent.stop(true);
  });

  const call = (method: string, req: object, deadlineMs = 2000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) =>
      client[method](req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res!))));

  it("answers Health ok with its deployment id", async () => {
    const res = await call("Health", {});
    assert.equal(res.ok, true);
    assert.match(String(res.message), /demo-a/);
  });

  it("echoes Invoke's action and parameters", async () => {
    const res = await call("Invoke", { action: "summarize", parameters: { lang: "en" }, requestId: "r1" });
    assert.equal(res.success, true);
    assert.equal(res.requestId, "r1");
    assert.deepEqual(JSON.parse(String(res.result)), { deploymentId: "demo-a", action: "summarize", parameters: { lang: "en" } });
    assert.equal(agent.calls.get("Invoke"), 1);
  });
});

describe("checkHealth", () => {
  it("reports a healthy agent, an unhealthy one and a dead port as data", async () => {

    const good = await startDemoAgent({ deploymentId: "good" });
    const sick = await startDemoAgent({ deploymentId: "sick", unhealthy: true });
    const dead = await startDemoAgent({ deploymentId: "dead" });
    await dead.stop(true);
    const clients = [good, sick, dead].map((a) => new grpc.Client(`127.0.0.1:${a.port}`, grpc.credentials.createInsecure()));
    try {
      const [g, s, d] = await Promise.all(clients.map((c, i) => checkHealth(c, ["good", "sick", "dead"][i]!, 2000)));
      assert.deepEqual([g!.ok, g!.code], [true, 0]);
      assert.deepEqual([s!.ok, s!.code, s!.message], [false, 0, "deployment sick is unhealthy"]);
      assert.deepEqual([d!.ok, d!.codeName], [false, "UNAVAILABLE"]);
    } finally {
      clients.forEach((c) => c.close());
      await Promise.all([good.stop(true), sick.stop(true)]);
    }
  });
});

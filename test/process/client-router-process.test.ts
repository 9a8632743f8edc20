/**
 * `npm run router -- --registry cloudmap:NS/SVC` as a process: the Cloud Map client comes from
 * the environment (here pointed at the local Cloud Map endpoint), and a new instance becomes
 * routable within the configured poll interval.
 */
import { strict as assert } from "node:assert";
import { A2AClient } from "../../client";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { FAKE_AWS_CLIENT_CONFIG } from "../../fixtures/fake-aws";
import { startFakeCloudMap, type FakeCloudMap } from "../../fixtures/fake-cloudmap";
import { startChildRouter } from "../../fixtures/child-router";

describe("client-router-process: the router process with a cloudmap: registry", function () {
  this.timeout(30_000);
  let cloudMap: FakeCloudMap;
  let agent: DemoAgent;
  let late: DemoAgent;

  before(async () => {
    [agent, late] = await Promise.all([startDemoAgent({ deploymentId: "cm-a" }), startDemoAgent({ deploymentId: "cm-late" })]);
    cloudMap = await startFakeCloudMap({ instances: [{ id: "cm-a", ipv4: "127.0.0.1", port: agent.port }] });
  });
  after(async () => {
    await cloudMap.close();
    await Promise.all([agent.stop(true), late.stop(true)]);
  });

  it("routes to Cloud Map instances and picks up a new one by polling", async () => {
    const router = await startChildRouter({
      registry: `cloudmap:${cloudMap.namespace}/${cloudMap.service}`,
      extraArgs: ["--cloudmap-poll-ms", "200"],
      // The Cloud Map client comes from the environment, as in a task: here pointed at the local endpoint.
      env: {
        AWS_ENDPOINT_URL_SERVICEDISCOVERY: cloudMap.url, AWS_REGION: FAKE_AWS_CLIENT_CONFIG.region,
        AWS_ACCESS_KEY_ID: FAKE_AWS_CLIENT_CONFIG.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: FAKE_AWS_CLIENT_CONFIG.credentials.secretAccessKey,
      },
    });
    let client: A2AClient | undefined;
    try {
      client = new A2AClient({ endpoint: `127.0.0.1:${router.port}`, timeoutMs: 5000 });
      assert.equal((await client.ping("cm-a")).message, "pong from cm-a");

      cloudMap.setInstances([...cloudMap.instances(), { id: "cm-late", ipv4: "127.0.0.1", port: late.port }]);
      const deadline = Date.now() + 10_000;
      let answer: string | undefined;
      while (answer === undefined && Date.now() < deadline) {
        answer = await client.ping("cm-late").then((p) => p.message, () => undefined);
        if (answer === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(answer, "pong from cm-late");
      assert.ok(cloudMap.count("DiscoverInstancesRevision") >= 1, "the router polled the revision");
    } finally {
      client?.close();
      await router.kill();
    }
  });
});

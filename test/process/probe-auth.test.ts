import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { checkHealth } from "../../lib/health";
import { fetchBearerToken, ProbeTokenError, tokenFromSecretString } from "../../probe-lambda/auth";
import { main } from "../../probe-lambda/cli";
import { createProbeClient } from "../../probe-lambda/probe";
import { startRecordingAgent, type RecordingAgent } from "../helpers/recording-agent";
import { FAKE_AWS_CLIENT_CONFIG, startFakeAwsJsonServer, type FakeAwsServer } from "../../fixtures/fake-aws";

describe("probe auth: the bearer token", () => {
  it("takes the secret string as the token, or its JSON token field", () => {
    assert.equal(tokenFromSecretString("s", "  abc.DEF-123  \n"), "abc.DEF-123");
    assert.equal(tokenFromSecretString("s", JSON.stringify({ token: "t0ken" })), "t0ken");
  });

  it("refuses unusable secrets without echoing them", () => {
    for (const secret of [undefined, "", "two words", "{not json", JSON.stringify({ tok: "x" })]) {
      assert.throws(() => tokenFromSecretString("probe-token", secret), (err: Error) =>
        err instanceof ProbeTokenError && err.message.includes("secret probe-token") && !(secret && secret.length > 3 && err.message.includes(secret)));
    }
  });

  describe("from Secrets Manager (real SDK, local AWS JSON 1.1 endpoint)", () => {
    let fake: FakeAwsServer;
    let sm: SecretsManagerClient;
    before(async () => {
      fake = await startFakeAwsJsonServer("application/x-amz-json-1.1", (operation, body) =>
        operation === "GetSecretValue" && body.SecretId === "probe-token"
          ? { body: { ARN: "arn:aws:secretsmanager:us-east-2:123456789012:secret:probe-token-AbCdEf", Name: "probe-token", SecretString: "s3cr3t-t0ken", VersionId: "v1" } }
          : { error: { status: 400, type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret." } });
      sm = new SecretsManagerClient({ ...FAKE_AWS_CLIENT_CONFIG, endpoint: fake.url, maxAttempts: 1 });
    });
    after(async () => {
      sm.destroy();
      await fake.close();
    });

    it("reads the token with GetSecretValue", async () => {
      assert.equal(await fetchBearerToken(sm, "probe-token"), "s3cr3t-t0ken");
      assert.equal(fake.requests.at(-1)!.target, "secretsmanager.GetSecretValue");
    });

    it("fails with what to check when the secret cannot be read", async () => {
      await assert.rejects(fetchBearerToken(sm, "missing"), (err: Error) =>
        err instanceof ProbeTokenError && /secret missing \(ResourceNotFoundException: .*\): check PROBE_AUTH_TOKEN_SECRET/.test(err.message));
    });
  });

  describe("on the wire", () => {
    let agent: RecordingAgent;
    beforeEach(async () => { agent = await startRecordingAgent(); });
    afterEach(() => { agent.stop(); });

    it("sends authorization: Bearer on every call of the channel, beside x-deployment-id", async () => {
      const client = createProbeClient(`127.0.0.1:${agent.port}`, { bearerToken: "tok-123" });
      try {
        const results = await Promise.all(["a", "b"].map((id) => checkHealth(client, id, 2000)));
        assert.deepEqual(results.map((r) => r.ok), [true, true]);
      } finally {
        client.close();
      }
      assert.deepEqual(agent.seen.map((m) => [m.get("authorization"), m.get("x-deployment-id")]).sort(),
        [[["Bearer tok-123"], ["a"]], [["Bearer tok-123"], ["b"]]]);
    });

    it("sends no authorization without a token, and the CLI takes it from PROBE_AUTH_TOKEN", async () => {
      const dir = mkdtempSync(join(tmpdir(), "probe-auth-"));
      try {
        writeFileSync(join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "a", port: 1 }] }));
        const argv = ["--endpoint", `127.0.0.1:${agent.port}`, "--registry", `file:${join(dir, "r.json")}`];
        const quiet = { stdout: () => undefined, stderr: () => undefined };
        assert.equal(await main(argv, quiet, {}), 0);
        assert.equal(await main(argv, quiet, { PROBE_AUTH_TOKEN: "cli-token" }), 0);
        assert.deepEqual(agent.seen.map((m) => m.get("authorization")), [[], ["Bearer cli-token"]]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

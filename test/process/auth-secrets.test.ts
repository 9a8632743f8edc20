import { strict as assert } from "node:assert";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import pino from "pino";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { Status } from "../../router/routing";
import { buildAuthenticator, isRefusal, parseAuthConfig, sha256, type AuthResult, type Authenticator } from "../../router/auth";

/**
 * A local stand-in for Secrets Manager speaking its AWS JSON 1.1 protocol, so the
 * real SDK client (signing, serialization, error parsing) is exercised.
 */
class FakeSecretsManager {
  readonly requests: Array<{ target: string | undefined; body: Record<string, unknown> }> = [];
  secrets = new Map<string, string>();
  failWith: { status: number; type: string; message: string } | undefined;
  private server: Server = createServer((req, res) => void this.handle(req).then(([status, body]) => {
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
    res.end(JSON.stringify(body));
  }));

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage): Promise<[number, object]> {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const target = req.headers["x-amz-target"] as string | undefined;
    const body = JSON.parse(raw) as Record<string, unknown>;
    this.requests.push({ target, body });
    if (this.failWith) return [this.failWith.status, { __type: this.failWith.type, message: this.failWith.message }];
    if (target !== "secretsmanager.GetSecretValue") return [400, { __type: "UnknownOperationException", message: `unexpected ${target}` }];
    const id = String(body.SecretId);
    const value = this.secrets.get(id);
    if (value === undefined) return [400, { __type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret." }];
    return [200, { ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${id}-AbCdEf`, Name: id, SecretString: value, VersionId: "v1", VersionStages: ["AWSCURRENT"], CreatedDate: 1700000000 }];
  }
}

describe("auth: bearer tokens from Secrets Manager", () => {
  const opsToken = "ops-token-0123456789abcdef";
  const newToken = "rotated-token-0123456789ab";
  let fake: FakeSecretsManager;
  let client: SecretsManagerClient;
  let auth: Authenticator | undefined;
  const lines: string[] = [];
  const logger = pino({ level: "trace" }, new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } }));

  beforeEach(async () => {
    lines.length = 0;
    fake = new FakeSecretsManager();
    fake.secrets.set("pixell/a2a-tokens", JSON.stringify({ tokens: [{ name: "ops", sha256: sha256(opsToken).toString("hex"), allow: ["team-*"] }] }));
    const endpoint = await fake.start();
    client = new SecretsManagerClient({ endpoint, region: "us-east-1", maxAttempts: 1, credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "test-secret" } });
  });
  afterEach(async () => {
    await auth?.close();
    auth = undefined;
    client.destroy();
    await fake.close();
  });

  const accepts = (token: string): AuthResult => auth!.authenticate({ authorization: `Bearer ${token}` }) as AuthResult;

  it("loads the secret through the real SDK client and authenticates against it", async () => {
    auth = await buildAuthenticator(parseAuthConfig({ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: "secretsmanager:pixell/a2a-tokens" }), { secretsManager: client, logger });
    assert.equal(fake.requests[0].target, "secretsmanager.GetSecretValue");
    assert.deepEqual(fake.requests[0].body, { SecretId: "pixell/a2a-tokens" });
    const who = accepts(opsToken);
    assert.ok(!isRefusal(who));
    assert.equal(who.name, "ops");
    assert.equal(auth.authorize(who, "team-search"), undefined);
    assert.equal(auth.authorize(who, "billing")?.code, Status.PERMISSION_DENIED);
  });

  it("refreshes on its interval, and keeps the last good tokens while the secret is unreadable", async () => {
    auth = await buildAuthenticator(parseAuthConfig({ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: "secretsmanager:pixell/a2a-tokens", ROUTER_AUTH_REFRESH_MS: "1000" }), { secretsManager: client, logger });
    assert.ok(isRefusal(accepts(newToken)));

    // Rotation: the new document replaces the old one at the next refresh.
    fake.secrets.set("pixell/a2a-tokens", JSON.stringify({ tokens: [{ name: "ops", token: newToken, allow: ["team-*"] }] }));
    await waitFor(() => !isRefusal(accepts(newToken)), 4000);
    assert.ok(isRefusal(accepts(opsToken)), "the rotated-out token must stop working");

    // Secrets Manager refuses (throttled, permissions revoked, endpoint down): keep serving.
    fake.failWith = { status: 400, type: "AccessDeniedException", message: "not authorized to perform secretsmanager:GetSecretValue" };
    const before = fake.requests.length;
    await waitFor(() => fake.requests.length > before && lines.some((l) => l.includes("AccessDeniedException")), 4000);
    assert.ok(!isRefusal(accepts(newToken)), "the last good tokens stay in force");

    // A document that does not parse is also refused without replacing the good one.
    fake.failWith = undefined;
    fake.secrets.set("pixell/a2a-tokens", `{"tokens":[{"name":"ops","token":"${opsToken}"`);
    await waitFor(() => lines.some((l) => l.includes("is not valid JSON")), 4000);
    assert.ok(!isRefusal(accepts(newToken)));

    const logged = lines.join("");
    assert.ok(!logged.includes(opsToken) && !logged.includes(newToken), "a token appeared in the logs");
  });

  it("refuses to start when the secret cannot be read, naming the secret and the permission", async () => {
    await assert.rejects(
      buildAuthenticator(parseAuthConfig({ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: "secretsmanager:missing" }), { secretsManager: client }),
      /cannot read secret missing from Secrets Manager: ResourceNotFoundException: .*secretsmanager:GetSecretValue permission/,
    );
  });
});

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

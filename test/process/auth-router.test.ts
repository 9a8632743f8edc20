import { strict as assert } from "node:assert";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { startRouter, type RunningRouter } from "../../router";
import { buildAuthenticator, parseAuthConfig, sha256, CALLER_HEADER, type Authenticator } from "../../router/auth";
import { agentServiceDefinition } from "../../proto";
import { Writable } from "node:stream";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair, type KeyLike } from "jose";
import pino from "pino";

type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Record<string, unknown>) => void) => void;
type AgentClient = grpc.Client & Record<string, Unary>;

/** A router with `auth` in front of the registry file in `dir`, and an AgentService client to it. */
async function routerWithAuth(dir: string, auth: Authenticator, logger: pino.Logger): Promise<{ router: RunningRouter; client: AgentClient }> {
  const router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: `file:${join(dir, "registry.json")}`, logger, authenticator: auth });
  const Ctor = grpc.makeGenericClientConstructor(agentServiceDefinition(), "AgentService");
  return { router, client: new Ctor(`127.0.0.1:${router.port}`, grpc.credentials.createInsecure()) as unknown as AgentClient };
}

/** An agent that records the metadata each Invoke arrived with. */
async function startRecordingAgent(): Promise<{ port: number; seen: grpc.Metadata[]; stop: () => Promise<void> }> {
  const seen: grpc.Metadata[] = [];
  const server = new grpc.Server();
  server.addService(agentServiceDefinition(), {
    Invoke: (call: grpc.ServerUnaryCall<{ requestId?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      seen.push(call.metadata);
      cb(null, { success: true, requestId: call.request.requestId ?? "" });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { port, seen, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

describe("auth: through the router", () => {
  const pacToken = "pac-token-0123456789abcdef";
  let dir: string;
  let agent: Awaited<ReturnType<typeof startRecordingAgent>>;
  let auth: Authenticator;
  let router: RunningRouter;
  let client: AgentClient;
  const logLines: string[] = [];
  const logger = pino({ level: "trace" }, new Writable({ write(chunk: Buffer, _e, cb) { logLines.push(chunk.toString()); cb(); } }));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "auth-router-"));
    agent = await startRecordingAgent();
    await writeFile(join(dir, "registry.json"), JSON.stringify({ deployments: [{ id: "team-a", port: agent.port }, { id: "billing", port: agent.port }] }));
    await writeFile(join(dir, "tokens.json"), JSON.stringify({ tokens: [{ name: "pac", sha256: sha256(pacToken).toString("hex"), allow: ["team-*"] }] }));
    auth = await buildAuthenticator(parseAuthConfig({ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: `file:${join(dir, "tokens.json")}` }), { logger });
    ({ router, client } = await routerWithAuth(dir, auth, logger));
  });
  after(async () => {
    client.close();
    await router.close();
    await auth.close();
    await agent.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const invoke = (deploymentId: string, token?: string, extra: Record<string, string> = {}): Promise<{ code: number; message: string }> => {
    const md = new grpc.Metadata();
    md.set("x-deployment-id", deploymentId);
    if (token !== undefined) md.set("authorization", `Bearer ${token}`);
    for (const [k, v] of Object.entries(extra)) md.set(k, v);
    return new Promise((resolve) => client.Invoke({ action: "a", requestId: "r" }, md, { deadline: Date.now() + 3000 }, (err) => resolve(err ? { code: err.code, message: err.details } : { code: 0, message: "" })));
  };

  it("refuses a call without credentials with UNAUTHENTICATED, even for an unknown or malformed id", async () => {
    for (const id of ["team-a", "not-registered", "../etc"]) {
      const r = await invoke(id);
      assert.equal(r.code, grpc.status.UNAUTHENTICATED, id);
      assert.match(r.message, /missing authorization/);
    }
    assert.equal((await invoke("team-a", "wrong-token-0123456789")).code, grpc.status.UNAUTHENTICATED);
    assert.equal(agent.seen.length, 0);
  });

  it("routes an allowed deployment, refuses another with PERMISSION_DENIED, and never shows the agent the token", async () => {
    assert.deepEqual(await invoke("team-a", pacToken), { code: 0, message: "" });
    const denied = await invoke("billing", pacToken);
    assert.equal(denied.code, grpc.status.PERMISSION_DENIED);
    assert.match(denied.message, /caller "pac" may not call deployment "billing"/);
    assert.equal(agent.seen.length, 1);
    assert.deepEqual(agent.seen[0].get("authorization"), []);
    assert.deepEqual(agent.seen[0].get(CALLER_HEADER), ["pac"]);
    // A caller cannot name itself: the router replaces what it sent.
    assert.deepEqual(await invoke("team-a", pacToken, { [CALLER_HEADER]: "admin" }), { code: 0, message: "" });
    assert.deepEqual(agent.seen[1].get(CALLER_HEADER), ["pac"]);
    assert.deepEqual(agent.seen[1].get("authorization"), []);
  });

  it("never logs a credential, even at trace level", () => {
    assert.ok(logLines.length > 0, "the router logged at trace level");
    const logged = logLines.join("");
    assert.ok(!logged.includes(pacToken) && !logged.includes("wrong-token-0123456789"), "a token appeared in the router's logs");
  });
});

describe("auth: JWT through the router (asynchronous first verification)", () => {
  let dir: string;
  let agent: Awaited<ReturnType<typeof startRecordingAgent>>;
  let jwksServer: Server;
  let auth: Authenticator;
  let router: RunningRouter;
  let client: AgentClient;
  let privateKey: KeyLike;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "auth-router-jwt-"));
    agent = await startRecordingAgent();
    await writeFile(join(dir, "registry.json"), JSON.stringify({ deployments: [{ id: "team-a", port: agent.port }, { id: "billing", port: agent.port }] }));
    const pair = await generateKeyPair("ES256");
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
    jwksServer = createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
    auth = await buildAuthenticator(parseAuthConfig({
      ROUTER_AUTH: "jwt",
      ROUTER_AUTH_JWKS_URL: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`,
      ROUTER_AUTH_ISSUER: "https://idp.test/",
      ROUTER_AUTH_AUDIENCE: "pixell-a2a",
    }));
    ({ router, client } = await routerWithAuth(dir, auth, pino({ level: "silent" })));
  });
  after(async () => {
    client.close();
    await router.close();
    await auth.close();
    await agent.stop();
    jwksServer.closeAllConnections();
    await new Promise((resolve) => jwksServer.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const invoke = (deploymentId: string, token: string): Promise<number> => {
    const md = new grpc.Metadata();
    md.set("x-deployment-id", deploymentId);
    md.set("authorization", `Bearer ${token}`);
    return new Promise((resolve) => client.Invoke({ action: "a" }, md, { deadline: Date.now() + 3000 }, (err) => resolve(err ? err.code : 0)));
  };

  it("routes on a valid token (first call verified asynchronously, then from cache) and denies other deployments", async () => {
    const token = await new SignJWT({ "pixell:deployments": ["team-*"] }).setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer("https://idp.test/").setAudience("pixell-a2a").setSubject("svc-pac").setExpirationTime("5m").sign(privateKey);
    assert.equal(await invoke("team-a", token), grpc.status.OK);
    assert.equal(await invoke("team-a", token), grpc.status.OK);
    assert.equal(await invoke("billing", token), grpc.status.PERMISSION_DENIED);
    const expired = await new SignJWT({ "pixell:deployments": ["team-*"] }).setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer("https://idp.test/").setAudience("pixell-a2a").setExpirationTime(Math.floor(Date.now() / 1000) - 120).sign(privateKey);
    assert.equal(await invoke("team-a", expired), grpc.status.UNAUTHENTICATED);
    assert.equal(agent.seen.length, 2);
    assert.deepEqual(agent.seen[0].get(CALLER_HEADER), ["jwt:svc-pac"]);
  });
});

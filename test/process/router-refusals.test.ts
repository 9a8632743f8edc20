/**
 * Refused calls are visible (issue 16 item 4), on both engines (`npm run test:http2` runs this file
 * again with ROUTER_ENGINE=http2): each is counted by code in /metrics and logged at info, a few
 * lines per source and code however long the flood, with the code, the id as given, the caller once
 * authenticated and the peer address, and never the credential.
 */
import { strict as assert } from "node:assert";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { startRouter, type RunningRouter } from "../../router";
import { buildAuthenticator, parseAuthConfig, sha256, type Authenticator } from "../../router/auth";
import { REFUSAL_LOG_LIMITS } from "../../router/refusal-limiter";
import { md, RawClient, startEchoServer, type EchoServer } from "../../fixtures/echo-server";

describe("router: refused calls are counted and logged", () => {
  const token = "pac-token-0123456789abcdef";
  const wrongToken = "stuffed-token-9876543210fedcba";
  let dir: string;
  let agent: EchoServer;
  let auth: Authenticator;
  let router: RunningRouter;
  let client: RawClient;
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const logger = pino({ level: "info" }, new Writable({ write(chunk: Buffer, _e, cb) { raw.push(chunk.toString()); lines.push(JSON.parse(chunk.toString())); cb(); } }));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "router-refusals-"));
    agent = await startEchoServer({ name: "team-a" });
    await writeFile(join(dir, "registry.json"), JSON.stringify({ deployments: [{ id: "team-a", port: agent.port }, { id: "billing", port: agent.port }] }));
    await writeFile(join(dir, "tokens.json"), JSON.stringify({ tokens: [{ name: "pac", sha256: sha256(token).toString("hex"), allow: ["team-*"] }] }));
    auth = await buildAuthenticator(parseAuthConfig({ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: `file:${join(dir, "tokens.json")}` }));
    router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: `file:${join(dir, "registry.json")}`, logger, authenticator: auth });
    client = new RawClient(`127.0.0.1:${router.port}`);
  });
  after(async () => {
    client.close();
    await router.close();
    await auth.close();
    await agent.stop(true);
    await rm(dir, { recursive: true, force: true });
  });

  const call = async (id: string, bearer?: string): Promise<number> => {
    const meta: Record<string, string> = { "x-deployment-id": id };
    if (bearer !== undefined) meta.authorization = `Bearer ${bearer}`;
    try {
      await client.unary("Unary", "x", md(meta), { deadline: Date.now() + 5000 });
      return 0;
    } catch (err) {
      return (err as grpc.ServiceError).code;
    }
  };
  const refusedLines = (code: number): Array<Record<string, unknown>> => lines.filter((l) => l.msg === "call refused" && l.code === code);
  const calls = async (code: number): Promise<number> => {
    const text = await router.metrics.registry.metrics();
    const m = new RegExp(`^pixell_router_calls_total\\{deployment="_unresolved",code="${code}"\\} (\\d+)$`, "m").exec(text);
    return m ? Number(m[1]) : 0;
  };

  it("a credential-stuffing run: every call counted, a few lines at info, no token in the logs", async () => {
    const n = 40;
    for (let i = 0; i < n; i++) assert.equal(await call(`team-${i}`, wrongToken), grpc.status.UNAUTHENTICATED);
    assert.equal(await calls(grpc.status.UNAUTHENTICATED), n);
    const got = refusedLines(grpc.status.UNAUTHENTICATED);
    assert.equal(got.length, REFUSAL_LOG_LIMITS.perKey, "rate-limited per source and code");
    const first = got[0]!;
    assert.equal(first.level, 30, "info");
    assert.equal(first.status, "UNAUTHENTICATED");
    assert.equal(first.deploymentId, "team-0", "the id as given");
    assert.match(String(first.peer), /^(::ffff:)?127\.0\.0\.1$/);
    assert.equal(first.caller, undefined);
    const all = raw.join("");
    assert.ok(!all.includes(wrongToken) && !all.includes(token), "a credential appeared in the logs");
  });

  it("an authenticated id scan: NOT_FOUND counted, logged with the caller; PERMISSION_DENIED too", async () => {
    for (let i = 0; i < 12; i++) assert.equal(await call(`team-unknown-${i}`, token), grpc.status.NOT_FOUND);
    assert.equal(await call("billing", token), grpc.status.PERMISSION_DENIED);
    assert.equal(await calls(grpc.status.NOT_FOUND), 12);
    assert.equal(await calls(grpc.status.PERMISSION_DENIED), 1);
    const nf = refusedLines(grpc.status.NOT_FOUND);
    assert.equal(nf.length, REFUSAL_LOG_LIMITS.perKey);
    assert.deepEqual(nf.map((l) => [l.caller, l.deploymentId]).slice(0, 2), [["pac", "team-unknown-0"], ["pac", "team-unknown-1"]]);
    const denied = refusedLines(grpc.status.PERMISSION_DENIED);
    assert.equal(denied.length, 1);
    assert.equal(denied[0]!.caller, "pac");
    assert.equal(denied[0]!.deploymentId, "billing");
    assert.ok(!raw.join("").includes(token));
  });

  it("a request that is not gRPC: HTTP 415, counted as INVALID_ARGUMENT and logged", async () => {
    const before = await calls(grpc.status.INVALID_ARGUMENT);
    const session = http2.connect(`http://127.0.0.1:${router.port}`);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ":method": "GET", ":path": "/", "x-deployment-id": "team-a" });
        req.on("response", (h) => resolve(Number(h[":status"])));
        req.on("error", reject);
        req.end();
      });
      assert.equal(status, 415);
    } finally {
      session.close();
    }
    assert.equal(await calls(grpc.status.INVALID_ARGUMENT), before + 1);
    const line = refusedLines(grpc.status.INVALID_ARGUMENT).find((l) => l.answer === "http 415");
    assert.ok(line, JSON.stringify(lines.slice(-3)));
    assert.equal(line.deploymentId, "team-a");
  });
});

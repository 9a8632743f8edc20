import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import pino from "pino";
import { SignJWT, exportJWK, generateKeyPair, type JWK, type KeyLike } from "jose";
import { Status } from "../../router/routing";
import { JwtAuthenticator, buildAuthenticator, isRefusal, parseAuthConfig, type AuthResult, type Principal } from "../../router/auth";

const ISSUER = "https://idp.test/";
const AUDIENCE = "pixell-a2a";

/** A JWKS endpoint on 127.0.0.1 serving whatever keys the test puts in it. */
class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  private server: Server = createServer((_req, res) => {
    this.fetches++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: this.keys }));
  });
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyLike;
  readonly publicJwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
}

function sign(key: SigningKey, claims: Record<string, unknown>, opts: { iss?: string; aud?: string; exp?: number | string; sub?: string } = {}): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: key.kid })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setSubject(opts.sub ?? "svc-pac")
    .setIssuedAt();
  if (opts.exp !== undefined) jwt.setExpirationTime(opts.exp);
  else jwt.setExpirationTime("5m");
  return jwt.sign(key.privateKey);
}

describe("auth: JWT verified against a JWKS", () => {
  let jwks: JwksServer;
  let jwksUrl: string;
  let key: SigningKey;
  let auth: JwtAuthenticator | undefined;
  const lines: string[] = [];
  const logger = pino({ level: "trace" }, new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } }));

  before(async () => {
    key = await signingKey("k1");
  });
  beforeEach(async () => {
    lines.length = 0;
    jwks = new JwksServer();
    jwks.keys = [key.publicJwk];
    jwksUrl = await jwks.start();
  });
  afterEach(async () => {
    await auth?.close();
    auth = undefined;
    await jwks.close();
  });

  async function start(extra: Record<string, string> = {}): Promise<JwtAuthenticator> {
    const config = parseAuthConfig({ ROUTER_AUTH: "jwt", ROUTER_AUTH_JWKS_URL: jwksUrl, ROUTER_AUTH_ISSUER: ISSUER, ROUTER_AUTH_AUDIENCE: AUDIENCE, ...extra });
    const built = await buildAuthenticator(config, { logger });
    assert.ok(built instanceof JwtAuthenticator);
    return built;
  }
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it("accepts a valid token, authorizes by its pixell:deployments claim, and answers repeats synchronously from cache", async () => {
    auth = await start();
    const token = await sign(key, { "pixell:deployments": ["deployment-a", "team-*"] });
    const first = auth.authenticate(bearer(token));
    assert.ok(first instanceof Promise, "the first verification is asynchronous");
    const who = (await first) as Principal;
    assert.ok(!isRefusal(who));
    assert.equal(who.name, "jwt:svc-pac");
    assert.equal(auth.authorize(who, "team-x"), undefined);
    assert.equal(auth.authorize(who, "deployment-b")?.code, Status.PERMISSION_DENIED);

    const again = auth.authenticate(bearer(token));
    assert.ok(!(again instanceof Promise), "a verified token is answered from cache");
    assert.equal((again as Principal).name, "jwt:svc-pac");
    assert.equal(auth.cachedTokens, 1);
  });

  it("uses a configured claim, and a token without the claim may call nothing", async () => {
    auth = await start({ ROUTER_AUTH_ALLOW_CLAIM: "deployments" });
    const withClaim = (await auth.authenticate(bearer(await sign(key, { deployments: "billing" })))) as Principal;
    assert.equal(auth.authorize(withClaim, "billing"), undefined);
    const without = (await auth.authenticate(bearer(await sign(key, { "pixell:deployments": ["billing"] })))) as Principal;
    assert.ok(!isRefusal(without));
    assert.equal(auth.authorize(without, "billing")?.code, Status.PERMISSION_DENIED);
  });

  it("refuses wrong issuer, wrong audience, expiry, missing exp, foreign keys, tampering and bad claims with UNAUTHENTICATED", async () => {
    auth = await start();
    const stranger = await signingKey("k1"); // same kid, different key: the signature must fail
    const unknownKid = await signingKey("k-unknown");
    const good = await sign(key, { "pixell:deployments": ["a"] });
    const [h, p, s] = good.split(".");
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url").toString()), "pixell:deployments": ["*"] })).toString("base64url");
    const noExp = await new SignJWT({ "pixell:deployments": ["a"] }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(ISSUER).setAudience(AUDIENCE).sign(key.privateKey);
    const cases: Array<[string, RegExp]> = [
      [await sign(key, {}, { iss: "https://evil.test/" }), /claim "iss" check failed/],
      [await sign(key, {}, { aud: "someone-else" }), /claim "aud" check failed/],
      [await sign(key, {}, { exp: Math.floor(Date.now() / 1000) - 120 }), /token expired/],
      [noExp, /claim "exp" is missing/],
      [await sign(stranger, {}), /signature verification failed/],
      [await sign(unknownKid, {}), /signed by a key not in the JWKS/],
      [`${h}.${forgedPayload}.${s}`, /signature verification failed/],
      [await sign(key, { "pixell:deployments": ["bad id!"] }), /claim "pixell:deployments" must be an array/],
      ["not-a-jwt", /malformed JWT/],
    ];
    for (const [token, message] of cases) {
      const result = await auth.authenticate(bearer(token));
      assert.ok(isRefusal(result), `accepted: ${message}`);
      assert.equal(result.code, Status.UNAUTHENTICATED);
      assert.match(result.message, message);
    }
    assert.equal(auth.cachedTokens, 0, "refused tokens are not cached");
    const logged = lines.join("");
    for (const [token] of cases) assert.ok(!logged.includes(token), "a token appeared in the logs");
  });

  it("an unsigned (alg none) or HMAC token made from the public key is refused", async () => {
    auth = await start();
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const claims = { iss: ISSUER, aud: AUDIENCE, sub: "x", exp: Math.floor(Date.now() / 1000) + 300, "pixell:deployments": ["*"] };
    const none = `${enc({ alg: "none", kid: "k1" })}.${enc(claims)}.`;
    const result = await auth.authenticate(bearer(none));
    assert.ok(isRefusal(result));
    const { createHmac } = await import("node:crypto");
    const body = `${enc({ alg: "HS256", kid: "k1" })}.${enc(claims)}`;
    const hs = `${body}.${createHmac("sha256", JSON.stringify(key.publicJwk)).update(body).digest("base64url")}`;
    const r2 = await auth.authenticate(bearer(hs));
    assert.ok(isRefusal(r2));
    assert.match(r2.message, /algorithm not allowed/);
  });

  it("drops a cached token at its expiry and keeps the cache bounded", async () => {
    let now = Date.now();
    auth = new JwtAuthenticator({ jwksUrl, issuer: ISSUER, audience: AUDIENCE, allowClaim: "pixell:deployments", cacheSize: 3, logger, now: () => now });
    await auth.start();
    const tokens = await Promise.all([1, 2, 3, 4, 5].map((i) => sign(key, { "pixell:deployments": ["a"] }, { sub: `svc-${i}` })));
    for (const t of tokens) assert.ok(!isRefusal(await auth.authenticate(bearer(t))));
    assert.equal(auth.cachedTokens, 3);
    // The oldest were evicted; the newest is served from cache until its exp, then verified again.
    const evicted = auth.authenticate(bearer(tokens[0]));
    assert.ok(evicted instanceof Promise, "an evicted token is verified again");
    await evicted;
    assert.ok(!(auth.authenticate(bearer(tokens[4])) instanceof Promise));
    now += 6 * 60_000; // the tokens expire 5 minutes after signing
    const expired = auth.authenticate(bearer(tokens[4]));
    assert.ok(expired instanceof Promise, "an expired cache entry is not used");
    await expired;
  });

  it("verifies a long-lived token again after maxCacheMs, whatever its exp", async () => {
    let now = Date.now();
    auth = new JwtAuthenticator({ jwksUrl, issuer: ISSUER, allowClaim: "pixell:deployments", maxCacheMs: 60_000, logger, now: () => now });
    await auth.start();
    const token = await sign(key, { "pixell:deployments": ["a"] }, { exp: "1d" });
    assert.ok(!isRefusal(await auth.authenticate(bearer(token))));
    now += 30_000;
    assert.ok(!(auth.authenticate(bearer(token)) instanceof Promise), "still cached");
    now += 31_000;
    const again = auth.authenticate(bearer(token));
    assert.ok(again instanceof Promise, "verified again after maxCacheMs");
    assert.ok(!isRefusal(await again));
  });

  it("verifies concurrent calls with one new token once", async () => {
    auth = await start();
    const token = await sign(key, { "pixell:deployments": ["a"] });
    const results = await Promise.all(Array.from({ length: 20 }, () => auth!.authenticate(bearer(token))));
    assert.ok(results.every((r: AuthResult) => !isRefusal(r) && r.name === "jwt:svc-pac"));
    assert.equal(auth.cachedTokens, 1);
  });

  it("picks up a rotated signing key from the JWKS once the cooldown has passed", async () => {
    auth = new JwtAuthenticator({ jwksUrl, issuer: ISSUER, allowClaim: "pixell:deployments", jwksCooldownMs: 0, logger });
    await auth.start();
    const next = await signingKey("k2");
    jwks.keys = [key.publicJwk, next.publicJwk];
    const fetchesBefore = jwks.fetches;
    const result = await auth.authenticate(bearer(await sign(next, { "pixell:deployments": ["a"] })));
    assert.ok(!isRefusal(result), JSON.stringify(result));
    assert.equal(jwks.fetches, fetchesBefore + 1, "an unknown kid triggers one JWKS refetch");
  });

  it("refuses to start when the JWKS cannot be fetched", async () => {
    const url = jwksUrl;
    await jwks.close();
    jwks = new JwksServer();
    await jwks.start();
    await assert.rejects(
      buildAuthenticator(parseAuthConfig({ ROUTER_AUTH: "jwt", ROUTER_AUTH_JWKS_URL: url, ROUTER_AUTH_ISSUER: ISSUER })),
      /cannot fetch the JWKS at .*check ROUTER_AUTH_JWKS_URL/,
    );
  });
});

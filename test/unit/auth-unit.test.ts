import { strict as assert } from "node:assert";
import { mkdtemp, rm, writeFile, rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { Status } from "../../router/routing";
import {
  AuthConfigError,
  allowAllAuthenticator,
  buildAuthenticator,
  CALLER_HEADER,
  compileAllowList,
  prepareForwardedHeaders,
  isRefusal,
  parseAuthConfig,
  parseBearer,
  parseTokensDocument,
  sha256,
  type AuthResult,
  type Authenticator,
  type Principal,
} from "../../router/auth";

/** A pino logger writing into an array of strings, to assert on what was (not) logged. */
function captureLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString("utf8"));
      cb();
    },
  });
  return { logger: pino({ level: "trace" }, stream), lines };
}

function principal(result: AuthResult | Promise<AuthResult>): Principal {
  assert.ok(!(result instanceof Promise), "the bearer path must answer synchronously");
  assert.ok(!isRefusal(result), `expected a principal, got ${JSON.stringify(result)}`);
  return result;
}

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("auth: allow-lists", () => {
  it("matches exact ids and * globs, and nothing else", () => {
    const allow = compileAllowList(["deployment-a", "team-*", "*-prod", "a*b*c"]);
    for (const id of ["deployment-a", "team-x", "team-", "billing-prod", "abc", "a-b-c", "aXbYbZc"]) assert.equal(allow(id), true, id);
    for (const id of ["deployment-b", "deployment-a2", "xteam-a", "prod", "ab", "acb", "a-b-c-d"]) assert.equal(allow(id), false, id);
  });

  it("treats regex syntax as invalid instead of interpreting it", () => {
    for (const bad of ["team-(a|b)", "a+", "[a-z]*", "team-?", "", "a".repeat(129), "a b", "^a$"]) {
      assert.throws(() => compileAllowList([bad]), /invalid allow-list pattern/, bad);
    }
    // `.` is a legal id character, so ".*" is the glob "ids starting with a dot", which matches no valid id.
    assert.equal(compileAllowList([".*"])("anything"), false);
  });

  it("allows everything for `*` and nothing for an empty list", () => {
    assert.equal(compileAllowList(["*"])("x"), true);
    assert.equal(compileAllowList([])("x"), false);
  });
});

describe("auth: authorization header", () => {
  it("accepts `Bearer <token>` case-insensitively", () => {
    assert.deepEqual(parseBearer({ authorization: "Bearer abc.def-ghi_jk~l+m/n==" }), { token: "abc.def-ghi_jk~l+m/n==" });
    assert.deepEqual(parseBearer({ authorization: "bearer xyz" }), { token: "xyz" });
  });

  it("refuses missing, repeated, other-scheme, empty and malformed credentials with UNAUTHENTICATED", () => {
    const cases: Array<[Record<string, string | string[]>, RegExp]> = [
      [{}, /missing authorization/],
      [{ authorization: "" }, /missing authorization/],
      [{ authorization: ["Bearer a", "Bearer b"] }, /more than one/],
      [{ authorization: "Basic dXNlcjpwYXNz" }, /unsupported authorization scheme "Basic"/],
      [{ authorization: "Bearer" }, /empty bearer token/],
      [{ authorization: "Bearer    " }, /empty bearer token/],
      [{ authorization: "Bearer a b" }, /malformed bearer token/],
      [{ authorization: "Bearer tok\u00e9n" }, /malformed bearer token/],
      [{ authorization: `Bearer ${"a".repeat(9000)}` }, /longer than 8192/],
    ];
    for (const [headers, message] of cases) {
      const parsed = parseBearer(headers);
      assert.ok("refusal" in parsed, JSON.stringify(headers).slice(0, 80));
      assert.equal(parsed.refusal.code, Status.UNAUTHENTICATED);
      assert.match(parsed.refusal.message, message);
    }
  });

  it("never echoes the credential in a refusal", () => {
    const secret = "Sup3rSecretValue";
    for (const value of [`Token ${secret}`, `${secret}`, `Bearer ${secret} extra`, `Bearer ${secret}!`]) {
      const parsed = parseBearer({ authorization: value });
      assert.ok("refusal" in parsed);
      assert.ok(!parsed.refusal.message.includes(secret), parsed.refusal.message);
    }
  });
});

describe("auth: tokens document", () => {
  const token = "pac-token-0123456789abcdef";

  it("loads sha256 and plain tokens and finds them by value", () => {
    const table = parseTokensDocument(JSON.stringify({
      tokens: [
        { name: "pac", sha256: sha256(token).toString("hex"), allow: ["deployment-a", "team-*"] },
        { name: "ci", token: "ci-token-0123456789abcdef", allow: ["*"] },
      ],
    }));
    assert.equal(table.size, 2);
    const pac = table.find(token)!;
    assert.equal(pac.name, "pac");
    assert.equal(pac.allow("team-x"), true);
    assert.equal(pac.allow("deployment-b"), false);
    assert.equal(table.find("ci-token-0123456789abcdef")!.name, "ci");
    assert.equal(table.find("wrong-token-0123456789"), undefined);
  });

  it("names the field in every validation error and never includes a token", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /must be an object \{"tokens"/],
      [{ tokens: [{ sha256: "00".repeat(32), allow: [] }] }, /tokens\[0\]\.name/],
      [{ tokens: [{ name: "a", allow: [] }] }, /tokens\[0\] \("a"\) must have exactly one of "sha256"/],
      [{ tokens: [{ name: "a", sha256: "xyz", allow: [] }] }, /tokens\[0\]\.sha256 must be 64 hex/],
      [{ tokens: [{ name: "a", token: "short", allow: [] }] }, /tokens\[0\]\.token must be a string of at least 16/],
      [{ tokens: [{ name: "a", token: token }] }, /tokens\[0\]\.allow must be an array/],
      [{ tokens: [{ name: "a", token: token, allow: ["ok", "bad id"] }] }, /tokens\[0\]\.allow\[1\]/],
      [{ tokens: [{ name: "a", token: token, allow: [] }, { name: "a", token: token + "x", allow: [] }] }, /"a" is used twice/],
      [{ tokens: [{ name: "a", token: token, allow: [] }, { name: "b", sha256: sha256(token).toString("hex"), allow: [] }] }, /tokens\[1\] \("b"\) has the same token as "a"/],
    ];
    for (const [doc, message] of cases) {
      assert.throws(() => parseTokensDocument(JSON.stringify(doc)), (err: Error) => {
        assert.match(err.message, message);
        assert.ok(!err.message.includes(token), err.message);
        return true;
      });
    }
  });

  it("reports invalid JSON without quoting the document", () => {
    const text = `{"tokens":[{"name":"a","token":"${token}",}]}`;
    assert.throws(() => parseTokensDocument(text, "file:/x.json"), (err: Error) => {
      assert.match(err.message, /^file:\/x\.json is not valid JSON/);
      assert.ok(!err.message.includes(token), err.message);
      return true;
    });
  });
});

describe("auth: configuration", () => {
  it("defaults to off and parses each mode", () => {
    assert.deepEqual(parseAuthConfig({}), { mode: "off" });
    assert.deepEqual(parseAuthConfig({ ROUTER_AUTH: "off", ROUTER_AUTH_TOKENS: "ignored-when-off" }), { mode: "off" });
    assert.deepEqual(parseAuthConfig({ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: "file:/etc/pixell/tokens.json" }), {
      mode: "bearer", tokens: { kind: "file", path: "/etc/pixell/tokens.json" }, refreshMs: 60000,
    });
    assert.deepEqual(parseAuthConfig({ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: "secretsmanager:arn:aws:secretsmanager:us-east-1:1:secret:a2a-tokens", ROUTER_AUTH_REFRESH_MS: "30000" }), {
      mode: "bearer", tokens: { kind: "secretsmanager", secretId: "arn:aws:secretsmanager:us-east-1:1:secret:a2a-tokens" }, refreshMs: 30000,
    });
    assert.deepEqual(parseAuthConfig({ ROUTER_AUTH: "jwt", ROUTER_AUTH_JWKS_URL: "https://idp.example.com/jwks.json", ROUTER_AUTH_ISSUER: "https://idp.example.com/", ROUTER_AUTH_AUDIENCE: "pixell-a2a" }), {
      mode: "jwt", jwksUrl: "https://idp.example.com/jwks.json", issuer: "https://idp.example.com/", audience: "pixell-a2a", allowClaim: "pixell:deployments", cacheSize: 10000,
    });
  });

  it("lets flags override the environment", () => {
    assert.deepEqual(parseAuthConfig({ ROUTER_AUTH: "jwt" }, { auth: "bearer", "auth-tokens": "file:t.json" }), { mode: "bearer", tokens: { kind: "file", path: "t.json" }, refreshMs: 60000 });
  });

  it("names the key and the accepted values in every error", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ ROUTER_AUTH: "yes" }, /^ROUTER_AUTH="yes" is not valid: accepted values are off, bearer, jwt$/],
      [{ ROUTER_AUTH: "bearer" }, /ROUTER_AUTH_TOKENS is required when ROUTER_AUTH=bearer: set it to file:PATH or secretsmanager:SECRET_ID/],
      [{ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: "s3://bucket/key" }, /ROUTER_AUTH_TOKENS="s3:\/\/bucket\/key" is not valid: accepted values are file:PATH or secretsmanager:SECRET_ID/],
      [{ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: "file:" }, /ROUTER_AUTH_TOKENS="file:" is not valid/],
      [{ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: "file:x", ROUTER_AUTH_REFRESH_MS: "10s" }, /ROUTER_AUTH_REFRESH_MS must be a whole number from 1000 to 9007199254740991, got "10s"/],
      [{ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: "file:x", ROUTER_AUTH_ISSUER: "i" }, /ROUTER_AUTH_ISSUER is not used when ROUTER_AUTH=bearer/],
      [{ ROUTER_AUTH: "jwt" }, /ROUTER_AUTH_JWKS_URL is required when ROUTER_AUTH=jwt/],
      [{ ROUTER_AUTH: "jwt", ROUTER_AUTH_JWKS_URL: "not a url", ROUTER_AUTH_ISSUER: "i" }, /ROUTER_AUTH_JWKS_URL="not a url" is not a URL/],
      [{ ROUTER_AUTH: "jwt", ROUTER_AUTH_JWKS_URL: "http://idp.example.com/jwks", ROUTER_AUTH_ISSUER: "i" }, /ROUTER_AUTH_JWKS_URL must use https/],
      [{ ROUTER_AUTH: "jwt", ROUTER_AUTH_JWKS_URL: "https://idp/jwks" }, /ROUTER_AUTH_ISSUER is required when ROUTER_AUTH=jwt/],
      [{ ROUTER_AUTH: "jwt", ROUTER_AUTH_JWKS_URL: "https://idp/jwks", ROUTER_AUTH_ISSUER: "i", ROUTER_AUTH_ALLOW_CLAIM: "a b" }, /ROUTER_AUTH_ALLOW_CLAIM="a b" is not valid/],
      [{ ROUTER_AUTH: "jwt", ROUTER_AUTH_JWKS_URL: "https://idp/jwks", ROUTER_AUTH_ISSUER: "i", ROUTER_AUTH_TOKENS: "file:x" }, /ROUTER_AUTH_TOKENS is not used when ROUTER_AUTH=jwt/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => parseAuthConfig(env), (err: Error) => err instanceof AuthConfigError && message.test(err.message), JSON.stringify(env));
    }
  });
});

describe("auth: bearer tokens from a file", () => {
  const pacToken = "pac-token-0123456789abcdef";
  const ciToken = "ci-token-fedcba9876543210";
  let dir: string;
  let file: string;
  let auth: Authenticator | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "auth-test-"));
    file = join(dir, "tokens.json");
    await writeFile(file, JSON.stringify({ tokens: [{ name: "pac", sha256: sha256(pacToken).toString("hex"), allow: ["deployment-a", "team-*"] }] }));
  });
  afterEach(async () => {
    await auth?.close();
    auth = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it("authenticates synchronously, then authorizes by the token's allow-list", async () => {
    auth = await buildAuthenticator(parseAuthConfig({ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: `file:${file}` }));
    const who = principal(auth.authenticate({ authorization: `Bearer ${pacToken}` }));
    assert.equal(who.name, "pac");
    assert.equal(auth.authorize(who, "deployment-a"), undefined);
    assert.equal(auth.authorize(who, "team-search"), undefined);
    const denied = auth.authorize(who, "deployment-b");
    assert.equal(denied?.code, Status.PERMISSION_DENIED);
    assert.match(denied!.message, /caller "pac" may not call deployment "deployment-b"/);

    const unknown = auth.authenticate({ authorization: `Bearer ${ciToken}` });
    assert.ok(!(unknown instanceof Promise) && isRefusal(unknown));
    assert.equal(unknown.code, Status.UNAUTHENTICATED);
    assert.match(unknown.message, /unknown bearer token/);
  });

  it("picks up a changed file, and keeps the last good tokens when the file turns bad", async () => {
    const { logger, lines } = captureLogger();
    auth = await buildAuthenticator(parseAuthConfig({ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: `file:${file}` }), { logger, filePollMs: 20 });
    const accepts = (t: string): boolean => !isRefusal(auth!.authenticate({ authorization: `Bearer ${t}` }) as AuthResult);
    assert.equal(accepts(ciToken), false);

    // Replace atomically, as config management tools do.
    await writeFile(`${file}.tmp`, JSON.stringify({ tokens: [{ name: "ci", token: ciToken, allow: ["*"] }] }));
    await rename(`${file}.tmp`, file);
    await waitFor(() => accepts(ciToken));
    assert.equal(accepts(pacToken), false, "the removed token must stop working");

    await writeFile(file, `{"tokens":[{"name":"ci","token":"${ciToken}", BROKEN`);
    await waitFor(() => lines.some((l) => l.includes("reload failed")));
    assert.equal(accepts(ciToken), true, "the last good tokens stay in force");
    assert.ok(!lines.join("").includes(ciToken), "a token appeared in the logs");
    assert.ok(!lines.join("").includes(pacToken), "a token appeared in the logs");
  });

  it("refuses to start on a missing or invalid file, saying what to fix", async () => {
    await assert.rejects(buildAuthenticator(parseAuthConfig({ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: `file:${file}.missing` })), /cannot read auth tokens file .*ENOENT; check ROUTER_AUTH_TOKENS/);
    await writeFile(file, JSON.stringify({ tokens: [{ name: "x", token: pacToken }] }));
    await assert.rejects(buildAuthenticator(parseAuthConfig({ ROUTER_AUTH: "bearer", ROUTER_AUTH_TOKENS: `file:${file}` })), /tokens\[0\]\.allow must be an array/);
  });
});

describe("auth: off", () => {
  it("allows every call without credentials", async () => {
    const auth = await buildAuthenticator(parseAuthConfig({}));
    assert.equal(auth, allowAllAuthenticator);
    const who = principal(auth.authenticate({}));
    assert.equal(auth.authorize(who, "any-deployment"), undefined);
  });
});

describe("auth: headers forwarded to the agent", () => {
  it("drop the credential and carry the router-set caller name, replacing one the caller sent", () => {
    const headers = { ":path": "/pixell.agent.AgentService/Invoke", authorization: "Bearer secret-token-value", [CALLER_HEADER]: "spoofed", "x-deployment-id": "a" };
    const out = prepareForwardedHeaders(headers, { name: "pac", allow: () => true });
    assert.deepEqual(out, { ":path": "/pixell.agent.AgentService/Invoke", "x-deployment-id": "a", [CALLER_HEADER]: "pac" });
    assert.deepEqual(prepareForwardedHeaders({ authorization: "Bearer x", [CALLER_HEADER]: "spoofed" }, undefined), {});
  });
});

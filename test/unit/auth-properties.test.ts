import { strict as assert } from "node:assert";
import fc from "fast-check";
import { DEPLOYMENT_ID_KEYS, Status, extractDeploymentId } from "../../router/routing";
import { DEPLOYMENT_ID_PATTERN } from "../../registry/types";
import { MAX_TOKEN_LENGTH, compileAllowList, parseBearer, parseTokensDocument } from "../../router/auth";

const ID_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".split("");
const ID_REST = [...ID_FIRST, ".", "_", "-"];
/** Ids the router must accept. */
const validId = fc
  .tuple(fc.constantFrom(...ID_FIRST), fc.array(fc.constantFrom(...ID_REST), { maxLength: 127 }))
  .map(([first, rest]) => first + rest.join(""));
/** Anything a caller could put in metadata, biased towards look-alikes of ids, hosts, paths and ports. */
const anyValue = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.constantFrom("../etc/passwd", "10.0.0.1:50054", "localhost", "a/b", "a:1", "%2e%2e", "a\u0000b", "-leading", ".hidden", "_x", " a", "a ", "a".repeat(129)),
  validId.map((id) => `${id}/`),
  validId.map((id) => `${id}:50054`),
);
const MAX_MESSAGE = 300;

describe("properties: extractDeploymentId", () => {
  it("accepts every id matching the pattern unchanged, under each header key", () => {
    fc.assert(fc.property(validId, fc.constantFrom(...DEPLOYMENT_ID_KEYS), (id, key) => {
      assert.deepEqual(extractDeploymentId({ [key]: id }), { id });
    }), { numRuns: 500 });
  });

  it("refuses everything else with INVALID_ARGUMENT and a bounded message", () => {
    fc.assert(fc.property(anyValue, (value) => {
      fc.pre(!DEPLOYMENT_ID_PATTERN.test(value));
      const result = extractDeploymentId({ "x-deployment-id": value });
      assert.ok("error" in result, `accepted ${JSON.stringify(value)}`);
      assert.equal(result.error.code, Status.INVALID_ARGUMENT);
      assert.ok(result.error.message.length <= MAX_MESSAGE, `message of ${result.error.message.length} characters`);
    }), { numRuns: 1000 });
  });

  it("reads x-deployment-id before deployment-id before deployment_id", () => {
    fc.assert(fc.property(
      fc.record({ "x-deployment-id": validId, "deployment-id": validId, deployment_id: validId }, { requiredKeys: [] }),
      (headers) => {
        const expected = DEPLOYMENT_ID_KEYS.map((k) => headers[k]).find((v) => v !== undefined);
        const result = extractDeploymentId(headers);
        if (expected === undefined) assert.ok("error" in result && result.error.code === Status.INVALID_ARGUMENT);
        else assert.deepEqual(result, { id: expected });
      },
    ), { numRuns: 300 });
  });

  it("uses the first value of a repeated header and never throws on any header shape", () => {
    fc.assert(fc.property(
      fc.dictionary(fc.oneof(fc.constantFrom(...DEPLOYMENT_ID_KEYS), fc.string({ maxLength: 20 })), fc.oneof(anyValue, fc.array(anyValue, { maxLength: 3 }))),
      (headers) => {
        const result = extractDeploymentId(headers);
        if ("id" in result) assert.match(result.id, DEPLOYMENT_ID_PATTERN);
        else assert.equal(result.error.code, Status.INVALID_ARGUMENT);
      },
    ), { numRuns: 500 });
    assert.deepEqual(extractDeploymentId({ "x-deployment-id": ["first", "second"] } as never), { id: "first" });
  });
});

describe("properties: authorization header parsing", () => {
  const token68 = fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,200}=*$/);

  it("returns exactly the token for any well-formed `Bearer <token>`", () => {
    fc.assert(fc.property(token68, fc.constantFrom("Bearer", "bearer", "BEARER"), fc.integer({ min: 1, max: 3 }), (token, scheme, spaces) => {
      assert.deepEqual(parseBearer({ authorization: `${scheme}${" ".repeat(spaces)}${token}` }), { token });
    }), { numRuns: 500 });
  });

  it("refuses anything else with UNAUTHENTICATED, a bounded message, and never the credential in it", () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "binary", maxLength: 300 }), token68.map((t) => `Bearer ${t} ${t}`), token68.map((t) => `Basic ${t}`)), (value) => {
      const parsed = parseBearer({ authorization: value });
      if ("token" in parsed) {
        // Only well-formed bearer credentials get through.
        assert.match(value, /^bearer +/i);
        assert.match(parsed.token, /^[A-Za-z0-9\-._~+/]+=*$/);
        assert.ok(parsed.token.length <= MAX_TOKEN_LENGTH);
        return;
      }
      assert.equal(parsed.refusal.code, Status.UNAUTHENTICATED);
      assert.ok(parsed.refusal.message.length <= MAX_MESSAGE);
      const credential = value.replace(/^\S+\s*/, "");
      if (credential.length >= 4) assert.ok(!parsed.refusal.message.includes(credential), parsed.refusal.message);
    }), { numRuns: 1000 });
  });
});

describe("properties: allow-list globs", () => {
  it("agree with an anchored regular expression built from the same glob", () => {
    const glob = fc.array(fc.oneof(fc.constant("*"), fc.constantFrom("a", "b", "-", ".")), { minLength: 1, maxLength: 8 }).map((parts) => parts.join(""));
    const id = fc.array(fc.constantFrom("a", "b", "-", "."), { minLength: 1, maxLength: 12 }).map((parts) => parts.join(""));
    fc.assert(fc.property(glob, id, (pattern, candidate) => {
      const reference = new RegExp(`^${pattern.replace(/[.\-]/g, "\\$&").replace(/\*/g, ".*")}$`);
      assert.equal(compileAllowList([pattern])(candidate), reference.test(candidate), `${pattern} vs ${candidate}`);
    }), { numRuns: 2000 });
  });
});

describe("properties: tokens document errors", () => {
  it("never contain a token, whatever is wrong with the document", () => {
    const token = fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/);
    const brokenEntry = (t: string) => fc.constantFrom<object>(
      { name: "a", token: t },
      { name: "a", token: t, allow: ["bad id"] },
      { name: "a", token: t, sha256: "00", allow: [] },
      { name: "", token: t, allow: [] },
      { name: "a", token: t, allow: "team-*" },
    );
    fc.assert(fc.property(token, fc.boolean(), fc.nat({ max: 40 }), (t, asJson, cut) => {
      fc.pre(!/^(?:a|tokens|name|allow|sha256|token|team-)$/.test(t));
      let threw = 0;
      fc.assert(fc.property(brokenEntry(t), (entry) => {
        const text = asJson ? JSON.stringify({ tokens: [entry] }) : JSON.stringify({ tokens: [entry] }).slice(0, -1 - cut);
        try {
          parseTokensDocument(text);
        } catch (err) {
          threw++;
          assert.ok(!(err as Error).message.includes(t), (err as Error).message);
          return;
        }
        assert.fail("a broken document was accepted");
      }), { numRuns: 5 });
      assert.ok(threw > 0);
    }), { numRuns: 200 });
  });
});

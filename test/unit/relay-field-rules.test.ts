/** RFC 9113 section 8 field rules as pure functions (router/h2/field-rules.ts) and readRequestInfo's one pass over them. */
import { strict as assert } from "node:assert";
import {
  checkResponseHead, checkTrailers, connectionFieldRule, nameRule, parseContentLength, valueRule,
} from "../../router/h2/field-rules";
import { readRequestInfo } from "../../router/h2/request-info";
import type { HeaderList } from "../../router/h2/hpack";

const GRPC: HeaderList = [":method", "POST", ":scheme", "http", ":path", "/a.B/C", ":authority", "r", "content-type", "application/grpc", "te", "trailers"];

describe("relay: field rules (RFC 9113 8, pure)", () => {
  it("field names: lowercase RFC 9110 tokens only (RFC 9113 8.2.1, RFC 9110 5.1)", () => {
    for (const ok of ["x-a", "grpc-timeout", "a!#$%&'*+-.^_`|~z09"]) assert.equal(nameRule(ok), undefined, ok);
    assert.match(nameRule("X-A")!, /uppercase letter \(RFC 9113 8\.2\.1\)/);
    for (const bad of ["x a", "x:a", "x(a)", "x\"a", "x\u00e9", "x\ta", "x\u007fa", "x,a", "x/a"]) assert.match(nameRule(bad)!, /not allowed in a field name/, JSON.stringify(bad));
    assert.match(nameRule("")!, /empty field name/);
  });

  it("field values: no NUL, CR, LF; no SP or HTAB at either end (RFC 9113 8.2.1)", () => {
    for (const ok of ["", "a", "a b", "a\tb", "\u00ff"]) assert.equal(valueRule(ok), undefined, JSON.stringify(ok));
    for (const bad of ["a\0", "\rb", "a\nb", " a", "a ", "\ta", "a\t"]) assert.match(valueRule(bad)!, /RFC 9113 8\.2\.1/, JSON.stringify(bad));
  });

  it("connection-specific fields, and te other than trailers (RFC 9113 8.2.2)", () => {
    for (const name of ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]) assert.match(connectionFieldRule(name, "x")!, /connection-specific .*8\.2\.2/);
    assert.equal(connectionFieldRule("te", "trailers"), undefined);
    assert.match(connectionFieldRule("te", "gzip")!, /only "trailers"/);
    assert.equal(connectionFieldRule("x-connection", "close"), undefined);
  });

  it("content-length: 1*DIGIT as a safe integer, else -1 (RFC 9110 8.6, RFC 9113 8.1.1)", () => {
    assert.equal(parseContentLength("0"), 0);
    assert.equal(parseContentLength("007"), 7);
    assert.equal(parseContentLength("123456789012345"), 123456789012345);
    for (const bad of ["", "-1", "+1", " 1", "1 ", "1,1", "0x10", "1e3", "1234567890123456"]) assert.equal(parseContentLength(bad), -1, JSON.stringify(bad));
  });

  it("response heads: one 3-digit :status first, no other pseudo-header, no 101 (RFC 9113 8.3.2, 8.6)", () => {
    assert.deepEqual(checkResponseHead([":status", "200", "content-type", "application/grpc", "content-length", "5"]), { rule: undefined, status: 200, contentLength: 5 });
    assert.equal(checkResponseHead([":status", "103"]).status, 103);
    const rule = (h: HeaderList): string => checkResponseHead(h).rule ?? "";
    assert.match(rule(["content-type", "x"]), /missing :status/);
    assert.match(rule([":status", "20"]), /not a 3-digit code/);
    assert.match(rule([":status", "abc"]), /not a 3-digit code/);
    assert.match(rule([":status", "099"]), /not a 3-digit code/);
    assert.match(rule([":status", "101"]), /101 Switching Protocols .*8\.6/);
    assert.match(rule([":status", "200", ":status", "200"]), /duplicate :status/);
    assert.match(rule(["x", "1", ":status", "200"]), /after a regular field/);
    assert.match(rule([":status", "200", ":path", "/"]), /not defined for a response/);
    assert.match(rule([":status", "200", "Content-Type", "x"]), /uppercase/);
    assert.match(rule([":status", "200", "transfer-encoding", "chunked"]), /connection-specific/);
    assert.match(rule([":status", "200", "content-length", "1", "content-length", "2"]), /content-length "2"/);
  });

  it("trailers: no pseudo-header, the same field rules (RFC 9113 8.1, 8.2)", () => {
    assert.equal(checkTrailers(["grpc-status", "0", "grpc-message", "ok"]), undefined);
    assert.match(checkTrailers(["grpc-status", "0", ":status", "200"])!, /pseudo-header ":status" in trailers/);
    assert.match(checkTrailers(["Grpc-Status", "0"])!, /uppercase/);
    assert.match(checkTrailers(["connection", "close"])!, /connection-specific/);
    assert.match(checkTrailers(["x", "a\nb"])!, /NUL, CR or LF/);
  });
});

describe("relay: readRequestInfo, one pass (RFC 9113 8)", () => {
  const rule = (h: HeaderList): string | undefined => readRequestInfo(h).malformed;

  it("reads a well-formed gRPC request and finds nothing malformed", () => {
    const info = readRequestInfo([...GRPC, "x-deployment-id", "d", "content-length", "12", "user-agent", "grpc-node-js/1"]);
    assert.equal(info.malformed, undefined);
    assert.equal(info.method, "POST");
    assert.equal(info.path, "/a.B/C");
    assert.equal(info.contentLength, 12);
    assert.equal(info.headers["x-deployment-id"], "d");
    assert.equal(readRequestInfo(GRPC).contentLength, -1);
  });

  it("refuses missing, empty, duplicate and misplaced pseudo-headers (RFC 9113 8.3, 8.3.1)", () => {
    const without = (name: string): HeaderList => GRPC.filter((_, i, a) => a[i - (i % 2)] !== name);
    assert.match(rule(without(":method"))!, /missing :method/);
    assert.match(rule(without(":scheme"))!, /missing :scheme/);
    assert.match(rule(without(":path"))!, /missing or empty :path/);
    assert.match(rule(GRPC.map((v, i) => (i === 5 ? "" : v)))!, /missing or empty :path/);
    for (const p of [":method", ":scheme", ":path", ":authority"]) assert.match(rule([p, "x", ...GRPC])!, new RegExp(`duplicate ${p}`));
    assert.match(rule([...GRPC, ":authority", "r"])!, /after a regular field/);
    assert.match(rule([":status", "200", ...GRPC])!, /":status" is not defined for a request/);
    assert.match(rule([":protocol", "websocket", ...GRPC])!, /not defined for a request/);
    // CONNECT carries neither :scheme nor :path (RFC 9113 8.5): well-formed, and refused later as not gRPC (415).
    assert.equal(rule([":method", "CONNECT", ":authority", "h:1"]), undefined);
  });

  it("refuses bad names, values, connection-specific fields and bad content-length (RFC 9113 8.2.1, 8.2.2, 8.1.1)", () => {
    assert.match(rule([...GRPC, "X-A", "1"])!, /uppercase/);
    assert.match(rule([...GRPC, "x a", "1"])!, /0x20/);
    assert.match(rule([...GRPC, "x-a", "1\r\n"])!, /NUL, CR or LF/);
    assert.match(rule([...GRPC, "upgrade", "h2c"])!, /connection-specific field "upgrade"/);
    assert.match(rule(GRPC.map((v, i) => (i === 11 ? "trailers, deflate" : v)))!, /only "trailers"/);
    assert.match(rule([...GRPC, "content-length", "1x"])!, /content-length "1x"/);
    assert.match(rule([...GRPC, "content-length", "1", "content-length", "2"])!, /content-length "2"/);
    assert.equal(rule([...GRPC, "content-length", "1", "content-length", "1"]), undefined);
  });
});

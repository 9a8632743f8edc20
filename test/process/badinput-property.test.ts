/**
 * Property-based tests (fast-check) of the router's request parsing, end to end over the wire
 * to a router in a child process: ids and metadata are generated, sent on a raw HTTP/2 session,
 * and the answer must be one of the statuses the router documents, never UNKNOWN or INTERNAL,
 * never a reset stream or a crash. PAR (faked here) knows every id, so any valid id is routable.
 */
import { strict as assert } from "node:assert";
import * as http2 from "node:http2";
import fc from "fast-check";
import { startEchoServer, type EchoServer } from "../../fixtures/echo-server";
import { startChildRouter, type ChildRouter } from "../../fixtures/child-router";
import { startFakePar, type FakePar } from "../helpers/fake-par";

const VALID_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Runs per property: enough to hit edge cases, bounded for CI. */
const RUNS = 150;

/** RFC 9113 8.2.1: NUL, CR or LF anywhere, or whitespace at either end, make an HTTP/2 field value malformed. */
const MALFORMED_FIELD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;

/** What node's HTTP/2 client puts on the wire for a header value: one byte per UTF-16 unit, its low 8 bits (latin1). */
const onWire = (v: string): string => Buffer.from(v, "latin1").toString("latin1");

interface Answer { status: number; message: string; rstCode: number; body: string }

describe("bad input: property-based, over the wire (router in a child process)", function () {
  this.timeout(60_000);
  let agent: EchoServer;
  let par: FakePar | undefined;
  let router: ChildRouter;
  let session: http2.ClientHttp2Session;

  /** Sends one unary call with these headers; undefined when node's client refuses to send them at all. */
  const send = (headers: http2.OutgoingHttpHeaders): Promise<Answer> | undefined => {
    let req: http2.ClientHttp2Stream;
    try {
      req = session.request({ ":method": "POST", ":path": "/pixell.test.Echo/Unary", "content-type": "application/grpc", te: "trailers", ...headers });
    } catch {
      return undefined; // e.g. ERR_INVALID_CHAR / ERR_HTTP2_INVALID_HEADER_VALUE: not sendable over HTTP/2
    }
    return new Promise((resolve, reject) => {
      let got: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      req.on("response", (h) => { got = h; });
      req.on("trailers", (t) => { got = { ...got, ...t }; });
      req.on("data", (b: Buffer) => chunks.push(b));
      req.on("error", () => undefined);
      req.on("close", () => resolve({
        status: Number(got["grpc-status"]), message: decodeURIComponent(String(got["grpc-message"] ?? "")), rstCode: req.rstCode ?? 0,
        body: Buffer.concat(chunks).subarray(5).toString(),
      }));
      req.end(Buffer.from([0, 0, 0, 0, 1, 0x78]));
      setTimeout(() => reject(new Error(`no answer in 5 s to ${JSON.stringify(headers)}`)), 5000).unref();
    });
  };

  before(async () => {
    agent = await startEchoServer({ name: "any" });
    // Every id is known, so any id that parses is routed.
    par = await startFakePar({ deployments: () => agent.port });
    router = await startChildRouter({ registry: `par:${par.url}` });
    session = http2.connect(`http://127.0.0.1:${router.port}`);
    session.on("error", () => undefined);
  });
  after(async () => {
    session?.destroy();
    await router?.kill();
    await agent?.stop(true);
    await par?.close();
  });

  it("any valid id is routed to the agent, which receives that exact id", async () => {
    await fc.assert(fc.asyncProperty(fc.stringMatching(VALID_ID), async (id) => {
      const a = await send({ "x-deployment-id": id });
      assert.ok(a);
      assert.equal(a.status, 0, `${JSON.stringify(id)}: ${a.message}`);
      assert.equal(a.body, "any:x");
      assert.deepEqual(agent.lastMetadata.get("Unary")!.get("x-deployment-id"), [id]);
    }), { numRuns: RUNS });
  });

  it("any string as the id: routed when valid, else INVALID_ARGUMENT; never UNKNOWN, INTERNAL, a reset or a crash", async () => {
    let sent = 0;
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "binary", maxLength: 40 }), fc.stringMatching(VALID_ID).map((s) => s + "/")), async (id) => {
      const pending = send({ "x-deployment-id": id });
      if (pending === undefined) return; // not representable in HTTP/2 headers
      sent++;
      const a = await pending;
      const wire = onWire(id);
      // RFC 9113 8.2.1: a field value with NUL, CR or LF, or with whitespace at either end, is malformed; the
      // HTTP/2 layer may reset the stream with PROTOCOL_ERROR (1) before the router sees it. That is a refusal too.
      if (a.rstCode !== 0) {
        assert.ok(MALFORMED_FIELD_VALUE.test(wire) && a.rstCode === 1, `${JSON.stringify(wire)} reset the stream with ${a.rstCode}`);
        return;
      }
      const expected = VALID_ID.test(wire) ? 0 : 3;
      // HTTP/2 may drop a header value it finds invalid (leading/trailing whitespace): then the id is missing, also 3.
      assert.equal(a.status, expected, `${JSON.stringify(wire)}: ${a.status} ${a.message}`);
      if (expected === 3) assert.match(a.message, /(malformed|missing) x-deployment-id/);
    }), { numRuns: RUNS });
    assert.ok(sent > RUNS / 2, `only ${sent} of ${RUNS} ids were sendable`);
    assert.equal(router.exitCode(), undefined);
  });

  it("arbitrary metadata and grpc-timeout with a valid id: OK with the metadata passed through, or a documented refusal", async () => {
    const name = fc.stringMatching(/^x-[a-z0-9][a-z0-9_.-]{0,20}$/).filter((n) => !n.endsWith("-bin") && n !== "x-deployment-id" && n !== "x-pixell-hops");
    const value = fc.stringMatching(/^[!-~]([ -~]{0,60}[!-~])?$/);
    const timeout = fc.oneof(fc.constant(undefined), fc.stringMatching(/^[1-9]\d{3,6}[SmM]$/), fc.string({ maxLength: 12 }));
    const hops = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 4 }), fc.integer({ min: -5, max: 10 }).map(String));
    await fc.assert(fc.asyncProperty(fc.dictionary(name, value, { maxKeys: 8 }), timeout, hops, async (extra, grpcTimeout, hop) => {
      const headers: http2.OutgoingHttpHeaders = { ...extra, "x-deployment-id": "prop" };
      if (grpcTimeout !== undefined) headers["grpc-timeout"] = grpcTimeout;
      if (hop !== undefined) headers["x-pixell-hops"] = hop;
      const pending = send(headers);
      if (pending === undefined) return;
      const a = await pending;
      const malformed = [grpcTimeout, hop].some((v) => v !== undefined && MALFORMED_FIELD_VALUE.test(onWire(v)));
      if (a.rstCode !== 0) {
        assert.ok(malformed && a.rstCode === 1, `${JSON.stringify(headers)} reset the stream with ${a.rstCode}`);
        return;
      }
      const hopCount = hop === undefined ? NaN : Number(onWire(hop));
      const tooManyHops = Number.isInteger(hopCount) && hopCount >= 3;
      const badTimeout = grpcTimeout !== undefined && !/^\d{1,8}[HMSmun]$/.test(onWire(grpcTimeout));
      // 4: a valid but tiny grpc-timeout can expire. A malformed field value may be dropped by the HTTP/2 layer instead.
      const allowed = malformed ? [0, 3, 4, 9] : tooManyHops ? [9] : badTimeout ? [3] : [0, 4];
      assert.ok(allowed.includes(a.status), `${JSON.stringify(headers)}: ${a.status} ${a.message}`);
      if (a.status === 0) {
        const seen = agent.lastMetadata.get("Unary")!;
        for (const [k, v] of Object.entries(extra)) assert.deepEqual(seen.get(k), [v], `metadata ${k} passed through`);
      }
    }), { numRuns: RUNS });
    assert.equal(router.exitCode(), undefined);
  });
});

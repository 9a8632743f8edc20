/**
 * RFC 9113 section 8 validation through a real router (issue 13 items 3 and 7): malformed requests are
 * reset (RST_STREAM PROTOCOL_ERROR) and never reach the agent; the connection keeps serving; malformed
 * agent responses become UNAVAILABLE for the client and PROTOCOL_ERROR for the agent's stream.
 *
 * The agent is raw (test/helpers/recording-h2-agent.ts): it records every frame the router sends, so "the
 * agent saw nothing" is checked on the wire, not through a gRPC server that might drop the request itself.
 * Request cases run on both engines; on `http2` the outcome is what Node's nghttp2 does, asserted as
 * documented in docs/relay.md ("Request validation").
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startRouter, type RunningRouter } from "../../router";
import type { RouterEngine } from "../../router/config";
import { buildFrame, ErrorCode, Flag, FrameType } from "../../router/h2/frames";
import { encodeHeaderList, type HeaderList } from "../../router/h2/hpack";
import { silentLogger } from "../../lib/log";
import { eventually } from "../helpers/router-fixture";
import { headerOf, RawH2 } from "../helpers/raw-h2-client";
import { GRPC_RESPONSE, headersFrame, messageFrame, okResponse, RawH2Agent, type AgentFrame } from "../helpers/recording-h2-agent";

const BASE: HeaderList = [":method", "POST", ":scheme", "http", ":path", "/pixell.test.Echo/Unary", ":authority", "router",
  "content-type", "application/grpc", "te", "trailers", "x-deployment-id", "raw"];

/** BASE with fields removed (by name), replaced (name → value) and appended. */
function request(opts: { drop?: string[]; set?: Record<string, string>; add?: string[]; marker: string }): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i < BASE.length; i += 2) {
    const name = BASE[i]!;
    if (opts.drop?.includes(name)) continue;
    out.push(name, opts.set?.[name] ?? BASE[i + 1]!);
  }
  return [...out, "x-case", opts.marker, ...(opts.add ?? [])];
}
const headers = (id: number, list: HeaderList, end = false): Buffer =>
  buildFrame(FrameType.HEADERS, Flag.END_HEADERS | (end ? Flag.END_STREAM : 0), id, encodeHeaderList(list));
const data = (id: number, bytes: number, end: boolean): Buffer => buildFrame(FrameType.DATA, end ? Flag.END_STREAM : 0, id, Buffer.alloc(bytes, 0x61));
/** HEADERS then one 7-byte gRPC message "hi" with END_STREAM. */
const unary = (list: HeaderList) => (id: number): Buffer[] => [headers(id, list), RawH2.grpcMessage(id, "hi")];

/**
 * What happened to a bad request. Client: `rst N` or `status G`. Agent: `nothing` (no HEADERS with the
 * marker), `cancelled` (HEADERS and maybe early DATA, then RST_STREAM CANCEL, never END_STREAM),
 * `forwarded` (it reached the agent whole), `left open` (HEADERS and no reset: a leak).
 */
type AgentOutcome = "nothing" | "cancelled" | "forwarded" | "left open";

interface RequestCase {
  readonly name: string;
  /** The RFC section the rule comes from. */
  readonly rfc: string;
  readonly frames: (id: number, marker: string) => Buffer[];
  /** Agent outcomes accepted on the frames engine (default: nothing). */
  readonly frames_agent?: readonly AgentOutcome[];
  /** What the http2 engine (Node's nghttp2) does, when it differs from a reset the agent never sees. */
  readonly http2?: { client: string; agent: readonly AgentOutcome[] };
}

const simple = (name: string, rfc: string, opts: { drop?: string[]; set?: Record<string, string>; add?: string[] }, http2?: RequestCase["http2"]): RequestCase =>
  ({ name, rfc, frames: (id, marker) => unary(request({ ...opts, marker }))(id), http2 });

const NOT_FORWARDED: readonly AgentOutcome[] = ["nothing", "cancelled"];
/** nghttp2 (http2 engine) drops a field with a bad name or value silently; the request goes on without it. */
const NGHTTP2_DROPS: RequestCase["http2"] = { client: "status 0", agent: ["forwarded"] };

const REQUEST_CASES: readonly RequestCase[] = [
  // RFC 9113 8.2.1: field names are lowercase tokens.
  simple("an uppercase field name", "8.2.1", { add: ["X-Upper", "1"] }),
  simple("a space in a field name", "8.2.1", { add: ["x bad", "1"] }, NGHTTP2_DROPS),
  simple("a colon inside a regular field name", "8.2.1", { add: ["x:bad", "1"] }, NGHTTP2_DROPS),
  simple("a separator (RFC 9110 token) in a field name", "8.2.1", { add: ["x(bad)", "1"] }, NGHTTP2_DROPS),
  simple("an empty field name", "8.2.1", { add: ["", "1"] }, NGHTTP2_DROPS),
  // RFC 9113 8.2.1: values.
  simple("a CR LF in a field value", "8.2.1", { add: ["x-bad", "a\r\nb"] }, NGHTTP2_DROPS),
  simple("a NUL in a field value", "8.2.1", { add: ["x-bad", "a\0b"] }, NGHTTP2_DROPS),
  simple("whitespace at the end of a field value", "8.2.1", { add: ["x-bad", "a "] }, NGHTTP2_DROPS),
  // RFC 9113 8.2.2: connection-specific fields.
  simple("connection", "8.2.2", { add: ["connection", "keep-alive"] }),
  simple("keep-alive", "8.2.2", { add: ["keep-alive", "timeout=5"] }),
  simple("transfer-encoding", "8.2.2", { add: ["transfer-encoding", "chunked"] }),
  simple("upgrade", "8.2.2", { add: ["upgrade", "h2c"] }),
  simple("proxy-connection", "8.2.2", { add: ["proxy-connection", "keep-alive"] }),
  simple("te other than trailers", "8.2.2", { set: { te: "gzip" } }),
  // RFC 9113 8.3 and 8.3.1: pseudo-headers.
  simple("a missing :method", "8.3.1", { drop: [":method"] }),
  simple("a missing :scheme", "8.3.1", { drop: [":scheme"] }),
  simple("a missing :path", "8.3.1", { drop: [":path"] }),
  simple("an empty :path", "8.3.1", { set: { ":path": "" } }),
];

// Cases whose header list is not BASE plus a field: pseudo-headers in the wrong place or twice.
const reordered = (name: string, rfc: string, build: (marker: string) => HeaderList, http2?: RequestCase["http2"]): RequestCase =>
  ({ name, rfc, frames: (id, marker) => unary(build(marker))(id), http2 });
const PSEUDO_CASES: readonly RequestCase[] = [
  reordered("a duplicate :path", "8.3.1", (m) => [":path", "/a", ...request({ marker: m })]),
  reordered("a duplicate :method", "8.3.1", (m) => [":method", "POST", ...request({ marker: m })]),
  reordered("a duplicate :scheme", "8.3.1", (m) => [":scheme", "http", ...request({ marker: m })]),
  reordered("a duplicate :authority", "8.3.1", (m) => [":authority", "x", ...request({ marker: m })]),
  reordered("a pseudo-header after a regular field", "8.3", (m) => [...request({ marker: m, drop: [":authority"] }), ":authority", "router"]),
  reordered("an unknown pseudo-header", "8.3", (m) => [":foo", "bar", ...request({ marker: m })]),
  reordered(":status in a request", "8.3", (m) => [":status", "200", ...request({ marker: m })]),
];

// RFC 9113 8.1.1: content-length must be a number and equal the DATA's length. "hi" as a gRPC message is 7 bytes.
const LENGTH_CASES: readonly RequestCase[] = [
  simple("content-length not a number", "8.1.1", { add: ["content-length", "abc"] }),
  simple("a negative content-length", "8.1.1", { add: ["content-length", "-7"] }),
  simple("two different content-lengths", "8.1.1", { add: ["content-length", "7", "content-length", "8"] }),
  {
    name: "DATA past content-length", rfc: "8.1.1", frames: (id, m) => unary(request({ marker: m, add: ["content-length", "3"] }))(id), frames_agent: NOT_FORWARDED,
    // http2 engine: nghttp2 resets the client, but the router's proxy ends the agent's request (empty DATA, END_STREAM) before its RST_STREAM CANCEL.
    http2: { client: `rst ${ErrorCode.PROTOCOL_ERROR}`, agent: ["forwarded"] },
  },
  { name: "content-length longer than the DATA, at END_STREAM", rfc: "8.1.1", frames: (id, m) => unary(request({ marker: m, add: ["content-length", "100"] }))(id), frames_agent: NOT_FORWARDED },
  { name: "content-length with END_STREAM on HEADERS", rfc: "8.1.1", frames: (id, m) => [headers(id, request({ marker: m, add: ["content-length", "5"] }), true)] },
  {
    name: "content-length short across two DATA frames (the first forwarded, then cancelled)", rfc: "8.1.1",
    frames: (id, m) => [headers(id, request({ marker: m, add: ["content-length", "100"] })), data(id, 10, false), data(id, 10, true)], frames_agent: NOT_FORWARDED,
  },
];

// RFC 9113 8.1: trailers carry no pseudo-header, and the same field rules as headers.
const trailers = (name: string, list: HeaderList, http2?: RequestCase["http2"]): RequestCase => ({
  name, rfc: "8.1", http2, frames_agent: NOT_FORWARDED,
  frames: (id, m) => [headers(id, request({ marker: m })), RawH2.grpcMessage(id, "hi", false), headers(id, list, true)],
});
const TRAILER_CASES: readonly RequestCase[] = [
  trailers("a pseudo-header in trailers", [":path", "/x"]),
  trailers("an uppercase name in trailers", ["X-Upper", "1"]),
  trailers("a connection-specific field in trailers", ["connection", "close"]),
];

const ALL_REQUEST_CASES = [...REQUEST_CASES, ...PSEUDO_CASES, ...LENGTH_CASES, ...TRAILER_CASES];

async function startRawRouter(agent: RawH2Agent, engine: RouterEngine): Promise<{ router: RunningRouter; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-validate-"));
  fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "raw", port: agent.port }] }));
  const router = await startRouter({ listen: "127.0.0.1:0", registry: `file:${path.join(dir, "r.json")}`, logger: silentLogger, engine });
  return { router, dir };
}

/** The agent's view of the stream that carried `marker`. */
function agentOutcome(agent: RawH2Agent, marker: string): { outcome: AgentOutcome; req: AgentFrame | undefined } {
  const req = agent.requests().find((f) => headerOf(f.headers!, "x-case") === marker);
  if (req === undefined) return { outcome: "nothing", req };
  const frames = agent.streamFrames(req.conn, req.streamId);
  if (frames.some((f) => (f.type === FrameType.HEADERS || f.type === FrameType.DATA) && (f.flags & Flag.END_STREAM) !== 0)) return { outcome: "forwarded", req };
  const rst = frames.find((f) => f.type === FrameType.RST_STREAM);
  return { outcome: rst !== undefined && rst.payload.readUInt32BE(0) === ErrorCode.CANCEL ? "cancelled" : "left open", req };
}

/** The client's answer on a stream: `rst N` (HTTP/2 error code) or `status G` (grpc-status, or `:status` when not 200). */
async function clientOutcome(c: RawH2, id: number): Promise<string> {
  const f = await c.waitFor((x) => x.streamId === id && (x.type === FrameType.RST_STREAM || (x.type === FrameType.HEADERS && (x.flags & Flag.END_STREAM) !== 0)), 3000, `an answer on stream ${id}`);
  if (f.type === FrameType.RST_STREAM) return `rst ${f.payload.readUInt32BE(0)}`;
  const status = headerOf(f.headers!, ":status");
  return status !== undefined && status !== "200" ? `http ${status}` : `status ${headerOf(f.headers!, "grpc-status")}`;
}

for (const engine of ["frames", "http2"] as RouterEngine[]) {
  describe(`relay: malformed requests are reset, never forwarded (RFC 9113 8; ${engine} engine)`, function () {
    this.timeout(20_000);
    let agent: RawH2Agent;
    let router: RunningRouter;
    let dir: string;
    const clients: RawH2[] = [];
    let n = 0;

    before(async () => {
      agent = await RawH2Agent.start();
      ({ router, dir } = await startRawRouter(agent, engine));
    });
    after(async () => {
      clients.forEach((c) => c.close());
      await router.close();
      await agent.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    /** A valid call on stream `id` of `c` succeeds, and reaches the agent once. */
    async function validCallWorks(c: RawH2, id: number): Promise<void> {
      const marker = `valid-${++n}`;
      c.send(c.requestHeaders(id, "raw", "Unary", ["x-case", marker]), RawH2.grpcMessage(id, "hi"));
      assert.equal(await clientOutcome(c, id), "status 0", "a valid request after the malformed one, on the same connection");
      assert.equal(agentOutcome(agent, marker).outcome, "forwarded");
    }

    it("forwards a well-formed request, with and without a matching content-length (RFC 9113 8.1.1)", async () => {
      const c = await RawH2.connect(router.port);
      clients.push(c);
      await validCallWorks(c, 1);
      const marker = `valid-${++n}`;
      c.send(...unary(request({ marker, add: ["content-length", "7"] }))(3));
      assert.equal(await clientOutcome(c, 3), "status 0");
      assert.equal(agentOutcome(agent, marker).outcome, "forwarded");
    });

    for (const tc of ALL_REQUEST_CASES) {
      // Each case: RFC 9113 section tc.rfc.
      it(`${tc.name} (RFC 9113 ${tc.rfc})`, async () => {
        const c = await RawH2.connect(router.port);
        clients.push(c);
        const marker = `bad-${++n}`;
        c.send(...tc.frames(1, marker));
        const client = await clientOutcome(c, 1);
        const expected = engine === "http2" && tc.http2 !== undefined ? tc.http2 : { client: `rst ${ErrorCode.PROTOCOL_ERROR}`, agent: engine === "frames" ? tc.frames_agent ?? ["nothing"] : NOT_FORWARDED };
        assert.equal(client, expected.client, "the client's answer");
        // The connection is not torn down: the next stream works (and orders after the bad one at the agent).
        await validCallWorks(c, 3);
        // A cancelled stream's RST_STREAM CANCEL may trail the next call's frames.
        if (agentOutcome(agent, marker).outcome === "left open") await eventually(() => agentOutcome(agent, marker).outcome !== "left open", 2000, "RST_STREAM CANCEL at the agent").catch(() => undefined);
        const seen = agentOutcome(agent, marker).outcome;
        assert.ok(expected.agent.includes(seen), `the agent's view: ${seen}, expected one of ${expected.agent.join(", ")}`);
        assert.equal(c.closed, false, "connection still open");
      });
    }
  });
}

describe("relay: malformed agent responses (RFC 9113 8; frames engine)", function () {
  this.timeout(20_000);
  let agent: RawH2Agent;
  let router: RunningRouter;
  let dir: string;
  const clients: RawH2[] = [];
  let next = 1;
  let c: RawH2;

  before(async () => {
    agent = await RawH2Agent.start();
    ({ router, dir } = await startRawRouter(agent, "frames"));
    c = await RawH2.connect(router.port);
    clients.push(c);
  });
  afterEach(() => { agent.respond = okResponse; });
  after(async () => {
    clients.forEach((x) => x.close());
    await router.close();
    await agent.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** One call; returns the client's final headers, the client frames of the stream, and the agent's frames of it. */
  async function call(): Promise<{ final: HeaderList; clientFrames: typeof c.frames; agentFrames: AgentFrame[] }> {
    const id = next;
    next += 2;
    const marker = `resp-${id}`;
    c.send(c.requestHeaders(id, "raw", "Unary", ["x-case", marker]), RawH2.grpcMessage(id, "hi"));
    const final = await c.final(id);
    const req = agent.requests().find((f) => headerOf(f.headers!, "x-case") === marker)!;
    // The router's RST_STREAM to the agent is written in the same turn as the client's status.
    await eventually(() => agent.streamFrames(req.conn, req.streamId).some((f) => f.type === FrameType.RST_STREAM) || headerOf(final, "grpc-status") === "0", 2000, "the agent stream's end");
    return { final, clientFrames: c.frames.filter((f) => f.streamId === id), agentFrames: agent.streamFrames(req.conn, req.streamId) };
  }

  const rstCode = (frames: AgentFrame[]): number | undefined => {
    const f = frames.find((x) => x.type === FrameType.RST_STREAM);
    return f === undefined ? undefined : f.payload.readUInt32BE(0);
  };

  const MALFORMED: ReadonlyArray<{ name: string; rfc: string; respond: (id: number) => Buffer[]; rule: RegExp }> = [
    { name: "an uppercase name in response headers", rfc: "8.2.1", respond: (id) => [headersFrame(id, [...GRPC_RESPONSE, "X-Upper", "1"], false), messageFrame(id, "ok"), headersFrame(id, ["grpc-status", "0"], true)], rule: /uppercase/ },
    { name: "a connection-specific field in response headers", rfc: "8.2.2", respond: (id) => [headersFrame(id, [...GRPC_RESPONSE, "connection", "close"], false), messageFrame(id, "ok"), headersFrame(id, ["grpc-status", "0"], true)], rule: /connection-specific/ },
    { name: "a request pseudo-header in a response", rfc: "8.3", respond: (id) => [headersFrame(id, [":status", "200", ":path", "/x", "content-type", "application/grpc"], false)], rule: /pseudo-header ":path"/ },
    { name: "a missing :status", rfc: "8.3.2", respond: (id) => [headersFrame(id, ["content-type", "application/grpc", "grpc-status", "0"], true)], rule: /missing :status/ },
    { name: "a duplicate :status", rfc: "8.3.2", respond: (id) => [headersFrame(id, [":status", "200", ":status", "200", "content-type", "application/grpc"], false)], rule: /duplicate :status/ },
    { name: "content-length not a number", rfc: "8.1.1", respond: (id) => [headersFrame(id, [...GRPC_RESPONSE, "content-length", "x"], false)], rule: /content-length "x"/ },
    { name: "DATA past content-length", rfc: "8.1.1", respond: (id) => [headersFrame(id, [...GRPC_RESPONSE, "content-length", "3"], false), messageFrame(id, "ok"), headersFrame(id, ["grpc-status", "0"], true)], rule: /content-length 3 but DATA carried at least 7/ },
    { name: "trailers short of content-length", rfc: "8.1.1", respond: (id) => [headersFrame(id, [...GRPC_RESPONSE, "content-length", "70"], false), messageFrame(id, "ok"), headersFrame(id, ["grpc-status", "0"], true)], rule: /content-length 70 but the message ended after 7/ },
    { name: "101 Switching Protocols", rfc: "8.6", respond: (id) => [headersFrame(id, [":status", "101", "upgrade", "h2c"], false)], rule: /101/ },
    { name: "a 1xx with END_STREAM", rfc: "8.1", respond: (id) => [headersFrame(id, [":status", "103"], true)], rule: /informational/ },
    { name: "a pseudo-header in trailers", rfc: "8.1", respond: (id) => [headersFrame(id, GRPC_RESPONSE, false), messageFrame(id, "ok"), headersFrame(id, ["grpc-status", "0", ":status", "200"], true)], rule: /pseudo-header ":status" in trailers/ },
    { name: "trailers without END_STREAM", rfc: "8.1", respond: (id) => [headersFrame(id, GRPC_RESPONSE, false), messageFrame(id, "ok"), headersFrame(id, ["grpc-status", "0"], false)], rule: /trailers without END_STREAM/ },
  ];

  for (const tc of MALFORMED) {
    // Each case: RFC 9113 section tc.rfc.
    it(`${tc.name} → UNAVAILABLE to the client, PROTOCOL_ERROR to the agent's stream (RFC 9113 ${tc.rfc})`, async () => {
      agent.respond = tc.respond;
      const { final, agentFrames } = await call();
      assert.equal(headerOf(final, "grpc-status"), "14");
      const message = decodeURIComponent(headerOf(final, "grpc-message") ?? "");
      assert.match(message, /^agent for deployment raw at 127\.0\.0\.1:\d+ sent a malformed response: /);
      assert.match(message, tc.rule);
      assert.equal(rstCode(agentFrames), ErrorCode.PROTOCOL_ERROR, "the agent's stream is reset with PROTOCOL_ERROR");
    });
  }

  it("drops 1xx informational responses (not forwarded) and relays the final one (RFC 9113 8.1)", async () => {
    agent.respond = (id) => [headersFrame(id, [":status", "100"], false), headersFrame(id, [":status", "103", "link", "</x>"], false), ...okResponse(id, [])];
    const { final, clientFrames, agentFrames } = await call();
    assert.equal(headerOf(final, "grpc-status"), "0");
    const statuses = clientFrames.filter((f) => f.type === FrameType.HEADERS).map((f) => headerOf(f.headers!, ":status"));
    assert.deepEqual(statuses, ["200", undefined], "the client saw the final response and trailers only");
    assert.equal(c.dataOf(clientFrames[0]!.streamId).length, 7, "the message arrived");
    assert.equal(rstCode(agentFrames), undefined, "nothing reset");
  });

  it("relays a response with a matching content-length (RFC 9113 8.1.1)", async () => {
    agent.respond = (id) => [headersFrame(id, [...GRPC_RESPONSE, "content-length", "7"], false), messageFrame(id, "ok"), headersFrame(id, ["grpc-status", "0"], true)];
    const { final } = await call();
    assert.equal(headerOf(final, "grpc-status"), "0");
  });
});

/**
 * HTTP/2 protocol limits of the frame relay (router/h2/limits.ts): an abuser's connection hits each one
 * and ends with GOAWAY ENHANCE_YOUR_CALM (or its stream is refused), the agent sees nothing of it, a
 * metric counts it and a `warn` line names it; clients below the limits, on the same or another
 * connection, are served. Counts and codes only: no timing assertions.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { startRouter, type RunningRouter } from "../../router";
import { buildFrame, buildRstStream, ErrorCode, Flag, FrameType } from "../../router/h2/frames";
import { encodeHeaderList, HpackDecoder } from "../../router/h2/hpack";
import { MAX_CONTINUATION_FRAMES, MAX_HEADER_LIST_BYTES, NO_PROGRESS_FRAME_BUDGET } from "../../router/h2/limits";
import { eventually } from "../helpers/router-fixture";
import { headerOf, RawH2 } from "../helpers/raw-h2-client";
import { startRawAgent, type RawAgent } from "../helpers/raw-h2-agent";
import { CLIENT_PREFACE } from "../helpers/raw-h2";

const goawayCode = (f: { payload: Buffer }): number => f.payload.readUInt32BE(4);
const PING = buildFrame(FrameType.PING, 0, 0, Buffer.alloc(8));

describe("relay: HTTP/2 protocol limits (frames engine)", function () {
  this.timeout(60_000);
  let agent: RawAgent;
  let router: RunningRouter;
  let dir: string;
  const lines: Array<Record<string, unknown>> = [];
  const clients: RawH2[] = [];
  const connect = async (): Promise<RawH2> => {
    const c = await RawH2.connect(router.port);
    clients.push(c);
    return c;
  };
  const limitCount = async (limit: string): Promise<number> => {
    const m = await router.metrics.registry.getSingleMetric("pixell_router_protocol_limit_total")!.get();
    return m.values.find((v) => v.labels.limit === limit)?.value ?? 0;
  };
  /** A call on its own connection still succeeds. */
  const steadyCall = async (): Promise<void> => {
    const c = await connect();
    c.send(c.requestHeaders(1, "raw", "Unary", [], true));
    assert.equal(headerOf(await c.final(1), "grpc-status"), "0");
  };
  const warned = (limit: string): boolean => lines.some((l) => l.msg === "client hit an HTTP/2 protocol limit" && l.limit === limit && l.peer === "127.0.0.1");

  before(async () => {
    agent = await startRawAgent();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-limits-test-"));
    fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "raw", port: agent.port }] }));
    const logger = pino({ level: "warn" }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
    router = await startRouter({ listen: "127.0.0.1:0", registry: `file:${path.join(dir, "r.json")}`, logger, engine: "frames" });
  });
  afterEach(() => clients.splice(0).forEach((c) => c.close()));
  after(async () => {
    await router.close();
    await agent.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // CVE-2023-44487; RFC 9113 section 5.4.1 (GOAWAY), section 7 (ENHANCE_YOUR_CALM).
  it("rapid reset: 5,000 streams opened and reset end in GOAWAY ENHANCE_YOUR_CALM, and almost none reach the agent", async () => {
    const headersBefore = agent.count(FrameType.HEADERS);
    const cpu0 = process.cpuUsage();
    const c = await connect();
    for (let batch = 0; batch < 10 && !c.closed; batch++) {
      const frames: Buffer[] = [];
      for (let i = 0; i < 500; i++) {
        const id = 2 * (batch * 500 + i) + 1;
        frames.push(c.requestHeaders(id, "raw"), buildRstStream(id, ErrorCode.CANCEL));
      }
      c.send(Buffer.concat(frames));
      await new Promise((r) => setImmediate(r));
    }
    const g = await c.waitFor((f) => f.type === FrameType.GOAWAY, 10_000, "GOAWAY");
    assert.equal(goawayCode(g), ErrorCode.ENHANCE_YOUR_CALM);
    await c.closedByPeer();
    const cpu = process.cpuUsage(cpu0);
    const reached = agent.count(FrameType.HEADERS) - headersBefore;
    console.log(`      rapid reset: ${reached} of 5000 streams reached the agent; test process CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`);
    assert.ok(reached < 50, `${reached} streams reached the agent`);
    assert.equal(await limitCount("premature_resets"), 1);
    assert.ok(warned("premature_resets"));
    await steadyCall();
  });

  // CVE-2023-44487: a stream reset in the same read as its HEADERS never opens an agent stream.
  it("a stream reset in the same read as its HEADERS never reaches the agent; the next call on the connection does", async () => {
    const before = agent.count(FrameType.HEADERS);
    const c = await connect();
    c.send(Buffer.concat([c.requestHeaders(1, "raw"), buildRstStream(1, ErrorCode.CANCEL)]));
    c.send(c.requestHeaders(3, "raw", "Unary", [], true));
    assert.equal(headerOf(await c.final(3), "grpc-status"), "0");
    assert.equal(agent.count(FrameType.HEADERS) - before, 1);
  });

  // nginx "http2 flood detected" / Envoy empty-frame limits: frames without progress (RFC 9113 section 10.5).
  it("a PING flood from a reader passes up to the budget (every PING answered), and past it ends in GOAWAY ENHANCE_YOUR_CALM", async () => {
    const c = await connect();
    c.send(Buffer.concat(Array.from({ length: 5000 }, () => PING)));
    await eventually(() => c.frames.filter((f) => f.type === FrameType.PING).length === 5000, 10_000, "5000 PING ACKs");
    c.send(c.requestHeaders(1, "raw", "Unary", [], true));
    assert.equal(headerOf(await c.final(1), "grpc-status"), "0");
    const flood = await connect();
    flood.send(Buffer.concat(Array.from({ length: NO_PROGRESS_FRAME_BUDGET + 5000 }, () => PING)));
    const g = await flood.waitFor((f) => f.type === FrameType.GOAWAY, 10_000, "GOAWAY");
    assert.equal(goawayCode(g), ErrorCode.ENHANCE_YOUR_CALM);
    assert.ok(flood.frames.filter((f) => f.type === FrameType.PING).length <= NO_PROGRESS_FRAME_BUDGET);
    assert.ok(warned("frames_without_progress"));
    await steadyCall();
  });

  // RFC 9113 section 6.1 (DATA may be empty) and section 10.5: empty DATA is not relayed, a flood of it is closed.
  it("empty DATA frames are never forwarded to the agent; a flood of them ends in GOAWAY ENHANCE_YOUR_CALM", async () => {
    const emptyBefore = agent.emptyData;
    const c = await connect();
    const empty = buildFrame(FrameType.DATA, 0, 1, Buffer.alloc(0));
    c.send(c.requestHeaders(1, "raw"), Buffer.concat(Array.from({ length: 100 }, () => empty)), RawH2.grpcMessage(1, "x"));
    assert.equal(headerOf(await c.final(1), "grpc-status"), "0");
    assert.equal(agent.emptyData - emptyBefore, 0);
    const flood = await connect();
    const emptyOn3 = buildFrame(FrameType.DATA, 0, 3, Buffer.alloc(0));
    flood.send(flood.requestHeaders(3, "raw"), Buffer.concat(Array.from({ length: NO_PROGRESS_FRAME_BUDGET + 1000 }, () => emptyOn3)));
    assert.equal(goawayCode(await flood.waitFor((f) => f.type === FrameType.GOAWAY, 10_000, "GOAWAY")), ErrorCode.ENHANCE_YOUR_CALM);
    assert.equal(agent.emptyData - emptyBefore, 0);
  });

  // RFC 9113 section 6.10 (CONTINUATION), VU#421644 (CONTINUATION flood).
  it("a header block in many CONTINUATION frames is relayed up to the limit; past it, GOAWAY ENHANCE_YOUR_CALM", async () => {
    const block = encodeHeaderList([":method", "POST", ":scheme", "http", ":path", "/pixell.test.Echo/Unary", ":authority", "r",
      "content-type", "application/grpc", "te", "trailers", "x-deployment-id", "raw", "x-pad", "p".repeat(200)]);
    const split = (sid: number, pieces: number): Buffer[] => {
      const size = Math.ceil(block.length / pieces);
      const out: Buffer[] = [];
      for (let i = 0; i < pieces; i++) {
        const part = block.subarray(i * size, Math.min(block.length, (i + 1) * size));
        const last = i === pieces - 1;
        out.push(buildFrame(i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, (i === 0 ? Flag.END_STREAM : 0) | (last ? Flag.END_HEADERS : 0), sid, part));
      }
      return out;
    };
    const c = await connect();
    c.send(...split(1, MAX_CONTINUATION_FRAMES + 1)); // HEADERS + exactly the limit of CONTINUATIONs
    assert.equal(headerOf(await c.final(1), "grpc-status"), "0");
    const before = await limitCount("continuation_frames");
    const flood = await connect();
    const empty = buildFrame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(0));
    flood.send(buildFrame(FrameType.HEADERS, 0, 1, block.subarray(0, 10)), Buffer.concat(Array.from({ length: 10_000 }, () => empty)));
    assert.equal(goawayCode(await flood.waitFor((f) => f.type === FrameType.GOAWAY, 10_000, "GOAWAY")), ErrorCode.ENHANCE_YOUR_CALM);
    assert.equal(await limitCount("continuation_frames"), before + 1);
    assert.ok(warned("continuation_frames"));
  });

  // RFC 7541 section 4 / RFC 9113 section 6.5.2 (SETTINGS_MAX_HEADER_LIST_SIZE) and section 10.5.1.
  it("an HPACK bomb is refused with RESOURCE_EXHAUSTED after the limit, the table stays in sync, and the agent sees nothing", async () => {
    const c = await connect();
    await c.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0);
    const settings = c.frames.find((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0)!.payload;
    const advertised = new Map<number, number>();
    for (let i = 0; i < settings.length; i += 6) advertised.set(settings.readUInt16BE(i), settings.readUInt32BE(i + 2));
    assert.equal(advertised.get(0x6), MAX_HEADER_LIST_BYTES); // SETTINGS_MAX_HEADER_LIST_SIZE
    const before = agent.count(FrameType.HEADERS);
    const base = encodeHeaderList([":method", "POST", ":scheme", "http", ":path", "/pixell.test.Echo/Unary", ":authority", "r",
      "content-type", "application/grpc", "te", "trailers", "x-deployment-id", "raw"]);
    // Literal with incremental indexing, new name: "x-b" = 4000 bytes; then 16,000 references to it (index 62): ~64 MB decoded.
    const entry = Buffer.concat([Buffer.from([0x40, 3]), Buffer.from("x-b"), Buffer.from([0x7f, 4000 - 127 - 128 * Math.floor((4000 - 127) / 128) | 0x80, Math.floor((4000 - 127) / 128)]), Buffer.alloc(4000, 0x61)]);
    const bomb = Buffer.concat([base, entry, Buffer.alloc(16_000, 0xbe)]);
    const cpu0 = process.cpuUsage();
    c.send(buildFrame(FrameType.HEADERS, Flag.END_STREAM, 1, bomb.subarray(0, 16384)),
      ...[16384].map((off) => buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, bomb.subarray(off))));
    assert.equal(headerOf(await c.final(1), "grpc-status"), "8"); // RESOURCE_EXHAUSTED
    const cpu = process.cpuUsage(cpu0);
    console.log(`      HPACK bomb (${bomb.length}-byte block, ~64 MB decoded): test process CPU ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms until the refusal`);
    // The dynamic table kept the entry: one reference to it is an ordinary 4 KB header, forwarded.
    c.send(buildFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, Buffer.concat([base, Buffer.from([0xbe])])));
    assert.equal(headerOf(await c.final(3), "grpc-status"), "0");
    assert.equal(agent.count(FrameType.HEADERS) - before, 1);
    assert.ok(await limitCount("header_list_size") >= 1);
    assert.ok(warned("header_list_size"));
  });

  // RFC 9113 section 10.5.1: over the header list limit only the stream is refused. Past the limit the decoder skips
  // the strings of literals without indexing (what Node's and nghttp2's encoders send once the router's table size
  // of 0 applies); RFC 7541 section 5.2 puts each string's length prefix before its bytes.
  it("a header list over the limit whose tail is literals without indexing refuses the stream, and the connection goes on", async () => {
    const c = await connect();
    const base = encodeHeaderList([":method", "POST", ":scheme", "http", ":path", "/pixell.test.Echo/Unary", ":authority", "r",
      "content-type", "application/grpc", "te", "trailers", "x-deployment-id", "raw"]);
    // 0x90 is the static field "accept-encoding: gzip, deflate", 60 bytes decoded for 1 byte sent: 5,000 of them cross 256 KiB.
    const tail = Buffer.concat([Buffer.from([0x00, 7]), Buffer.from("x-after"), Buffer.from([5]), Buffer.from("value")]);
    c.send(buildFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, Buffer.concat([base, Buffer.alloc(5_000, 0x90), tail, tail])));
    assert.equal(headerOf(await c.final(1), "grpc-status"), "8"); // RESOURCE_EXHAUSTED, not a COMPRESSION_ERROR GOAWAY
    c.send(buildFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, base));
    assert.equal(headerOf(await c.final(3), "grpc-status"), "0");
    assert.equal(c.frames.some((f) => f.type === FrameType.GOAWAY), false);
  });

  // RFC 7541 section 4 (the decoder's limit), unit level: fields stop at the one that crosses, the table is still updated.
  it("the HPACK decoder stops building fields at the limit and still applies the block's table insertions", () => {
    const d = new HpackDecoder(4096, 1 << 20, 1000);
    const lit = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
    const block = Buffer.concat([lit("a", "x".repeat(100)), Buffer.alloc(20, 0xbe), lit("later", "y")]);
    const r = d.decode(block);
    assert.equal(r.overLimit, true);
    assert.ok(r.headers.length / 2 < 10, `${r.headers.length / 2} fields built`);
    assert.equal(d.dynamicCount, 2); // "a" and "later" both inserted
  });

  // Envoy max_outbound_control_frames; RFC 9113 section 10.5 (a peer that does not read).
  it("control replies owed to a client that does not read end its connection; a reader gets them all", async () => {
    // Stream 5 opens, so stream 3 is closed (never used): each DATA on it is answered with RST_STREAM STREAM_CLOSED.
    const head = encodeHeaderList([":method", "POST", ":scheme", "http", ":path", "/pixell.test.Echo/Unary", ":authority", "r",
      "content-type", "application/grpc", "x-deployment-id", "raw"]);
    const opener = buildFrame(FrameType.HEADERS, Flag.END_HEADERS, 5, head);
    const batch = Buffer.concat(Array.from({ length: 10_000 }, () => buildFrame(FrameType.DATA, 0, 3, Buffer.from("z"))));
    const reader = await connect();
    reader.send(opener, batch, batch);
    await eventually(() => reader.frames.filter((f) => f.type === FrameType.RST_STREAM && f.streamId === 3).length === 20_000, 15_000, "20000 RST_STREAM");
    assert.ok(!reader.frames.some((f) => f.type === FrameType.GOAWAY));

    const before = await limitCount("outbound_control_frames");
    const socket = net.connect(router.port, "127.0.0.1");
    await new Promise<void>((r) => socket.once("connect", () => r()));
    socket.pause(); // never reads
    let closed = false;
    socket.on("close", () => { closed = true; });
    socket.on("error", () => undefined);
    socket.write(Buffer.concat([CLIENT_PREFACE, buildFrame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0)), opener]));
    let sent = 0;
    while (!closed && sent < 300) {
      if (!socket.write(batch)) await new Promise<void>((r) => { const t = setTimeout(r, 200); socket.once("drain", () => { clearTimeout(t); r(); }); });
      sent++;
    }
    await eventually(() => closed, 15_000, "the router to drop the non-reader");
    console.log(`      non-reader: dropped after ${sent * 10_000} DATA frames on a closed stream (one RST_STREAM owed each)`);
    assert.equal(await limitCount("outbound_control_frames"), before + 1);
    assert.ok(warned("outbound_control_frames"));
    await steadyCall();
  });
});

/** Protocol edges of the frame relay, driven with hand-built frames from a raw socket. */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { startRouter, type RunningRouter } from "../../router";
import { buildFrame, buildWindowUpdate, CLIENT_PREFACE, ErrorCode, Flag, FrameType, Setting } from "../../router/h2/frames";
import { encodeHeaderList } from "../../router/h2/hpack";
import { silentLogger } from "../../lib/log";
import { startEchoServer, waitForCancels, type EchoServer } from "../../fixtures/echo-server";
import { eventually } from "../helpers/router-fixture";
import { headerOf, RawH2 } from "../helpers/raw-h2-client";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const hpackjs = require("hpack.js") as { compressor: { create(o: { table: { size: number } }): { write(h: Array<{ name: string; value: string; huffman: boolean }>): void; read(): Buffer | null } } };

const goawayCode = (f: { payload: Buffer }): number => f.payload.readUInt32BE(4);

describe("relay: protocol edges (frames engine)", () => {
  let agent: EchoServer;
  let router: RunningRouter;
  let dir: string;
  // An "agent" that accepts connections and never reads or answers: the router can only queue toward it.
  let blackhole: net.Server;
  const blackholeSockets = new Set<net.Socket>();
  const clients: RawH2[] = [];
  const connect = async (handshake = true, settings: Array<[number, number]> = []): Promise<RawH2> => {
    const c = await RawH2.connect(router.port, handshake, settings);
    clients.push(c);
    return c;
  };

  before(async () => {
    agent = await startEchoServer({ name: "alpha" });
    blackhole = net.createServer((s) => { blackholeSockets.add(s); s.pause(); });
    await new Promise<void>((r) => blackhole.listen(0, "127.0.0.1", r));
    const holePort = (blackhole.address() as net.AddressInfo).port;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-relay-test-"));
    fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "alpha", port: agent.port }, { id: "hole", port: holePort }] }));
    router = await startRouter({ listen: "127.0.0.1:0", registry: `file:${path.join(dir, "r.json")}`, logger: silentLogger, engine: "frames" });
  });
  afterEach(() => clients.splice(0).forEach((c) => c.close()));
  after(async () => {
    await router.close();
    await agent.stop(true);
    blackholeSockets.forEach((s) => s.destroy());
    await new Promise((r) => blackhole.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("relays a unary call sent with padding, priority and CONTINUATION frames, adding the hop count", async () => {
    const c = await connect();
    const block = encodeHeaderList([":method", "POST", ":scheme", "http", ":path", "/pixell.test.Echo/Unary", ":authority", "r",
      "content-type", "application/grpc", "te", "trailers", "x-deployment-id", "alpha", "x-caller", "raw"]);
    const cut = 20;
    // HEADERS: PADDED (pad length 3) + PRIORITY (5 bytes), first part of the block; the rest in CONTINUATION.
    const headersPayload = Buffer.concat([Buffer.from([3]), Buffer.from([0, 0, 0, 0, 15]), block.subarray(0, cut), Buffer.alloc(3)]);
    const msg = RawH2.grpcMessage(1, "hi").subarray(9);
    const dataPayload = Buffer.concat([Buffer.from([7]), msg, Buffer.alloc(7)]);
    c.send(
      buildFrame(FrameType.HEADERS, Flag.PADDED | Flag.PRIORITY, 1, headersPayload),
      buildFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(cut)),
      buildFrame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, dataPayload),
    );
    const trailers = await c.final(1);
    assert.equal(headerOf(trailers, "grpc-status"), "0");
    assert.equal(c.dataOf(1).subarray(5).toString(), "alpha:hi");
    const seen = agent.lastMetadata.get("Unary")!;
    assert.deepEqual(seen.get("x-caller"), ["raw"]);
    assert.deepEqual(seen.get("x-pixell-hops"), ["1"]);
  });

  it("re-encodes header blocks that use the client's dynamic table, and replaces an incoming hop count", async () => {
    const c = await connect();
    const comp = hpackjs.compressor.create({ table: { size: 4096 } });
    for (let i = 0; i < 3; i++) {
      const sid = 2 * i + 1;
      comp.write([[":method", "POST"], [":scheme", "http"], [":path", "/pixell.test.Echo/Unary"], [":authority", "r"], ["content-type", "application/grpc"],
        ["x-deployment-id", "alpha"], ["x-pixell-hops", "1"], ["x-caller", "indexed-caller"], ["x-round", String(i)]].map(([name, value]) => ({ name: name!, value: value!, huffman: true })));
      const parts: Buffer[] = [];
      for (let b = comp.read(); b !== null; b = comp.read()) parts.push(b);
      c.send(buildFrame(FrameType.HEADERS, Flag.END_HEADERS, sid, Buffer.concat(parts)), RawH2.grpcMessage(sid, `r${i}`));
      assert.equal(headerOf(await c.final(sid), "grpc-status"), "0");
      const seen = agent.lastMetadata.get("Unary")!;
      assert.deepEqual(seen.get("x-caller"), ["indexed-caller"]);
      assert.deepEqual(seen.get("x-round"), [String(i)]);
      assert.deepEqual(seen.get("x-pixell-hops"), ["2"]);
    }
  });

  it("answers an HTTP/1.1 request with 400 and closes", async () => {
    const s = net.connect(router.port, "127.0.0.1");
    let text = "";
    s.on("data", (b: Buffer) => { text += b.toString(); });
    s.write("GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    await new Promise((r) => s.on("close", r));
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.match(text, /gRPC/);
  });

  it("closes with GOAWAY on garbage after the preface: FRAME_SIZE_ERROR for junk, PROTOCOL_ERROR for a first frame that is not SETTINGS", async () => {
    const junk = await connect(false);
    junk.send(CLIENT_PREFACE, Buffer.from("this is not a SETTINGS frame at all"));
    assert.equal(goawayCode(await junk.waitFor((f) => f.type === FrameType.GOAWAY)), ErrorCode.FRAME_SIZE_ERROR);
    await junk.closedByPeer();
    const noSettings = await connect(false);
    noSettings.send(CLIENT_PREFACE, buildFrame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    assert.equal(goawayCode(await noSettings.waitFor((f) => f.type === FrameType.GOAWAY)), ErrorCode.PROTOCOL_ERROR);
    await noSettings.closedByPeer();
  });

  it("answers PING with a PING ACK carrying the same bytes", async () => {
    const c = await connect();
    c.send(buildFrame(FrameType.PING, 0, 0, Buffer.from("pingpong")));
    const ack = await c.waitFor((f) => f.type === FrameType.PING);
    assert.equal(ack.flags & Flag.ACK, Flag.ACK);
    assert.equal(ack.payload.toString(), "pingpong");
  });

  it("treats PUSH_PROMISE and even stream ids from a client as connection errors", async () => {
    for (const bad of [buildFrame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)), (await connect(false)).requestHeaders(2, "alpha")]) {
      const c = await connect();
      c.send(bad);
      assert.equal(goawayCode(await c.waitFor((f) => f.type === FrameType.GOAWAY)), ErrorCode.PROTOCOL_ERROR);
      await c.closedByPeer();
    }
  });

  it("answers HEADERS on a stream it already finished with RST_STREAM STREAM_CLOSED, keeping the connection", async () => {
    const c = await connect();
    c.send(c.requestHeaders(1, "alpha"), RawH2.grpcMessage(1, "one"));
    await c.final(1);
    c.send(c.requestHeaders(1, "alpha", "Unary", [], true));
    const rst = await c.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1);
    assert.equal(rst.payload.readUInt32BE(0), ErrorCode.STREAM_CLOSED);
    c.send(c.requestHeaders(3, "alpha"), RawH2.grpcMessage(3, "two"));
    assert.equal(headerOf(await c.final(3), "grpc-status"), "0");
  });

  it("refuses request headers over 64 KiB with RESOURCE_EXHAUSTED and keeps the connection usable", async () => {
    const c = await connect();
    const big = encodeHeaderList([":method", "POST", ":scheme", "http", ":path", "/pixell.test.Echo/Unary", "content-type", "application/grpc",
      "x-deployment-id", "alpha", "x-big", "b".repeat(70_000)]);
    for (let off = 0; off < big.length; off += 16384) {
      const last = off + 16384 >= big.length;
      c.send(buildFrame(off === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, (off === 0 ? Flag.END_STREAM : 0) | (last ? Flag.END_HEADERS : 0), 1, big.subarray(off, off + 16384)));
    }
    const refused = await c.final(1);
    assert.equal(headerOf(refused, "grpc-status"), "8");
    assert.match(headerOf(refused, "grpc-message")!, /exceed the router's limit/);
    c.send(c.requestHeaders(3, "alpha"), RawH2.grpcMessage(3, "after"));
    assert.equal(headerOf(await c.final(3), "grpc-status"), "0");
    assert.equal(c.dataOf(3).subarray(5).toString(), "alpha:after");
  });

  it("cancels the agent's call when the client sends RST_STREAM", async () => {
    const c = await connect();
    const before = agent.cancelled.count;
    c.send(c.requestHeaders(1, "alpha", "Hang"), RawH2.grpcMessage(1, "x"));
    await eventually(() => agent.lastMetadata.has("Hang"), 3000, "the agent to get the call");
    c.send(buildFrame(FrameType.RST_STREAM, 0, 1, Buffer.from([0, 0, 0, ErrorCode.CANCEL])));
    await waitForCancels(agent, before + 1);
  });

  it("bounds what a client that never grants window makes the router and agent buffer", async () => {
    // The client allows 1000 bytes per stream and never sends WINDOW_UPDATE; the agent offers 64 MiB.
    const c = await connect(true, [[Setting.INITIAL_WINDOW_SIZE, 1000]]);
    agent.sent.bytes = 0;
    c.send(c.requestHeaders(1, "alpha", "ServerStream"), RawH2.grpcMessage(1, `1024,${64 * 1024}`));
    await c.waitFor((f) => f.type === FrameType.DATA && f.streamId === 1);
    await new Promise((r) => setTimeout(r, 500));
    const sent = agent.sent.bytes;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(agent.sent.bytes, sent, "the agent is blocked by flow control");
    assert.ok(sent < 8 << 20, `agent wrote ${sent} bytes toward a client that granted 1000`);
    assert.ok(c.dataOf(1).length <= 1000, `router sent ${c.dataOf(1).length} bytes beyond the client's window`);
    // Granting more window lets more through.
    c.send(buildWindowUpdate(1, 200_000), buildWindowUpdate(0, 200_000));
    await eventually(() => c.dataOf(1).length > 100_000, 3000, "data after WINDOW_UPDATE");
  });

  it("bounds what the router buffers for a client that grants a huge window but stops reading its socket", async () => {
    const c = await connect(true, [[Setting.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]]);
    c.send(buildWindowUpdate(0, 2 ** 31 - 1 - 65_535));
    agent.sent.bytes = 0;
    c.send(c.requestHeaders(1, "alpha", "ServerStream"), RawH2.grpcMessage(1, `4096,${64 * 1024}`)); // 256 MiB offered
    await c.waitFor((f) => f.type === FrameType.DATA && f.streamId === 1);
    c.socket.pause();
    await new Promise((r) => setTimeout(r, 800));
    const sent = agent.sent.bytes;
    await new Promise((r) => setTimeout(r, 300));
    // Kernel socket buffers, the router's 1 MiB write high-water mark and the flow-control windows: tens of MiB at most, not 256.
    assert.ok(agent.sent.bytes - sent < 1 << 20, "the agent is blocked");
    assert.ok(sent < 48 << 20, `agent wrote ${sent} bytes toward a client that stopped reading`);
  });

  it("resets a stream whose client sends beyond the advertised window toward an agent that does not read", async () => {
    const c = await connect();
    c.send(c.requestHeaders(1, "hole", "Hang"));
    const chunk = Buffer.alloc(16384);
    for (let i = 0; i < 70; i++) c.send(buildFrame(FrameType.DATA, 0, 1, chunk)); // 1.1 MiB > 1 MiB window
    const rst = await c.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1);
    assert.equal(rst.payload.readUInt32BE(0), ErrorCode.FLOW_CONTROL_ERROR);
  });
});

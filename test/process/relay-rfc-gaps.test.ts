/** RFC 9113 rules the frame relay once departed from (issue 13 item 8), each driven with hand-built frames. */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startRouter, type RunningRouter } from "../../router";
import { buildFrame, buildSettings, buildWindowUpdate, ErrorCode, Flag, FrameType, MAX_WINDOW, Setting } from "../../router/h2/frames";
import { silentLogger } from "../../lib/log";
import { headerOf, RawH2, type RawFrame } from "../helpers/raw-h2-client";
import { startRawAgent, type RawAgent } from "../helpers/raw-h2-agent";

const code = (f: RawFrame): number => f.payload.readUInt32BE(f.type === FrameType.GOAWAY ? 4 : 0);
const PING = buildFrame(FrameType.PING, 0, 0, Buffer.from("rfcgaps!"));

describe("relay: RFC 9113 gaps (frames engine)", () => {
  let agent: RawAgent;
  let router: RunningRouter;
  let dir: string;
  const clients: RawH2[] = [];
  const connect = async (): Promise<RawH2> => {
    const c = await RawH2.connect(router.port);
    clients.push(c);
    return c;
  };
  const goaway = async (c: RawH2): Promise<number> => code(await c.waitFor((f) => f.type === FrameType.GOAWAY, 3000, "GOAWAY"));
  const rst = async (c: RawH2, sid: number): Promise<number> => code(await c.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === sid, 3000, `RST_STREAM ${sid}`));
  /** The router answered a PING sent after everything else: it has processed what came before. */
  const settled = async (c: RawH2): Promise<void> => {
    c.send(PING);
    await c.waitFor((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.equals(Buffer.from("rfcgaps!")), 3000, "PING ACK");
  };
  const works = async (c: RawH2, sid: number): Promise<void> => {
    c.send(c.requestHeaders(sid, "raw", "Unary", [], true));
    assert.equal(headerOf(await c.final(sid), "grpc-status"), "0");
  };

  before(async () => {
    agent = await startRawAgent();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-rfc-gaps-"));
    fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "raw", port: agent.port }] }));
    router = await startRouter({ listen: "127.0.0.1:0", registry: `file:${path.join(dir, "r.json")}`, logger: silentLogger, engine: "frames" });
  });
  afterEach(() => clients.splice(0).forEach((c) => c.close()));
  after(async () => {
    await router.close();
    await agent.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("RFC 9113 section 6.9.1: a stream WINDOW_UPDATE past 2^31-1 is RST_STREAM FLOW_CONTROL_ERROR; the connection goes on", async () => {
    const c = await connect();
    c.send(c.requestHeaders(1, "raw"), buildWindowUpdate(1, MAX_WINDOW));
    assert.equal(await rst(c, 1), ErrorCode.FLOW_CONTROL_ERROR);
    await works(c, 3);
  });

  it("RFC 9113 section 6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that takes a stream window past 2^31-1 is GOAWAY FLOW_CONTROL_ERROR", async () => {
    const c = await connect();
    c.send(c.requestHeaders(1, "raw"), buildWindowUpdate(1, MAX_WINDOW - 65_535), buildSettings([[Setting.INITIAL_WINDOW_SIZE, 65_536]]));
    assert.equal(await goaway(c), ErrorCode.FLOW_CONTROL_ERROR);
  });

  it("RFC 9113 section 6.9: a WINDOW_UPDATE of 0 on a stream is RST_STREAM PROTOCOL_ERROR", async () => {
    const c = await connect();
    c.send(c.requestHeaders(1, "raw"), buildWindowUpdate(1, 0));
    assert.equal(await rst(c, 1), ErrorCode.PROTOCOL_ERROR);
    await works(c, 3);
  });

  it("RFC 9113 section 6.3: PRIORITY on stream 0 is GOAWAY PROTOCOL_ERROR", async () => {
    const c = await connect();
    c.send(buildFrame(FrameType.PRIORITY, 0, 0, Buffer.from([0, 0, 0, 1, 16])));
    assert.equal(await goaway(c), ErrorCode.PROTOCOL_ERROR);
  });

  it("RFC 9113 section 6.8: GOAWAY on a stream is GOAWAY PROTOCOL_ERROR", async () => {
    const c = await connect();
    c.send(buildFrame(FrameType.GOAWAY, 0, 1, Buffer.alloc(8)));
    assert.equal(await goaway(c), ErrorCode.PROTOCOL_ERROR);
  });

  it("RFC 9113 section 5.1: WINDOW_UPDATE on an idle stream is GOAWAY PROTOCOL_ERROR", async () => {
    const c = await connect();
    c.send(buildWindowUpdate(9, 100));
    assert.equal(await goaway(c), ErrorCode.PROTOCOL_ERROR);
  });

  it("RFC 9113 section 5.1.1: a new stream id lower than one used before is GOAWAY PROTOCOL_ERROR", async () => {
    const c = await connect();
    c.send(c.requestHeaders(5, "raw", "Unary", [], true));
    await c.final(5);
    c.send(c.requestHeaders(3, "raw", "Unary", [], true));
    assert.equal(await goaway(c), ErrorCode.PROTOCOL_ERROR);
  });

  it("RFC 9113 section 5.1: DATA on a half-closed (remote) stream is RST_STREAM STREAM_CLOSED", async () => {
    const c = await connect();
    // In one write: the router reads the DATA before the agent can answer stream 1.
    c.send(Buffer.concat([c.requestHeaders(1, "raw", "Unary", [], true), RawH2.grpcMessage(1, "late", false)]));
    assert.equal(await rst(c, 1), ErrorCode.STREAM_CLOSED);
    await works(c, 3);
  });

  it("RFC 9113 sections 5.1 and 6.1: DATA on a closed stream is RST_STREAM STREAM_CLOSED; the connection goes on", async () => {
    const c = await connect();
    await works(c, 1);
    c.send(RawH2.grpcMessage(1, "after the end"));
    assert.equal(await rst(c, 1), ErrorCode.STREAM_CLOSED);
    await works(c, 3);
  });

  it("RFC 9113 section 5.1 (frames in flight): DATA on a stream the router closed while the client was still sending is dropped quietly", async () => {
    const c = await connect();
    // Unknown deployment: the router answers NOT_FOUND while the request side is still open.
    c.send(c.requestHeaders(1, "nope"));
    assert.equal(headerOf(await c.final(1), "grpc-status"), "5");
    c.send(RawH2.grpcMessage(1, "in flight"));
    await settled(c);
    assert.ok(!c.frames.some((f) => f.type === FrameType.RST_STREAM && f.streamId === 1), "no RST_STREAM for stream 1");
    await works(c, 3);
  });
});

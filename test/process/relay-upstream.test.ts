/** The frame relay's agent side, against hand-steered HTTP/2 agents (Node's http2 server, nghttp2 inside). */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { startRouter, type RunningRouter } from "../../router";
import { buildGoaway, buildSettings, ErrorCode } from "../../router/h2/frames";
import { silentLogger } from "../../lib/log";
import { md, RawClient } from "../../fixtures/echo-server";

type Behaviour = (stream: http2.ServerHttp2Stream, session: http2.ServerHttp2Session, n: number) => void;

/** An agent whose every stream is handled by `behaviour`; counts sessions and the most streams open at once. */
async function startScriptedAgent(behaviour: Behaviour, settings: http2.Settings = {}): Promise<{ port: number; sessions: number; maxOpen: number; close(): Promise<void> }> {
  const server = http2.createServer({ settings });
  const state = { port: 0, sessions: 0, maxOpen: 0, close: async () => undefined as void };
  const open = new Set<http2.ServerHttp2Stream>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let n = 0;
  server.on("session", (s) => { state.sessions++; sessions.add(s); s.on("error", () => undefined); });
  server.on("stream", (stream) => {
    open.add(stream);
    state.maxOpen = Math.max(state.maxOpen, open.size);
    stream.on("close", () => open.delete(stream));
    stream.on("error", () => undefined);
    behaviour(stream, stream.session as http2.ServerHttp2Session, n++);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.port = (server.address() as { port: number }).port;
  state.close = () => new Promise<void>((r) => { sessions.forEach((s) => s.destroy()); server.close(() => r()); });
  return state;
}

/** Reads the request, then answers one message "ok" and status 0. */
function answerOk(stream: http2.ServerHttp2Stream, delayMs = 0): void {
  stream.resume();
  stream.on("end", () => setTimeout(() => {
    if (stream.destroyed) return;
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(Buffer.from([0, 0, 0, 0, 2, 0x6f, 0x6b]));
  }, delayMs));
}

describe("relay: agent side (frames engine)", () => {
  let dir: string;
  let router: RunningRouter | undefined;
  let client: RawClient | undefined;
  let agent: Awaited<ReturnType<typeof startScriptedAgent>> | undefined;

  async function routeTo(a: typeof agent): Promise<RawClient> {
    agent = a;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-relay-up-"));
    fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "scripted", port: a!.port }] }));
    router = await startRouter({ listen: "127.0.0.1:0", registry: `file:${path.join(dir, "r.json")}`, logger: silentLogger, engine: "frames" });
    client = new RawClient(`127.0.0.1:${router.port}`);
    return client;
  }
  const call = (c: RawClient): Promise<{ body: Buffer }> => c.unary("Unary", "x", md({ "x-deployment-id": "scripted" }), { deadline: Date.now() + 3000 });
  const failure = async (p: Promise<unknown>): Promise<grpc.ServiceError> => {
    try { await p; } catch (err) { return err as grpc.ServiceError; }
    throw new Error("expected the call to fail");
  };

  afterEach(async () => {
    client?.close();
    await router?.close();
    await agent?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    client = router = agent = undefined;
  });

  it("turns an agent's RST_STREAM after response headers into UNAVAILABLE (code 14, not INTERNAL)", async () => {
    const c = await routeTo(await startScriptedAgent((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      stream.write(Buffer.from([0, 0, 0, 0, 1, 0x61]));
      setTimeout(() => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR), 20);
    }));
    const err = await failure(call(c));
    assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
    // Node's http2 ends the stream (END_STREAM without trailers) just before its RST_STREAM: either is reported.
    assert.match(err.details, /agent for deployment scripted at .* failed: (closed without a status|stream reset by the agent \(HTTP\/2 code 2\))/);
  });

  it("turns an agent's RST_STREAM before any response into UNAVAILABLE", async () => {
    const c = await routeTo(await startScriptedAgent((stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)));
    const err = await failure(call(c));
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /HTTP\/2 code 7/);
  });

  it("fails calls an agent's GOAWAY left unprocessed with UNAVAILABLE, and opens a new connection for the next call", async () => {
    // nghttp2 never sends a last-stream-id below what it received, so this agent is raw: SETTINGS, then GOAWAY(0) at the first bytes.
    let connections = 0;
    const sockets = new Set<net.Socket>();
    const raw = net.createServer((s) => {
      connections++;
      sockets.add(s);
      s.once("data", () => s.write(Buffer.concat([buildSettings([]), buildGoaway(0, ErrorCode.NO_ERROR, "maintenance")])));
      s.on("error", () => undefined);
    });
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
    const port = (raw.address() as net.AddressInfo).port;
    const c = await routeTo({ port, sessions: 0, maxOpen: 0, close: () => new Promise<void>((r) => { sockets.forEach((s) => s.destroy()); raw.close(() => r()); }) });
    for (let i = 1; i <= 2; i++) {
      const err = await failure(call(c));
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.match(err.details, /going away \(GOAWAY code 0: maintenance\) and did not process the call/);
      assert.equal(connections, i);
    }
  });

  it("lets calls below an agent's GOAWAY last-stream-id finish, then uses a new connection", async () => {
    const c = await routeTo(await startScriptedAgent((stream, session, n) => {
      if (n === 0) session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id!);
      answerOk(stream, 30);
    }));
    assert.equal((await call(c)).body.toString(), "ok");
    assert.equal((await call(c)).body.toString(), "ok");
    assert.equal(agent!.sessions, 2);
  });

  it("respects the agent's SETTINGS_MAX_CONCURRENT_STREAMS: extra calls wait, none fail", async () => {
    const c = await routeTo(await startScriptedAgent((stream) => answerOk(stream, 20), { maxConcurrentStreams: 2 }));
    await call(c); // the agent's SETTINGS have arrived after the first exchange
    const results = await Promise.all(Array.from({ length: 8 }, () => call(c)));
    assert.deepEqual(results.map((r) => r.body.toString()), Array(8).fill("ok"));
    assert.ok(agent!.maxOpen <= 2, `agent saw ${agent!.maxOpen} streams at once`);
    assert.equal(agent!.sessions, 1);
  });

  it("gives back connection window for request bytes it drops when an agent answers early (no stall after 16 MiB)", async () => {
    // The agent refuses before reading; what the router queued for it is dropped and must be credited to the client.
    const c = await routeTo(await startScriptedAgent((stream) => {
      // Read one chunk (so a stalled connection would show), stop reading so the router must hold the rest, then answer.
      stream.once("data", () => {
        stream.pause();
        setTimeout(() => stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "8", "grpc-message": "too big" }, { endStream: true }), 50);
      });
    }));
    const body = Buffer.alloc(1 << 20, 1);
    for (let i = 0; i < 24; i++) {
      const err = await failure(c.unary("Unary", body, md({ "x-deployment-id": "scripted" }), { deadline: Date.now() + 3000 }));
      assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, `call ${i}: ${err.details}`);
    }
  });

  it("fails in-flight calls promptly with UNAVAILABLE when the agent's connection drops, and reconnects after", async () => {
    let drop = true;
    const c = await routeTo(await startScriptedAgent((stream, session) => {
      if (drop) setTimeout(() => session.destroy(), 20);
      else answerOk(stream);
    }));
    const err = await failure(call(c));
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    drop = false;
    assert.equal((await call(c)).body.toString(), "ok");
  });
});
